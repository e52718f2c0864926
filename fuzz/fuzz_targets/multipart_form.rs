//! `POST /api/assets` bodies: any `multipart/form-data` (the first line is the boundary,
//! the rest the body), through axum's parser and the handler's reading of its text fields.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (boundary, body) = (&data[..split], data.get(split + 1..).unwrap_or_default());
    if let Some(Ok(fields)) = ferry_server::fuzzing::multipart_form(boundary, body) {
        assert!(fields.duration_ms.is_none_or(|ms| ms >= 0));
        for text in [
            &fields.filename,
            &fields.device_asset_id,
            &fields.device_id,
            &fields.album,
        ] {
            if let Some(text) = text {
                assert!(
                    !text.is_empty() && text.len() <= 4096 && text.trim() == text,
                    "{text:?}"
                );
            }
        }
    }
});
