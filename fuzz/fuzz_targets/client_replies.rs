//! The engine's reading of what a server answers: tus and RUFH replies to creation, append
//! and HEAD, OPTIONS discovery, and the dedup check's JSON. A hostile or broken server may
//! send anything; the engine must never accept an offset outside what it sent.
#![no_main]
use ferry::dedup::CheckResponse;
use ferry::rufh;
use ferry::tus::{self, Reply, ServerSupport};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let status = u16::from_le_bytes([data[0], data[1]]);
    let a = u64::from_le_bytes(data[2..10].try_into().unwrap());
    let b = u64::from_le_bytes(data[10..18].try_into().unwrap());
    let (from, to) = (a.min(b), a.max(b));
    let text = String::from_utf8_lossy(&data[18..]);
    let mut lines = text.split('\n');
    let mut next = || lines.next().map(str::to_string);
    let reply = Reply {
        status,
        location: next(),
        upload_offset: next(),
        asset_id: next(),
        error_code: next(),
    };

    if let Ok(created) = tus::created(&reply, to) {
        assert!(created.offset <= to && !created.location.trim().is_empty());
    }
    if let Ok(offset) = tus::chunk_accepted(&reply, from, to) {
        assert!((from..=to).contains(&offset));
    }
    if let Ok(offset) = tus::current_offset(&reply, to) {
        assert!(offset <= to);
    }
    for whole in [false, true] {
        if let Ok(created) = rufh::created(&reply, to, whole) {
            assert!(created.offset <= to);
        }
        if let Ok(offset) = rufh::appended(&reply, from, to, whole) {
            assert!((from..=to).contains(&offset));
        }
    }
    if let Ok(offset) = rufh::current_offset(&reply, to) {
        assert!(offset <= to);
    }

    let rest: Vec<String> = lines.map(str::to_string).collect();
    let header = |name: &str| {
        rest.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    let _ = ServerSupport::from_options(status, header);
    if let Ok(check) = serde_json::from_str::<CheckResponse>(&rest.join("\n")) {
        for verdict in &check.results {
            let _ = check.existing_asset(&verdict.id);
        }
    }
});
