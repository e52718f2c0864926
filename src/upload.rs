//! One file's resumable upload as a sans-IO state machine.
//!
//! The driver asks [`Upload::next`] what to do, performs it (a creation `POST`, a `HEAD`,
//! a chunk `PATCH`, or a wait), and reports the outcome back. The machine never touches
//! the network or a clock, so every failure path in DESIGN.md's error table is driven by
//! unit tests, and a property test checks that any interleaving of failures, restarts and
//! partial acknowledgements ends with the server holding exactly the file's bytes.

use std::ops::Range;

use crate::asset::ErrorCode;
use crate::chunks::ChunkPlan;
use crate::retry::RetryPolicy;
use crate::tus::{Created, ErrorClass, TusError};

/// Smallest chunk ferry sends, however slow the link or strict the server.
pub const MIN_CHUNK: u64 = 1024 * 1024;
/// Largest chunk ferry sends, however fast the link.
pub const MAX_CHUNK: u64 = 64 * 1024 * 1024;
/// Chunks adapt so each takes between these many milliseconds.
const TARGET_CHUNK_MS: Range<f64> = 2_000.0..5_000.0;
/// Checksum mismatches in a row after which the file is failed rather than resent.
const MAX_CORRUPT: u32 = 3;

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create an upload on the server (tus `POST`), then call [`Upload::created`].
    Create,
    /// Ask the server how many bytes it holds (`HEAD`), then call [`Upload::offset_known`].
    AskOffset { url: String },
    /// Send these bytes (`PATCH`), then call [`Upload::chunk_sent`].
    Send { url: String, range: Range<u64> },
    /// Wait this long (backoff), then call [`Upload::waited`].
    Wait { ms: f64 },
    /// The server holds the whole file. `asset_id` is set when the server named it.
    Finished { asset_id: Option<String> },
    /// Give up on this file; the reason is for the failed-uploads screen.
    Fail { code: ErrorCode, reason: String },
    /// Stop every upload: the user must sign in again, or storage (theirs or the server's)
    /// is full.
    Halt { class: ErrorClass },
}

/// Why a request failed: its class decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: ErrorClass,
    pub detail: String,
}

impl Failure {
    /// A request that got no HTTP answer at all: offline, reset, refused.
    pub fn network(detail: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            detail: detail.into(),
        }
    }
}

