//! The request parsers on hostile input, natively: every input in `fuzz/corpus/` (the
//! cargo-fuzz seeds, and each crash the fuzzers found, kept as a regression) goes through
//! them without a panic, and the cases the fuzzers found are pinned here by name.

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ferry_server::fuzzing;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "{} has seeds", dir.display());
    inputs
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_corpus_input_parses_or_is_refused_without_a_panic() {
    for input in corpus("upload_metadata") {
        let _ = fuzzing::upload_metadata(&input);
    }
    for input in corpus("tus_headers") {
        let _ = fuzzing::number(&input);
        let _ = fuzzing::upload_checksum(&fuzzing::headers(&input));
    }
    for input in corpus("rufh_fields") {
        let _ = fuzzing::rufh_fields(&fuzzing::headers(&input));
    }
}

#[test]
fn the_seeds_parse_as_a_client_meant_them() {
    let engine = fuzzing::upload_metadata(&seed("upload_metadata", "engine"))
        .unwrap()
        .unwrap();
    assert_eq!(engine.filename.as_deref(), Some("IMG_0001.jpg"));
    assert_eq!(
        engine.file_modified_at.as_deref(),
        Some("2024-05-01T12:00:00.123Z")
    );
    let fields = fuzzing::rufh_fields(&fuzzing::headers(&seed("rufh_fields", "create")));
    assert_eq!(fields.version, Ok(Some(8)));
    assert_eq!(fields.complete, Ok(false));
    assert_eq!(fields.length, Ok(Some(100)));
    assert_eq!(fields.repr_digest, Ok(Some("00".repeat(32))));
    assert_eq!(fields.filename.as_deref(), Some("a b.jpg"));
}

fn engine_metadata(modified: i64) -> String {
    let b = |s: &str| STANDARD.encode(s);
    format!(
        "filename {},filetype {},checksum {},fileModifiedAt {},deviceAssetId {}",
        b("IMG_1.jpg"),
        b("image/jpeg"),
        b(&"ab".repeat(32)),
        b(&modified.to_string()),
        b("id")
    )
}

