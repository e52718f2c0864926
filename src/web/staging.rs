//! Which picked files get a kept copy in IndexedDB: the staging area a service worker
//! backs up from after the page closes, and a reload resumes from without picking the
//! files again. A file not kept still uploads while the page is open; after it closes,
//! it asks to be added again.
//!
//! Copies are limited three ways: by file size, by bytes (the origin's storage stays
//! within a budget and half its quota) and by count (`KEEP_FILES_AT_ONCE`). A file past
//! the limits when it is added waits in `Staging`, and is kept later, while the page is
//! still open, once the copies of backed-up files are forgotten and leave room.

use std::cell::RefCell;
use std::collections::VecDeque;

use js_sys::{Function, Promise};
use wasm_bindgen::JsCast;
use web_sys::File;

use super::catalog::{Catalog, CatalogError};

/// Files kept at once, at most, whatever their size. Chromium makes every read-write
/// transaction of an origin's IndexedDB (any of its databases) pay for the blobs the
/// origin stores. Measured in Chromium 148: 0.7 ms a transaction with none kept, 3 ms with
/// 2,000, 21 ms with 10,000. The engine writes a few times per file, so keeping all of a
/// 10,000-file pick made its backup quadratic (CI: 1,971 files in 10 minutes). A backup of
/// 2,000 small files took 109 s keeping them all, 81 s keeping 1,000, 54 s keeping 200 and
/// 43 s keeping none.
pub const KEEP_FILES_AT_ONCE: u32 = 200;

/// What `Backup.open` was told to keep.
#[derive(Clone, Copy)]
pub struct KeepLimits {
    /// Files up to this size are kept.
    pub up_to: u64,
    /// Kept files never make the origin's storage exceed this.
    pub budget: u64,
}

/// The room for kept copies left now, taken file by file.
pub struct Room {
    up_to: u64,
    stored: u64,
    budget: u64,
    files: u32,
}

impl Room {
    /// Takes room for a file of `size`, if it is small enough and fits.
    pub fn take(&mut self, size: u64) -> bool {
        let fits = size <= self.up_to && self.stored + size <= self.budget && self.files > 0;
        if fits {
            self.stored += size;
            self.files -= 1;
        }
        fits
    }
}

/// The live files of this page that wait for room to be kept, oldest first.
pub struct Staging {
    limits: KeepLimits,
    waiting: RefCell<VecDeque<String>>,
}

impl Staging {
    pub fn new(limits: KeepLimits) -> Self {
        Self {
            limits,
            waiting: RefCell::default(),
        }
    }

    /// The room left now. Staging stops once the origin's storage would pass the budget
    /// or half the quota; so what one pass stages is also never more than half of the
    /// quota that was free (usage + staged <= quota / 2 implies staged <= (quota - usage) / 2).
    pub async fn room(&self, catalog: &Catalog) -> Result<Room, CatalogError> {
        let (stored, quota) = storage_estimate().await;
        let kept = catalog.kept_count().await?;
        Ok(Room {
            up_to: self.limits.up_to,
            stored,
            budget: self.limits.budget.min(quota / 2),
            files: KEEP_FILES_AT_ONCE.saturating_sub(kept),
        })
    }

    /// Asset `id`, of `size` bytes, was added without a copy: it is kept later if it can
    /// ever be.
    pub fn wait_for_room(&self, id: &str, size: u64) {
        if size <= self.limits.up_to {
            self.waiting.borrow_mut().push_back(id.to_string());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.borrow().is_empty()
    }

    /// The waiting files that fit in `room`, taken off the queue. `still_to_back_up`
    /// gives a waiting asset's file, or `None` for one settled or cancelled meanwhile,
    /// which leaves the queue too.
    pub fn take_fitting(
        &self,
        room: &mut Room,
        still_to_back_up: impl Fn(&str) -> Option<File>,
    ) -> Vec<(String, File)> {
        let mut waiting = self.waiting.borrow_mut();
        let mut chosen = Vec::new();
        while let Some(id) = waiting.front() {
            match still_to_back_up(id) {
                None => {}
                Some(file) if room.take(file.size() as u64) => chosen.push((id.clone(), file)),
                // Kept in order: the next file waits for more room.
                Some(_) => break,
            }
            waiting.pop_front();
        }
        chosen
    }
}

/// Bytes this origin stores now and may store, from `navigator.storage.estimate()`.
async fn storage_estimate() -> (u64, u64) {
    let estimate = async {
        let storage = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
            .and_then(|n| js_sys::Reflect::get(&n, &"storage".into()))
            .ok()?;
        let f: Function = js_sys::Reflect::get(&storage, &"estimate".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let promise: Promise = f.call0(&storage).ok()?.dyn_into().ok()?;
        let result = wasm_bindgen_futures::JsFuture::from(promise).await.ok()?;
        let number = |name: &str| js_sys::Reflect::get(&result, &name.into()).ok()?.as_f64();
        Some((number("usage")? as u64, number("quota")? as u64))
    };
    estimate.await.unwrap_or((0, 0))
}
