//! The server's `Upload-Metadata` parser, on any header value a client can send.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(upload)) = ferry_server::fuzzing::upload_metadata(data) {
        if let Some(c) = &upload.declared_checksum {
            assert!(c.len() == 64 && c.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        }
        assert!(upload.duration_ms.is_none_or(|ms| ms >= 0));
    }
});