/// Found by `metadata_roundtrip`: the engine sends a file's `lastModified` as it is, and a
/// time outside the years 0 to 9999 (a clock or a file system gone wrong, or a `File` made
/// by script) made the server refuse the upload with 400, so the photo was never backed up.
#[test]
fn a_modification_time_out_of_range_is_dropped_not_refused() {
    for absurd in [i64::MIN, -62_167_219_200_001, 253_402_300_800_000, i64::MAX] {
        let upload = fuzzing::upload_metadata(engine_metadata(absurd).as_bytes())
            .unwrap()
            .unwrap_or_else(|e| panic!("{absurd}: {e}"));
        assert_eq!(upload.file_modified_at, None, "{absurd}");
        assert_eq!(upload.filename.as_deref(), Some("IMG_1.jpg"));
    }
    let epoch = fuzzing::upload_metadata(engine_metadata(0).as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(
        epoch.file_modified_at.as_deref(),
        Some("1970-01-01T00:00:00.000Z")
    );
    // Text that is no time at all is still a client error.
    let b = STANDARD.encode("yesterday");
    let refused = fuzzing::upload_metadata(format!("fileModifiedAt {b}").as_bytes()).unwrap();
    assert!(refused.is_err());
}

/// The boundary line and the body of a `multipart_form` corpus input.
fn form(input: &[u8]) -> (&[u8], &[u8]) {
    let split = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    (&input[..split], input.get(split + 1..).unwrap_or_default())
}

#[test]
fn every_multipart_corpus_input_is_read_or_refused_without_a_panic() {
    for input in corpus("multipart_form") {
        let (boundary, body) = form(&input);
        let _ = fuzzing::multipart_form(boundary, body);
    }
}

#[test]
fn a_multipart_form_is_read_as_an_immich_client_meant_it() {
    let input = seed("multipart_form", "immich");
    let (boundary, body) = form(&input);
    let fields = fuzzing::multipart_form(boundary, body).unwrap().unwrap();
    assert_eq!(fields.device_asset_id.as_deref(), Some("IMG_0001-1234"));
    assert_eq!(
        fields.file_created_at.as_deref(),
        Some("2024-05-01T12:00:00.000Z")
    );
    assert!(fields.is_favorite);
    assert_eq!(fields.duration_ms, Some(5000));
    assert_eq!(fields.album.as_deref(), Some("Trip"));
    let input = seed("multipart_form", "bad-values");
    let (boundary, body) = form(&input);
    let refused = fuzzing::multipart_form(boundary, body)
        .unwrap()
        .unwrap_err();
    assert!(refused.contains("isFavorite"), "{refused}");
    let input = seed("multipart_form", "unterminated");
    let (boundary, body) = form(&input);
    assert!(fuzzing::multipart_form(boundary, body).unwrap().is_err());
}

#[test]
fn every_media_corpus_input_is_read_without_a_panic() {
    for input in corpus("media_meta") {
        if let Some((_, bytes)) = input.split_first() {
            for declared in ["image/jpeg", "image/heic", "video/quicktime", "video/mp4"] {
                let _ = fuzzing::media_meta(bytes, declared);
            }
        }
    }
}

#[test]
fn media_metadata_is_read_where_sound_and_dropped_where_absurd() {
    let meta = |name: &str| {
        let input = seed("media_meta", name);
        fuzzing::media_meta(&input[1..], "application/octet-stream")
    };
    let (mime, jpeg) = meta("exif-jpeg");
    assert_eq!(mime, Some("image/jpeg"));
    assert_eq!(jpeg.created_at.as_deref(), Some("2024-05-01T10:00:00.000Z"));
    // An offset no clock has is dropped, the date kept (as UTC).
    let (_, offset) = meta("exif-absurd-offset");
    assert_eq!(
        offset.created_at.as_deref(),
        Some("2024-05-01T12:00:00.000Z")
    );
    assert_eq!(meta("exif-absurd-date").1.created_at, None);
    let (mime, movie) = meta("quicktime");
    assert_eq!(mime, Some("video/quicktime"));
    assert_eq!(
        movie.created_at.as_deref(),
        Some("2024-05-01T12:00:00.000Z")
    );
    assert_eq!(movie.duration_ms, Some(90_000));
    // A duration of u64::MAX is "unknown", not 584 million years.
    assert_eq!(meta("mp4-v1").1.duration_ms, None);
    assert_eq!(meta("heic-truncated").1, Default::default());
}

/// What the browser engine reads block by block (`media_meta::Probe`, as it reads a `Blob`)
/// is what the server reads from the stored file, and what it would send as
/// `fileCreatedAt` the server accepts as that same moment: a ferry client's date and the
/// server's own reading never disagree.
#[test]
fn the_engine_and_the_server_read_the_same_metadata_from_every_corpus_input() {
    for input in corpus("media_meta") {
        let Some((_, bytes)) = input.split_first() else {
            continue;
        };
        for declared in [
            "image/jpeg",
            "image/heic",
            "video/quicktime",
            "video/mp4",
            "",
        ] {
            let (sniffed, server) = fuzzing::media_meta(bytes, declared);
            let client = fuzzing::engine_media_meta(bytes, sniffed.unwrap_or(declared));
            assert!(client.complete, "{declared}: a corpus input is small");
            assert_eq!(client.sniffed_mime, sniffed);
            assert_eq!(client.meta.duration_ms, server.duration_ms);
            let sent = client.meta.taken_at.map(|t| t.to_rfc3339());
            let read_back = sent.as_deref().map(|s| {
                let header = format!("fileCreatedAt {}", STANDARD.encode(s));
                fuzzing::upload_metadata(header.as_bytes())
                    .unwrap()
                    .unwrap_or_else(|e| panic!("{s}: {e}"))
                    .file_created_at
            });
            assert_eq!(
                read_back.flatten(),
                server.created_at,
                "{declared}: {sent:?}"
            );
        }
    }
}
