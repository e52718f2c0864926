use super::*;

const MIB: u64 = 1024 * 1024;

fn created(url: &str, offset: u64) -> Result<(String, Created), Failure> {
    Ok((
        url.to_string(),
        Created {
            location: url.to_string(),
            offset,
            asset_id: None,
        },
    ))
}

fn status(code: u16) -> Failure {
    TusError::Status {
        status: code,
        class: ErrorClass::of_status(code),
    }
    .into()
}

fn send(url: &str, range: Range<u64>) -> Action {
    Action::Send {
        url: url.into(),
        range,
    }
}

/// An upload of 20 MiB in 8 MiB chunks, created at `/u/1`.
fn started() -> Upload {
    let mut up = Upload::new(20 * MIB, 8 * MIB, RetryPolicy::default());
    assert_eq!(up.next(), Action::Create);
    up.created(created("/u/1", 0), 0.5);
    up
}

#[test]
fn sends_every_chunk_in_order_then_finishes_with_the_asset_id() {
    let mut up = started();
    assert_eq!(up.next(), send("/u/1", 0..8 * MIB));
    up.chunk_sent(Ok((8 * MIB, None)), 3_000.0, 0.5);
    assert_eq!(up.next(), send("/u/1", 8 * MIB..16 * MIB));
    up.chunk_sent(Ok((16 * MIB, None)), 3_000.0, 0.5);
    assert_eq!(up.next(), send("/u/1", 16 * MIB..20 * MIB));
    up.chunk_sent(Ok((20 * MIB, Some("a1".into()))), 1_000.0, 0.5);
    assert_eq!(
        up.next(),
        Action::Finished {
            asset_id: Some("a1".into())
        }
    );
}

#[test]
fn empty_file_finishes_at_creation() {
    let mut up = Upload::new(0, 8 * MIB, RetryPolicy::default());
    up.created(
        Ok((
            "/u/0".into(),
            Created {
                location: "/u/0".into(),
                offset: 0,
                asset_id: Some("e".into()),
            },
        )),
        0.0,
    );
    assert_eq!(
        up.next(),
        Action::Finished {
            asset_id: Some("e".into())
        }
    );
}

#[test]
fn network_error_backs_off_then_asks_the_server_where_to_continue() {
    let mut up = started();
    up.chunk_sent(Err(Failure::network("reset")), 0.0, 0.5);
    assert_eq!(up.next(), Action::Wait { ms: 500.0 });
    up.waited();
    assert_eq!(up.next(), Action::AskOffset { url: "/u/1".into() });
    // The server had stored part of the lost chunk: continue from there, resend nothing.
    up.offset_known(Ok(3 * MIB), 0.5);
    assert_eq!(up.next(), send("/u/1", 3 * MIB..11 * MIB));
}

#[test]
fn overloaded_server_is_transient() {
    for code in [500, 502, 503, 423, 429] {
        let mut up = started();
        up.chunk_sent(Err(status(code)), 0.0, 1.0);
        assert!(matches!(up.next(), Action::Wait { .. }), "status {code}");
    }
}

#[test]
fn backoff_grows_with_consecutive_failures_and_resets_on_success() {
    let mut up = started();
    let mut waits = Vec::new();
    for _ in 0..3 {
        up.chunk_sent(Err(status(503)), 0.0, 1.0);
        if let Action::Wait { ms } = up.next() {
            waits.push(ms);
        }
        up.waited();
        up.offset_known(Ok(0), 1.0);
    }
    assert_eq!(waits, vec![1_000.0, 2_000.0, 4_000.0]);
    up.chunk_sent(Ok((8 * MIB, None)), 3_000.0, 1.0);
    up.chunk_sent(Err(status(503)), 0.0, 1.0);
    assert_eq!(up.next(), Action::Wait { ms: 1_000.0 });
}

#[test]
fn offset_mismatch_resyncs_without_waiting() {
    let mut up = started();
    up.chunk_sent(Err(status(409)), 0.0, 0.5);
    assert_eq!(up.next(), Action::AskOffset { url: "/u/1".into() });
    up.offset_known(Ok(8 * MIB), 0.5);
    assert_eq!(up.next(), send("/u/1", 8 * MIB..16 * MIB));
}