impl From<TusError> for Failure {
    fn from(e: TusError) -> Self {
        Self {
            class: e.class(),
            detail: e.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Running,
    Finished(Option<String>),
    Failed(ErrorCode, String),
    Halted(ErrorClass),
}

/// The state of one file's upload. Persist `url()`, `offset()` and `chunk_size()` after
/// every step; [`Upload::resume`] rebuilds the machine from them after a reload.
#[derive(Debug, Clone)]
pub struct Upload {
    size: u64,
    url: Option<String>,
    /// Bytes the server has acknowledged.
    offset: u64,
    chunk_size: u64,
    /// The server's largest acceptable chunk, if it said.
    server_max_chunk: Option<u64>,
    /// The offset is uncertain (after a failure or a reload): `HEAD` before sending.
    verify_offset: bool,
    wait_ms: Option<f64>,
    failures: u32,
    corrupt: u32,
    outcome: Outcome,
    retry: RetryPolicy,
}

impl Upload {
    /// A new upload of `size` bytes, not yet created on the server.
    pub fn new(size: u64, chunk_size: u64, retry: RetryPolicy) -> Self {
        Self {
            size,
            url: None,
            offset: 0,
            chunk_size: chunk_size.clamp(MIN_CHUNK, MAX_CHUNK),
            server_max_chunk: None,
            verify_offset: false,
            wait_ms: None,
            failures: 0,
            corrupt: 0,
            outcome: Outcome::Running,
            retry,
        }
    }

    /// An upload interrupted by a reload or a killed tab: it was created at `url` and the
    /// catalog last recorded `offset`. The server is asked for the real offset first.
    pub fn resume(
        size: u64,
        url: Option<String>,
        offset: u64,
        chunk_size: u64,
        retry: RetryPolicy,
    ) -> Self {
        let mut upload = Self::new(size, chunk_size, retry);
        upload.verify_offset = url.is_some();
        upload.offset = if url.is_some() { offset.min(size) } else { 0 };
        upload.url = url;
        upload
    }

    /// Limits chunks to what the server accepts.
    pub fn limit_chunks_to(&mut self, server_max: u64) {
        self.server_max_chunk = Some(server_max.max(1));
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Bytes the server has acknowledged.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub fn chunk_size(&self) -> u64 {
        match self.server_max_chunk {
            Some(max) => self.chunk_size.min(max),
            None => self.chunk_size,
        }
    }

    /// What to do now.
    pub fn next(&self) -> Action {
        match &self.outcome {
            Outcome::Finished(asset_id) => {
                return Action::Finished {
                    asset_id: asset_id.clone(),
                }
            }
            Outcome::Failed(code, reason) => {
                return Action::Fail {
                    code: *code,
                    reason: reason.clone(),
                }
            }
            Outcome::Halted(class) => return Action::Halt { class: *class },
            Outcome::Running => {}
        }
        if let Some(ms) = self.wait_ms {
            return Action::Wait { ms };
        }
        let Some(url) = self.url.clone() else {
            return Action::Create;
        };
        if self.verify_offset {
            return Action::AskOffset { url };
        }
        match ChunkPlan::new(self.size, self.chunk_size()).next(self.offset) {
            Some(range) => Action::Send { url, range },
            None => Action::Finished { asset_id: None },
        }
    }

    /// The backoff wait is over.
    pub fn waited(&mut self) {
        self.wait_ms = None;
    }

    /// The creation request's outcome. `jitter` is a uniform random number in `[0, 1)`.
    pub fn created(&mut self, result: Result<(String, Created), Failure>, jitter: f64) {
        match result {
            Ok((url, created)) => {
                self.url = Some(url);
                self.offset = created.offset;
                self.failures = 0;
                if created.offset >= self.size {
                    self.outcome = Outcome::Finished(created.asset_id);
                }
            }
            // 413 on creation means the whole file does not fit: the user's quota.
            Err(Failure {
                class: ErrorClass::TooBig,
                detail,
            }) => self.failed(
                Failure {
                    class: ErrorClass::Quota,
                    detail,
                },
                jitter,
            ),
            Err(failure) => self.failed(failure, jitter),
        }
    }

    /// The `HEAD` request's outcome: the server holds `offset` bytes.
    pub fn offset_known(&mut self, result: Result<u64, Failure>, jitter: f64) {
        match result {
            Ok(offset) => {
                self.offset = offset.min(self.size);
                self.verify_offset = false;
                if self.offset >= self.size {
                    self.outcome = Outcome::Finished(None);
                }
            }
            Err(failure) => self.failed(failure, jitter),
        }
    }

    /// A chunk request's outcome: the server's new offset and, when it finished the upload,
    /// the asset it became. `elapsed_ms` tunes the chunk size to the link's speed.
    pub fn chunk_sent(
        &mut self,
        result: Result<(u64, Option<String>), Failure>,
        elapsed_ms: f64,
        jitter: f64,
    ) {
        match result {
            Ok((offset, asset_id)) => {
                let sent = offset.saturating_sub(self.offset);
                self.offset = offset.min(self.size);
                self.failures = 0;
                self.corrupt = 0;
                self.adapt_chunk_size(sent, elapsed_ms);
                if self.offset >= self.size {
                    self.outcome = Outcome::Finished(asset_id);
                }
            }
            Err(failure) => self.failed(failure, jitter),
        }
    }

    fn adapt_chunk_size(&mut self, sent: u64, elapsed_ms: f64) {
        // Only a full chunk says something about the link; the last one is usually short.
        // Full means the size sent, within the server's limit.
        let current = self.chunk_size();
        if sent < current || elapsed_ms <= 0.0 {
            return;
        }
        if elapsed_ms < TARGET_CHUNK_MS.start {
            self.chunk_size = (current * 2).min(MAX_CHUNK);
        } else if elapsed_ms > TARGET_CHUNK_MS.end {
            self.chunk_size = (current / 2).max(MIN_CHUNK);
        }
    }

    /// One row of DESIGN.md's error table each.
    fn failed(&mut self, failure: Failure, jitter: f64) {
        self.failures += 1;
        let give_up =
            |code, reason: &str| Outcome::Failed(code, format!("{reason}: {}", failure.detail));
        match failure.class {
            ErrorClass::Auth | ErrorClass::Quota | ErrorClass::StorageFull => {
                self.outcome = Outcome::Halted(failure.class);
                return;
            }
            ErrorClass::Refused => {
                self.outcome = give_up(ErrorCode::Rejected, "The server refused the file");
                return;
            }
            ErrorClass::Corrupt => {
                self.corrupt += 1;
                if self.corrupt >= MAX_CORRUPT {
                    self.outcome = give_up(
                        ErrorCode::Checksum,
                        "The server kept receiving different bytes than the file holds",
                    );
                    return;
                }
            }
            ErrorClass::TooBig => {
                if self.chunk_size() <= MIN_CHUNK {
                    self.outcome = give_up(
                        ErrorCode::TooLarge,
                        "The server refuses even the smallest chunk",
                    );
                    return;
                }
                let halved = (self.chunk_size() / 2).max(MIN_CHUNK);
                self.chunk_size = halved;
                self.server_max_chunk = Some(halved);
            }
            ErrorClass::Expired => {
                // The server forgot the upload: start a new one from the first byte.
                self.url = None;
                self.offset = 0;
            }
            ErrorClass::Desync | ErrorClass::Transient => {}
        }
        if self.retry.exhausted(self.failures) {
            self.outcome = give_up(ErrorCode::Network, "Gave up after repeated failures");
            return;
        }
        // Whatever happened mid-request, the server may hold more than we know.
        self.verify_offset = self.url.is_some();
        if failure.class == ErrorClass::Transient {
            self.wait_ms = Some(self.retry.delay_ms(self.failures, jitter));
        }
    }
}

#[cfg(test)]
mod tests;
