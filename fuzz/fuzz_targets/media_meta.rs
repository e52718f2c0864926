//! What the server reads from stored bytes it did not make: the media type by magic
//! numbers, EXIF dates (JPEG, HEIF, PNG, WebP containers) and QuickTime/MP4 `mvhd`. The
//! first byte picks the type claimed for bytes whose magic says nothing. The browser
//! engine's block-by-block reading of the same bytes must agree.
#![no_main]
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 4] = ["image/jpeg", "image/heic", "video/quicktime", "video/mp4"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let declared = TYPES[usize::from(pick) % TYPES.len()];
    let (sniffed, meta) = ferry_server::fuzzing::media_meta(bytes, declared);
    // The engine, reading block by block, finds the same (or stops early and says so).
    let engine = ferry_server::fuzzing::engine_media_meta(bytes, sniffed.unwrap_or(declared));
    if engine.complete {
        assert_eq!(engine.meta.duration_ms, meta.duration_ms);
        assert_eq!(engine.meta.taken_at.is_some(), meta.created_at.is_some());
    }
    if let Some(created) = &meta.created_at {
        // Always a UTC timestamp the catalog can sort: 2024-05-01T12:00:00.000Z.
        assert!(created.len() >= 24 && created.ends_with('Z'), "{created:?}");
    }
    assert!(meta.duration_ms.is_none_or(|ms| ms >= 0));
});