#[test]
fn checksum_mismatch_resends_the_chunk_then_fails_after_repeats() {
    let mut up = started();
    for _ in 0..2 {
        up.chunk_sent(Err(status(460)), 0.0, 0.5);
        assert_eq!(up.next(), Action::AskOffset { url: "/u/1".into() });
        up.offset_known(Ok(0), 0.5);
        assert_eq!(up.next(), send("/u/1", 0..8 * MIB));
    }
    up.chunk_sent(Err(status(460)), 0.0, 0.5);
    assert!(
        matches!(up.next(), Action::Fail { code: ErrorCode::Checksum, reason } if reason.contains("different bytes"))
    );
}

#[test]
fn expired_upload_is_created_again_from_the_first_byte() {
    for code in [404, 410] {
        let mut up = started();
        up.chunk_sent(Ok((8 * MIB, None)), 3_000.0, 0.5);
        up.chunk_sent(Err(status(code)), 0.0, 0.5);
        assert_eq!(up.next(), Action::Create, "status {code}");
        up.created(created("/u/2", 0), 0.5);
        assert_eq!(up.next(), send("/u/2", 0..8 * MIB));
    }
}

#[test]
fn too_big_halves_the_chunk_down_to_the_minimum_then_fails() {
    let mut up = started();
    up.chunk_sent(Err(status(413)), 0.0, 0.5);
    up.offset_known(Ok(0), 0.5);
    assert_eq!(up.next(), send("/u/1", 0..4 * MIB));
    for _ in 0..2 {
        up.chunk_sent(Err(status(413)), 0.0, 0.5);
        up.offset_known(Ok(0), 0.5);
    }
    assert_eq!(up.next(), send("/u/1", 0..MIB));
    up.chunk_sent(Err(status(413)), 0.0, 0.5);
    assert!(matches!(
        up.next(),
        Action::Fail {
            code: ErrorCode::TooLarge,
            ..
        }
    ));
}

#[test]
fn auth_and_quota_stop_everything() {
    for (code, class) in [
        (401, ErrorClass::Auth),
        (403, ErrorClass::Auth),
        (507, ErrorClass::StorageFull),
    ] {
        let mut up = started();
        up.chunk_sent(Err(status(code)), 0.0, 0.5);
        assert_eq!(up.next(), Action::Halt { class });
    }
    let mut up = Upload::new(MIB, MIB, RetryPolicy::default());
    up.created(Err(status(401)), 0.5);
    assert_eq!(
        up.next(),
        Action::Halt {
            class: ErrorClass::Auth
        }
    );
}

#[test]
fn a_refused_file_fails_with_the_servers_reason() {
    let mut up = started();
    up.chunk_sent(Err(status(400)), 0.0, 0.5);
    assert!(
        matches!(up.next(), Action::Fail { code: ErrorCode::Rejected, reason } if reason.contains("HTTP 400"))
    );
}

#[test]
fn repeated_failures_end_in_failed_with_the_last_reason() {
    let mut up = Upload::new(MIB, MIB, RetryPolicy::default());
    for _ in 0..RetryPolicy::default().max_attempts {
        assert!(!matches!(up.next(), Action::Fail { .. }));
        up.waited();
        up.created(Err(Failure::network("offline")), 0.5);
    }
    assert!(
        matches!(up.next(), Action::Fail { code: ErrorCode::Network, reason } if reason.contains("offline"))
    );
}

#[test]
fn resuming_after_a_reload_asks_the_server_first() {
    let mut up = Upload::resume(
        20 * MIB,
        Some("/u/1".into()),
        8 * MIB,
        8 * MIB,
        RetryPolicy::default(),
    );
    assert_eq!(up.next(), Action::AskOffset { url: "/u/1".into() });
    // The chunk in flight when the tab died had reached the server.
    up.offset_known(Ok(16 * MIB), 0.5);
    assert_eq!(up.next(), send("/u/1", 16 * MIB..20 * MIB));

    let fresh = Upload::resume(20 * MIB, None, 8 * MIB, 8 * MIB, RetryPolicy::default());
    assert_eq!(fresh.next(), Action::Create, "never created: start over");
}

#[test]
fn resuming_a_completed_upload_finishes() {
    let mut up = Upload::resume(MIB, Some("/u/1".into()), 0, MIB, RetryPolicy::default());
    up.offset_known(Ok(MIB), 0.5);
    assert_eq!(up.next(), Action::Finished { asset_id: None });
}

