//! Plain JavaScript objects, read and written field by field: `Backup.open`'s options,
//! the settings and album rules, the server's JSON answers and the catalog's asset records
//! are read ([`FromJs`]); the engine's progress, its capabilities and the API's request
//! bodies are written ([`ToJs`]).
//!
//! These were read and written by serde-wasm-bindgen. Its deserializer, with serde's
//! generic code for each type read, was 3.8 KB of the engine's gzipped wasm (measured on
//! 2026-12-07, once the asset records no longer used it: 165,314 B to 161,541 B), and its
//! serializer 2.3 KB more (163,597 B to 161,262 B), for objects of a few flat fields each.

use std::fmt;

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// A field that is missing (and may not be) or of the wrong kind.
#[derive(Debug)]
pub struct WrongField(String);

impl fmt::Display for WrongField {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "`{}` is missing or of the wrong kind", self.0)
    }
}

/// A value read from a JavaScript object.
pub trait FromJs: Sized {
    fn from_js(value: &JsValue) -> Result<Self, WrongField>;
}

/// A value written as a plain JavaScript object (an absent field is `null`, as in JSON).
pub trait ToJs {
    fn to_js(&self) -> JsValue;
}

/// A new plain object with `fields`, `(name, value)`, in that order.
pub fn object(fields: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property of a plain new object cannot throw.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object.into()
}

/// `value`, or `null` when there is none.
pub fn or_null<T: Into<JsValue>>(value: Option<T>) -> JsValue {
    value.map_or(JsValue::NULL, Into::into)
}

/// A size or a count as a JavaScript number (a plain `u64` would become a BigInt).
pub fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// An array of `items`.
pub fn array(items: impl IntoIterator<Item = JsValue>) -> JsValue {
    items.into_iter().collect::<Array>().into()
}

/// The fields of one object. A field name is a `&str`, or a `JsValue` string made once
/// for names read very often (see `asset_record`). Absent is `undefined` or `null`.
pub struct Fields<'a>(pub &'a JsValue);

/// A field's name.
pub trait Name {
    fn js(&self) -> JsValue;
    fn wrong(&self) -> WrongField;
}

impl Name for &str {
    fn js(&self) -> JsValue {
        JsValue::from_str(self)
    }
    fn wrong(&self) -> WrongField {
        WrongField((*self).to_string())
    }
}

impl Name for JsValue {
    fn js(&self) -> JsValue {
        self.clone()
    }
    fn wrong(&self) -> WrongField {
        WrongField(self.as_string().unwrap_or_default())
    }
}

impl<'a> Fields<'a> {
    /// The fields of `value`, which must be an object (`what` names it otherwise).
    pub fn of(value: &'a JsValue, what: &str) -> Result<Self, WrongField> {
        if value.is_object() {
            Ok(Self(value))
        } else {
            Err(WrongField(what.to_string()))
        }
    }

    /// The field's value, `undefined` if there is none (or this is not an object).
    pub fn value(&self, name: &impl Name) -> JsValue {
        Reflect::get(self.0, &name.js()).unwrap_or(JsValue::UNDEFINED)
    }

    /// `None` if the field is absent, else `read` of its value.
    fn optional<T>(
        &self,
        name: &impl Name,
        read: impl FnOnce(&JsValue) -> Option<T>,
    ) -> Result<Option<T>, WrongField> {
        let value = self.value(name);
        if value.is_null_or_undefined() {
            return Ok(None);
        }
        read(&value).map(Some).ok_or_else(|| name.wrong())
    }

    pub fn optional_text(&self, name: &impl Name) -> Result<Option<String>, WrongField> {
        self.optional(name, JsValue::as_string)
    }

    pub fn text(&self, name: &impl Name) -> Result<String, WrongField> {
        self.optional_text(name)?.ok_or_else(|| name.wrong())
    }

    pub fn optional_number(&self, name: &impl Name) -> Result<Option<f64>, WrongField> {
        self.optional(name, JsValue::as_f64)
    }

    pub fn number(&self, name: &impl Name) -> Result<f64, WrongField> {
        self.optional_number(name)?.ok_or_else(|| name.wrong())
    }

    /// A whole number that JavaScript holds exactly.
    pub fn optional_whole(&self, name: &impl Name) -> Result<Option<i64>, WrongField> {
        self.optional(name, |value| whole(value.as_f64()?))
    }

    /// A whole number from 0 up that JavaScript holds exactly: a size or a count.
    pub fn optional_count(&self, name: &impl Name) -> Result<Option<u64>, WrongField> {
        self.optional(name, |value| u64::try_from(whole(value.as_f64()?)?).ok())
    }

    pub fn count(&self, name: &impl Name) -> Result<u64, WrongField> {
        self.optional_count(name)?.ok_or_else(|| name.wrong())
    }

    pub fn optional_bool(&self, name: &impl Name) -> Result<Option<bool>, WrongField> {
        self.optional(name, JsValue::as_bool)
    }

    /// An array, each of whose items `read` reads.
    pub fn optional_list<T>(
        &self,
        name: &impl Name,
        read: impl Fn(&JsValue) -> Option<T>,
    ) -> Result<Option<Vec<T>>, WrongField> {
        self.optional(name, |value| {
            value
                .dyn_ref::<Array>()?
                .iter()
                .map(|item| read(&item))
                .collect()
        })
    }

    /// An object read by its own [`FromJs`].
    pub fn optional_object<T: FromJs>(&self, name: &impl Name) -> Result<Option<T>, WrongField> {
        let value = self.value(name);
        if value.is_null_or_undefined() {
            return Ok(None);
        }
        T::from_js(&value).map(Some)
    }
}

/// `n` if it is a whole number JavaScript holds exactly (as serde-wasm-bindgen read them).
fn whole(n: f64) -> Option<i64> {
    const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
    (n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER).then_some(n as i64)
}

/// A count read from an array item (see [`Fields::optional_list`]).
pub fn count(value: &JsValue) -> Option<u64> {
    u64::try_from(whole(value.as_f64()?)?).ok()
}
