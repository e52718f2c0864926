//! The server's RUFH structured fields (`Upload-Complete`, `Upload-Draft-Interop-Version`,
//! `Repr-Digest`, `Content-Disposition`, lengths and offsets), on any header lines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let headers = ferry_server::fuzzing::headers(data);
    let fields = ferry_server::fuzzing::rufh_fields(&headers);
    if let Ok(Some(hex)) = &fields.repr_digest {
        assert_eq!(hex.len(), 64, "a SHA-256 is 32 bytes: {hex}");
    }
    if let Some(name) = &fields.filename {
        assert!(!name.is_empty());
    }
});
