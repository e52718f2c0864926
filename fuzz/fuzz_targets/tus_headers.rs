//! The server's tus number headers (`Upload-Offset`, `Upload-Length`) and
//! `Upload-Checksum`, on any header lines.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(Some(n))) = ferry_server::fuzzing::number(data) {
        assert!(n <= i64::MAX as u64, "{n} does not fit the catalog");
        let text = std::str::from_utf8(data).unwrap();
        assert!(text.bytes().all(|b| b.is_ascii_digit()), "{text:?} read as {n}");
    }
    let headers = ferry_server::fuzzing::headers(data);
    let _ = ferry_server::fuzzing::upload_checksum(&headers);
});
