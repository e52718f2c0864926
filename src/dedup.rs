//! The server's bulk checksum check (`POST /api/assets/bulk-upload-check`): does this user
//! already have these bytes? The server answers only within the asking user's library.

use serde::Deserialize;

/// Path of the check under the API root.
pub const PATH: &str = "/assets/bulk-upload-check";

/// One asset to check: the catalog id and the SHA-256 hex of its bytes. The request
/// bodies are written as JavaScript objects by the engine (`src/web/http.rs`, `ToJs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub checksum: String,
}

/// The request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRequest {
    pub assets: Vec<Candidate>,
}

/// The server's verdict on one candidate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub id: String,
    /// `accept`: upload it. `reject`: don't (with `reason`, e.g. `duplicate`).
    pub action: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The existing asset's id when the reason is `duplicate`.
    #[serde(default)]
    pub asset_id: Option<String>,
}

/// The response body.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckResponse {
    pub results: Vec<Verdict>,
}

impl CheckResponse {
    /// The server's asset id if candidate `id` is already in the user's library.
    pub fn existing_asset(&self, id: &str) -> Option<&str> {
        self.results
            .iter()
            .find(|v| {
                v.id == id && v.action == "reject" && v.reason.as_deref() == Some("duplicate")
            })
            .and_then(|v| v.asset_id.as_deref())
    }
}

/// Path of the size check under the API root (`POST /api/assets/sizes`): which of these
/// byte sizes some asset of the user has. A file whose size no asset has cannot be a
/// duplicate, so it may start uploading before its hash is known.
pub const SIZES_PATH: &str = "/assets/sizes";

/// The size check's request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SizesRequest {
    pub sizes: Vec<u64>,
}

/// The size check's response body: the subset of the asked sizes the user has.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SizesResponse {
    pub known: Vec<u64>,
}

/// Path of the device check under the API root (`POST /api/assets/exist`): which of
/// this device's files (by `deviceAssetId`) it backed up before. A match needs no hash.
pub const EXIST_PATH: &str = "/assets/exist";

/// The device check's request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistRequest {
    pub device_asset_ids: Vec<String>,
    pub device_id: String,
}

/// The device check's response body: those of the asked ids the server has.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExistResponse {
    pub existing_ids: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_check_answer_reads() {
        let res: ExistResponse =
            serde_json::from_value(serde_json::json!({"existingIds": ["x"]})).unwrap();
        assert_eq!(res.existing_ids, ["x"]);
    }

    #[test]
    fn duplicates_are_found_and_accepts_are_not() {
        let res: CheckResponse = serde_json::from_value(serde_json::json!({"results": [
            {"id": "a", "action": "accept"},
            {"id": "b", "action": "reject", "reason": "duplicate", "assetId": "srv-1"},
            {"id": "c", "action": "reject", "reason": "unsupported-format"}
        ]}))
        .unwrap();
        assert_eq!(res.existing_asset("a"), None);
        assert_eq!(res.existing_asset("b"), Some("srv-1"));
        assert_eq!(res.existing_asset("c"), None);
        assert_eq!(res.existing_asset("missing"), None);
    }
}
