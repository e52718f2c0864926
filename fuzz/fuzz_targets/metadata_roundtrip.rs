//! What the engine encodes, the server reads back unchanged: any file name, type, album
//! and modification time a browser can report must make a creation the server accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let modified = i64::from_le_bytes(data[..8].try_into().unwrap());
    let text = String::from_utf8_lossy(&data[8..]);
    let mut parts = text.splitn(3, '\u{0}');
    let name = parts.next().unwrap_or_default();
    let mime = parts.next().unwrap_or_default();
    let id = parts.next().unwrap_or_default();
    let modified = modified.to_string();
    let checksum = "ab".repeat(32);
    let encoded = ferry::tus::encode_metadata(&[
        ("filename", name),
        ("filetype", mime),
        ("checksum", &checksum),
        ("fileModifiedAt", &modified),
        ("deviceAssetId", id),
    ]);
    let upload = ferry_server::fuzzing::upload_metadata(encoded.as_bytes())
        .expect("the engine's metadata is a valid header value")
        .unwrap_or_else(|e| panic!("the server refused the engine's metadata: {e}"));
    let given = |s: &str| (!s.is_empty()).then(|| s.to_string());
    assert_eq!(upload.filename, given(name));
    assert_eq!(upload.filetype, given(mime));
    assert_eq!(upload.device_asset_id, given(id));
    assert_eq!(upload.declared_checksum.as_deref(), Some(checksum.as_str()));
});