#[test]
fn chunk_size_adapts_to_the_link_within_bounds() {
    let mut up = Upload::new(1024 * MIB, 8 * MIB, RetryPolicy::default());
    up.created(created("/u", 0), 0.5);
    up.chunk_sent(Ok((8 * MIB, None)), 500.0, 0.5);
    assert_eq!(up.chunk_size(), 16 * MIB, "fast link: bigger chunks");
    up.chunk_sent(Ok((24 * MIB, None)), 9_000.0, 0.5);
    assert_eq!(up.chunk_size(), 8 * MIB, "slow link: smaller chunks");
    up.chunk_sent(Ok((32 * MIB, None)), 3_000.0, 0.5);
    assert_eq!(up.chunk_size(), 8 * MIB, "on target: unchanged");
    for _ in 0..10 {
        let at = up.offset();
        let next = at + up.chunk_size();
        up.chunk_sent(Ok((next, None)), 100.0, 0.5);
    }
    assert_eq!(up.chunk_size(), MAX_CHUNK);
    up.limit_chunks_to(5 * MIB);
    assert_eq!(up.chunk_size(), 5 * MIB);
}

#[test]
fn a_chunk_limit_below_the_adapted_size_still_adapts_to_a_slow_link() {
    // Chunks that carry a checksum are limited (to 16 MiB, see `Engine::send`), while the
    // link alone would allow 64: a full chunk at the limit that took too long still halves.
    let mut up = Upload::new(1024 * MIB, MAX_CHUNK, RetryPolicy::default());
    up.limit_chunks_to(16 * MIB);
    up.created(created("/u", 0), 0.5);
    assert_eq!(up.next(), send("/u", 0..16 * MIB));
    up.chunk_sent(Ok((16 * MIB, None)), 9_000.0, 0.5);
    assert_eq!(
        up.chunk_size(),
        8 * MIB,
        "slow link under a limit: smaller chunks"
    );
    up.chunk_sent(Ok((24 * MIB, None)), 500.0, 0.5);
    up.chunk_sent(Ok((40 * MIB, None)), 500.0, 0.5);
    assert_eq!(
        up.chunk_size(),
        16 * MIB,
        "fast again: back up to the limit, not past it"
    );
}

#[cfg(not(target_arch = "wasm32"))]
mod interleavings {
    //! A simulated tus server and a client that meets random faults, reloads and
    //! partial acknowledgements. Whatever happens, the server ends holding exactly the
    //! file's bytes in one completed upload, and only the chunk in flight is ever resent.
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[derive(Debug, Clone, Copy)]
    enum Fault {
        None,
        /// The request never reached the server.
        LostRequest,
        /// The server applied the request but the answer was lost.
        LostAnswer,
        /// The server stored only part of the chunk.
        Partial,
        Overloaded,
        /// The server expired the upload before this request.
        Expired,
        /// The tab reloaded; the client rebuilds from what the catalog persisted.
        Reload,
    }

    fn fault() -> impl Strategy<Value = Fault> {
        prop_oneof![
            6 => Just(Fault::None),
            1 => Just(Fault::LostRequest),
            1 => Just(Fault::LostAnswer),
            1 => Just(Fault::Partial),
            1 => Just(Fault::Overloaded),
            1 => Just(Fault::Expired),
            1 => Just(Fault::Reload),
        ]
    }

    #[derive(Default)]
    struct Server {
        /// upload URL → bytes held (as ranges of the file, appended in order).
        uploads: HashMap<String, Vec<Range<u64>>>,
        completed: Vec<String>,
        next_id: u32,
        /// Bytes a client sent to an upload that already held them.
        resent: u64,
    }

    fn held(ranges: &[Range<u64>]) -> u64 {
        ranges.last().map_or(0, |r| r.end)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn any_interleaving_ends_with_the_file_on_the_server_once(
            size in 0u64..(6 * MIB),
            faults in proptest::collection::vec(fault(), 0..60),
        ) {
            let lenient = RetryPolicy { max_attempts: 1_000, ..RetryPolicy::default() };
            let mut up = Upload::new(size, MIB, lenient);
            let mut server = Server::default();
            // What the catalog persisted after the last acknowledged step.
            let mut persisted: (Option<String>, u64) = (None, 0);
            let mut faults = faults.into_iter();
            let mut steps = 0;
            let finished = loop {
                steps += 1;
                prop_assert!(steps < 10_000, "no progress");
                let fault = faults.next().unwrap_or(Fault::None);
                if let Fault::Reload = fault {
                    up = Upload::resume(size, persisted.0.clone(), persisted.1, MIB, lenient);
                    continue;
                }
                if let (Fault::Expired, Some(url)) = (fault, up.url()) {
                    // A completed upload has become an asset; only partial ones expire.
                    if !server.completed.iter().any(|u| u == url) {
                        server.uploads.remove(url);
                    }
                }
                match up.next() {
                    Action::Create => {
                        if let Fault::LostRequest = fault {
                            up.created(Err(Failure::network("lost")), 0.1);
                            continue;
                        }
                        server.next_id += 1;
                        let url = format!("/u/{}", server.next_id);
                        server.uploads.insert(url.clone(), Vec::new());
                        if size == 0 {
                            server.completed.push(url.clone());
                        }
                        if let Fault::LostAnswer = fault {
                            // An orphaned upload on the server; the expiry sweep removes it.
                            up.created(Err(Failure::network("lost")), 0.1);
                            continue;
                        }
                        persisted = (Some(url.clone()), 0);
                        up.created(created(&url, 0), 0.1);
                    }
                    Action::AskOffset { url } => {
                        let answer = match server.uploads.get(&url) {
                            _ if matches!(fault, Fault::LostRequest | Fault::LostAnswer) => Err(Failure::network("lost")),
                            _ if matches!(fault, Fault::Overloaded) => Err(status(503)),
                            Some(ranges) => Ok(held(ranges)),
                            None => Err(status(404)),
                        };
                        up.offset_known(answer, 0.1);
                    }
                    Action::Send { url, range } => {
                        if matches!(fault, Fault::LostRequest) {
                            up.chunk_sent(Err(Failure::network("lost")), 0.0, 0.1);
                            continue;
                        }
                        if matches!(fault, Fault::Overloaded) {
                            up.chunk_sent(Err(status(503)), 0.0, 0.1);
                            continue;
                        }
                        let Some(ranges) = server.uploads.get_mut(&url) else {
                            up.chunk_sent(Err(status(404)), 0.0, 0.1);
                            continue;
                        };
                        let at = held(ranges);
                        // Bytes on the wire that the server already held are wasted, even
                        // though the server rejects them with 409.
                        if range.start < at {
                            server.resent += at.min(range.end) - range.start;
                        }
                        if range.start != at {
                            up.chunk_sent(Err(status(409)), 0.0, 0.1);
                            continue;
                        }
                        let end = if matches!(fault, Fault::Partial) {
                            range.start + (range.end - range.start) / 2
                        } else {
                            range.end
                        };
                        if end > range.start {
                            ranges.push(range.start..end);
                        }
                        if end == size {
                            server.completed.push(url.clone());
                        }
                        if let Fault::LostAnswer = fault {
                            up.chunk_sent(Err(Failure::network("lost")), 0.0, 0.1);
                            continue;
                        }
                        persisted = (Some(url), end);
                        up.chunk_sent(Ok((end, None)), 3_000.0, 0.1);
                    }
                    Action::Wait { .. } => up.waited(),
                    Action::Finished { .. } => break true,
                    Action::Fail { reason, .. } => { prop_assert!(false, "failed: {reason}"); }
                    Action::Halt { class } => { prop_assert!(false, "halted: {class:?}"); }
                }
            };
            prop_assert!(finished);
            let url = up.url().expect("a finished upload has a URL").to_string();
            let ranges = &server.uploads[&url];
            // The completed upload holds every byte of the file exactly once, in order.
            let mut expected_start = 0;
            for r in ranges {
                prop_assert_eq!(r.start, expected_start);
                expected_start = r.end;
            }
            prop_assert_eq!(expected_start, size);
            prop_assert!(server.completed.contains(&url));
            // Only uploads that expired before completing were abandoned, so exactly one
            // completed upload exists for this file.
            let live_completed = server.completed.iter().filter(|u| server.uploads.contains_key(*u)).count();
            prop_assert_eq!(live_completed, 1);
            // The client asks before resending, so no acknowledged byte is sent twice to
            // the same upload, whatever was lost or reloaded.
            prop_assert_eq!(server.resent, 0);
        }
    }
}
