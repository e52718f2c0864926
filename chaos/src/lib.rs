//! `ferry-chaos`: an HTTP/1.1 proxy for loopback that breaks things on purpose, so the
//! e2e suite can show that a backup survives them.
//!
//! It sits between the browser and `ferry-server`, and for each request in scope (a path
//! prefix and, optionally, methods) draws one fault:
//! - `failRate`: answers 500, 502, 503 or 429 without forwarding (the server never saw it);
//! - `loseAnswerRate`: forwards, then answers an error instead (the server did the work);
//! - `dropRequestRate`: forwards half of the body, then closes the connection;
//! - `dropResponseRate`: forwards, then closes the connection halfway through the answer
//!   (before it, when the answer has no body);
//! - `resetEvery` + `resetAfterBytes`: every Nth request gets a TCP RST after that many
//!   bytes of its body (or once its body is in, if shorter);
//! - `latencyMs` + `jitterMs` before each request, and `bandwidth` (bytes/s each way);
//! - a black hole for a period (`POST /__chaos/blackhole?ms=N`): nothing in scope passes,
//!   and nothing caught in it is ever answered, as when a NAT or a Wi-Fi handover loses a
//!   connection's state. Only a client with timeouts gets out.
//!
//! It forwards only to a loopback address, and stops by itself after `max_seconds` or
//! `max_requests`. `GET /__chaos/stats` counts what it did; `PUT /__chaos/faults` with a
//! JSON body changes the faults while it runs.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

type Body = BoxBody<Bytes, io::Error>;

/// What to break, and how often. Rates are probabilities per request in scope; they are
/// drawn in the order listed and add up (at most 1 in all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct Faults {
    /// Only requests whose path starts with this are touched.
    pub scope: String,
    /// Only these methods are touched; empty means all.
    pub methods: Vec<String>,
    pub fail_rate: f64,
    /// The statuses `failRate` and `loseAnswerRate` answer, chosen at random.
    pub fail_statuses: Vec<u16>,
    pub lose_answer_rate: f64,
    pub drop_request_rate: f64,
    pub drop_response_rate: f64,
    /// Every Nth request in scope is reset (0: never).
    pub reset_every: u64,
    pub reset_after_bytes: u64,
    pub latency_ms: u64,
    pub jitter_ms: u64,
    /// Bytes per second in each direction, over all connections (0: unlimited).
    pub bandwidth: u64,
    /// Seed of the fault draws, so a failing run can be replayed.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            scope: "/api/".into(),
            methods: Vec::new(),
            fail_rate: 0.0,
            fail_statuses: vec![500, 502, 503, 429],
            lose_answer_rate: 0.0,
            drop_request_rate: 0.0,
            drop_response_rate: 0.0,
            reset_every: 0,
            reset_after_bytes: 64 * 1024,
            latency_ms: 0,
            jitter_ms: 0,
            bandwidth: 0,
            seed: 1,
        }
    }
}

impl Faults {
    fn check(&self) -> Result<(), String> {
        let rates = [
            self.fail_rate,
            self.lose_answer_rate,
            self.drop_request_rate,
            self.drop_response_rate,
        ];
        if rates.iter().any(|r| !(0.0..=1.0).contains(r)) || rates.iter().sum::<f64>() > 1.0 {
            return Err("rates must be between 0 and 1 and add up to at most 1".into());
        }
        if self.fail_statuses.is_empty()
            || self
                .fail_statuses
                .iter()
                .any(|s| StatusCode::from_u16(*s).is_err())
        {
            return Err("failStatuses must be valid HTTP statuses".into());
        }
        Ok(())
    }

    fn applies_to(&self, method: &Method, path: &str) -> bool {
        path.starts_with(&self.scope)
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(method.as_str())))
    }
}

/// When the proxy stops by itself.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_duration: Duration,
    pub max_requests: u64,
}

/// What the proxy did, from `GET /__chaos/stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Every request, control ones excepted.
    pub requests: u64,
    pub in_scope: u64,
    /// Requests in scope by method.
    pub by_method: BTreeMap<String, u64>,
    /// Error statuses answered instead of forwarding, by status.
    pub failed: BTreeMap<String, u64>,
    pub lost_answers: u64,
    pub dropped_requests: u64,
    pub dropped_responses: u64,
    pub resets: u64,
    pub blackholed: u64,
    /// Request body bytes received from clients in scope, and answer bytes sent to them.
    pub bytes_up: u64,
    pub bytes_down: u64,
    /// `bytesUp` of POST and PATCH requests: what clients sent of their uploads, resent
    /// bytes included.
    pub upload_bytes: u64,
    pub upstream_errors: u64,
}

/// Why the proxy stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Deadline,
    RequestBudget,
}

/// xorshift64*: reproducible from a seed, and no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A token bucket of one direction: each piece waits until the link would have carried it.
struct Link {
    free_at: tokio::sync::Mutex<Instant>,
}

impl Link {
    fn new() -> Self {
        Self {
            free_at: tokio::sync::Mutex::new(Instant::now()),
        }
    }
    async fn carry(&self, bytes: usize, per_second: u64) {
        if per_second == 0 {
            return;
        }
        let until = {
            let mut free_at = self.free_at.lock().await;
            let start = (*free_at).max(Instant::now());
            *free_at = start + Duration::from_secs_f64(bytes as f64 / per_second as f64);
            *free_at
        };
        tokio::time::sleep_until(until.into()).await;
    }
}

struct State {
    upstream: SocketAddr,
    faults: Mutex<Faults>,
    rng: Mutex<Rng>,
    stats: Mutex<Stats>,
    hole_until: Mutex<Option<Instant>>,
    in_scope: AtomicU64,
    up: Link,
    down: Link,
    limits: Limits,
    requests: AtomicU64,
    budget_spent: Notify,
}

impl State {
    fn stat(&self, f: impl FnOnce(&mut Stats)) {
        f(&mut self.stats.lock().unwrap());
    }

    fn hole_left(&self) -> Option<Duration> {
        let until = (*self.hole_until.lock().unwrap())?;
        until.checked_duration_since(Instant::now())
    }

    /// Waits for the black hole to end; then whatever it caught stays unanswered.
    async fn swallowed(&self) -> ! {
        while let Some(left) = self.hole_left() {
            tokio::time::sleep(left).await;
        }
        std::future::pending().await
    }

    fn draw(&self, faults: &Faults) -> Plan {
        let n = self.in_scope.fetch_add(1, Ordering::Relaxed) + 1;
        let mut rng = self.rng.lock().unwrap();
        let status = |rng: &mut Rng| {
            let i = (rng.next_f64() * faults.fail_statuses.len() as f64) as usize;
            faults.fail_statuses[i.min(faults.fail_statuses.len() - 1)]
        };
        let delay = faults.latency_ms as f64 + rng.next_f64() * faults.jitter_ms as f64;
        let delay = Duration::from_secs_f64(delay / 1000.0);
        if faults.reset_every > 0 && n % faults.reset_every == 0 {
            return Plan::Reset(faults.reset_after_bytes, delay);
        }
        let r = rng.next_f64();
        let mut edge = faults.fail_rate;
        if r < edge {
            return Plan::Fail(status(&mut rng), delay);
        }
        edge += faults.lose_answer_rate;
        if r < edge {
            return Plan::LoseAnswer(status(&mut rng), delay);
        }
        edge += faults.drop_request_rate;
        if r < edge {
            return Plan::DropRequest(delay);
        }
        edge += faults.drop_response_rate;
        if r < edge {
            return Plan::DropResponse(delay);
        }
        Plan::Pass(delay)
    }
}

#[derive(Debug, Clone, Copy)]
enum Plan {
    Pass(Duration),
    Fail(u16, Duration),
    LoseAnswer(u16, Duration),
    DropRequest(Duration),
    DropResponse(Duration),
    Reset(u64, Duration),
}

impl Plan {
    fn delay(self) -> Duration {
        match self {
            Plan::Pass(d)
            | Plan::Fail(_, d)
            | Plan::LoseAnswer(_, d)
            | Plan::DropRequest(d)
            | Plan::DropResponse(d)
            | Plan::Reset(_, d) => d,
        }
    }
}

/// Byte counts of one client connection, and the point at which it is reset.
struct Conn {
    read: AtomicU64,
    reset_at: AtomicU64,
}

impl Conn {
    fn reset_after(&self, bytes: u64) {
        let at = self.read.load(Ordering::Relaxed).saturating_add(bytes);
        self.reset_at.store(at, Ordering::Relaxed);
    }
    fn reset_due(&self) -> bool {
        self.read.load(Ordering::Relaxed) >= self.reset_at.load(Ordering::Relaxed)
    }
}

/// The client's socket, counting what it reads; once a reset is due it fails every call,
/// and dropping it sends a TCP RST (SO_LINGER 0) instead of a FIN.
struct ChaosIo {
    stream: TcpStream,
    conn: Arc<Conn>,
}

fn reset_error() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionReset, "ferry-chaos: reset")
}

impl AsyncRead for ChaosIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let read = self.conn.read.load(Ordering::Relaxed);
        let reset_at = self.conn.reset_at.load(Ordering::Relaxed);
        if read >= reset_at {
            return Poll::Ready(Err(reset_error()));
        }
        // Never read past the reset point, so "after N bytes" is exact.
        let room = usize::try_from(reset_at - read).unwrap_or(usize::MAX);
        let mut limited = buf.take(room.min(buf.remaining()));
        let result = Pin::new(&mut self.stream).poll_read(cx, &mut limited);
        let n = limited.filled().len();
        if let Poll::Ready(Ok(())) = result {
            // SAFETY: `limited` wrote `n` initialised bytes at the start of `buf`'s unfilled part.
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            self.conn.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        result
    }
}

impl AsyncWrite for ChaosIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.conn.reset_due() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.stream).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.conn.reset_due() {
            return Poll::Ready(Err(reset_error()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl Drop for ChaosIo {
    fn drop(&mut self) {
        if self.conn.reset_due() {
            let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
        }
    }
}

/// A body fed by a pump task through a channel.
struct Pumped {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl HttpBody for Pumped {
    type Data = Bytes;
    type Error = io::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.rx
            .poll_recv(cx)
            .map(|piece| piece.map(|r| r.map(Frame::data)))
    }
    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// What happened to a body on its way through.
#[derive(Default)]
struct Passage {
    /// Cut short on purpose.
    cut: std::sync::atomic::AtomicBool,
    /// Caught in the black hole: its exchange must never be answered.
    swallowed: std::sync::atomic::AtomicBool,
}

const PIECE: usize = 16 * 1024;

/// Moves `body` into a channel piece by piece: throttled, cut after `cut_at` bytes, and
/// stopped dead by the black hole.
fn pump<B>(
    state: Arc<State>,
    mut body: B,
    direction: Direction,
    cut_at: Option<u64>,
    upload: bool,
    in_scope: bool,
) -> (Pumped, Arc<Passage>)
where
    B: HttpBody<Data = Bytes> + Unpin + Send + 'static,
    B::Error: std::fmt::Display + Send,
{
    let (tx, rx) = mpsc::channel(4);
    let passage = Arc::new(Passage::default());
    let seen = Arc::clone(&passage);
    tokio::spawn(async move {
        let mut sent = 0u64;
        while let Some(frame) = body.frame().await {
            let data = match frame {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers: ferry sends none
                },
                Err(e) => {
                    let e = io::Error::other(e.to_string());
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            let mut data = data;
            while !data.is_empty() {
                let mut piece = data.split_to(data.len().min(PIECE));
                if let Some(cut) = cut_at {
                    if sent + piece.len() as u64 >= cut {
                        piece.truncate((cut - sent) as usize);
                        if !piece.is_empty() {
                            let _ = tx.send(Ok(piece)).await;
                        }
                        seen.cut.store(true, Ordering::Relaxed);
                        let _ = tx.send(Err(io::Error::other("ferry-chaos: cut"))).await;
                        return;
                    }
                }
                if in_scope && state.hole_left().is_some() {
                    seen.swallowed.store(true, Ordering::Relaxed);
                    if direction == Direction::Up {
                        // The server hears nothing more; its side ends when the hole does.
                        while let Some(left) = state.hole_left() {
                            tokio::time::sleep(left).await;
                        }
                        let _ = tx
                            .send(Err(io::Error::other("ferry-chaos: black hole")))
                            .await;
                        return;
                    }
                    state.swallowed().await;
                }
                let bandwidth = state.faults.lock().unwrap().bandwidth;
                let len = piece.len();
                match direction {
                    Direction::Up => state.up.carry(len, bandwidth).await,
                    Direction::Down => state.down.carry(len, bandwidth).await,
                }
                state.stat(|s| match direction {
                    _ if !in_scope => {}
                    Direction::Up => {
                        s.bytes_up += len as u64;
                        if upload {
                            s.upload_bytes += len as u64;
                        }
                    }
                    Direction::Down => s.bytes_down += len as u64,
                });
                if tx.send(Ok(piece)).await.is_err() {
                    return;
                }
                sent += len as u64;
            }
        }
    });
    (Pumped { rx }, passage)
}

/// Closes the client's connection without an answer.
#[derive(Debug)]
struct Cut;

impl std::fmt::Display for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ferry-chaos closed the connection")
    }
}

impl std::error::Error for Cut {}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    headers.remove(CONNECTION);
    headers.remove(TRANSFER_ENCODING);
    headers.remove("keep-alive");
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

fn text(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed());
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
}

fn injected(status: u16) -> Response<Body> {
    let mut response = text(
        status,
        format!("{{\"error\":\"ferry-chaos injected {status}\"}}"),
    );
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if status == 429 || status == 503 {
        headers.insert("retry-after", HeaderValue::from_static("1"));
    }
    response
}

/// Sends `request` on a new connection to the server. It runs as a task of its own, so
/// that a client connection that dies (a reset) still delivers what it sent so far.
async fn upstream(state: &State, request: Request<Pumped>) -> io::Result<Response<Incoming>> {
    let address = state.upstream;
    let exchange = tokio::spawn(async move {
        let stream = TcpStream::connect(address).await?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(connection);
        sender.send_request(request).await.map_err(io::Error::other)
    });
    exchange.await.map_err(io::Error::other)?
}

async fn handle(
    state: Arc<State>,
    conn: Arc<Conn>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Cut> {
    if request.uri().path().starts_with("/__chaos/") {
        return Ok(control(&state, request).await);
    }
    let count = state.requests.fetch_add(1, Ordering::Relaxed) + 1;
    if count > state.limits.max_requests {
        state.budget_spent.notify_one();
        return Ok(text(503, "ferry-chaos: request budget spent\n".into()));
    }
    state.stat(|s| s.requests += 1);
    let faults = state.faults.lock().unwrap().clone();
    let plan = if faults.applies_to(request.method(), request.uri().path()) {
        let method = request.method().to_string();
        state.stat(|s| {
            s.in_scope += 1;
            *s.by_method.entry(method).or_default() += 1;
        });
        Some(state.draw(&faults))
    } else {
        None
    };
    let Some(plan) = plan else {
        return forward(&state, request, None, false, false).await;
    };
    if state.hole_left().is_some() {
        state.stat(|s| s.blackholed += 1);
        state.swallowed().await;
    }
    tokio::time::sleep(plan.delay()).await;
    let upload = matches!(*request.method(), Method::POST | Method::PATCH);
    match plan {
        Plan::Pass(_) => forward(&state, request, None, upload, true).await,
        Plan::Fail(status, _) => {
            // Read the body first, so the client sees the status, not a reset mid-send.
            let (drained, _) = pump(
                state.clone(),
                request.into_body(),
                Direction::Up,
                None,
                upload,
                true,
            );
            let _ = drained.collect().await;
            state.stat(|s| *s.failed.entry(status.to_string()).or_default() += 1);
            Ok(injected(status))
        }
        Plan::LoseAnswer(status, _) => {
            let answer = forward(&state, request, None, upload, true).await?;
            let _ = answer.into_body().collect().await;
            state.stat(|s| s.lost_answers += 1);
            Ok(injected(status))
        }
        Plan::DropRequest(_) => {
            state.stat(|s| s.dropped_requests += 1);
            let half = content_length(request.headers()).unwrap_or(0) / 2;
            if half > 0 {
                let _ = forward(&state, request, Some(half), upload, true).await;
            }
            Err(Cut)
        }
        Plan::DropResponse(_) => {
            state.stat(|s| s.dropped_responses += 1);
            let answer = forward(&state, request, None, upload, true).await?;
            let half = content_length(answer.headers()).unwrap_or(0) / 2;
            if half == 0 {
                return Err(Cut);
            }
            let (parts, body) = answer.into_parts();
            let (cut, _) = pump(
                state.clone(),
                body,
                Direction::Down,
                Some(half),
                false,
                true,
            );
            Ok(Response::from_parts(parts, cut.boxed()))
        }
        Plan::Reset(after, _) => {
            state.stat(|s| s.resets += 1);
            conn.reset_after(after);
            let _ = forward(&state, request, None, upload, true).await;
            // A body shorter than `after`: reset once it is in, before the answer.
            conn.reset_after(0);
            Err(Cut)
        }
    }
}

/// Sends the request upstream (its body cut after `cut_at` bytes) and relays the answer.
async fn forward(
    state: &Arc<State>,
    request: Request<Incoming>,
    cut_at: Option<u64>,
    upload: bool,
    in_scope: bool,
) -> Result<Response<Body>, Cut> {
    let (mut parts, body) = request.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let (body, passage) = pump(state.clone(), body, Direction::Up, cut_at, upload, in_scope);
    let answer = upstream(state, Request::from_parts(parts, body)).await;
    if passage.swallowed.load(Ordering::Relaxed) || (in_scope && state.hole_left().is_some()) {
        state.swallowed().await;
    }
    if passage.cut.load(Ordering::Relaxed) {
        return Err(Cut);
    }
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            state.stat(|s| s.upstream_errors += 1);
            return Ok(text(502, format!("ferry-chaos: upstream: {e}\n")));
        }
    };
    let (mut parts, body) = answer.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let (body, _) = pump(state.clone(), body, Direction::Down, None, false, in_scope);
    Ok(Response::from_parts(parts, body.boxed()))
}

async fn control(state: &State, request: Request<Incoming>) -> Response<Body> {
    let json = |value: String| {
        let mut r = text(200, value);
        r.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        r
    };
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    match (request.method().clone(), path.as_str()) {
        (Method::GET, "/__chaos/stats") => {
            json(serde_json::to_string(&*state.stats.lock().unwrap()).unwrap_or_default())
        }
        (Method::PUT, "/__chaos/faults") => {
            let body = match request.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => return text(400, format!("{e}\n")),
            };
            let faults: Faults = match serde_json::from_slice(&body) {
                Ok(f) => f,
                Err(e) => return text(400, format!("bad faults: {e}\n")),
            };
            if let Err(e) = faults.check() {
                return text(400, format!("bad faults: {e}\n"));
            }
            *state.rng.lock().unwrap() = Rng::new(faults.seed);
            state.in_scope.store(0, Ordering::Relaxed);
            let answer = serde_json::to_string(&faults).unwrap_or_default();
            *state.faults.lock().unwrap() = faults;
            json(answer)
        }
        (Method::POST, "/__chaos/blackhole") => {
            let ms = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("ms="))
                .and_then(|v| v.parse::<u64>().ok());
            match ms {
                Some(ms) => {
                    *state.hole_until.lock().unwrap() =
                        Some(Instant::now() + Duration::from_millis(ms));
                    json(format!("{{\"blackholeMs\":{ms}}}"))
                }
                None => text(400, "blackhole needs ?ms=N\n".into()),
            }
        }
        _ => text(404, "ferry-chaos: no such control\n".into()),
    }
}

/// A proxy bound to its address, not yet serving.
pub struct Proxy {
    listener: TcpListener,
    state: Arc<State>,
}

impl Proxy {
    /// Binds `listen` and checks that both it and `upstream` are loopback addresses: the
    /// proxy never sends traffic anywhere else.
    pub async fn bind(
        listen: SocketAddr,
        upstream: SocketAddr,
        faults: Faults,
        limits: Limits,
    ) -> Result<Self, String> {
        if !upstream.ip().is_loopback() || !listen.ip().is_loopback() {
            return Err(format!(
                "ferry-chaos serves and forwards on loopback only, not {listen} -> {upstream}"
            ));
        }
        faults.check()?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let state = Arc::new(State {
            upstream,
            rng: Mutex::new(Rng::new(faults.seed)),
            faults: Mutex::new(faults),
            stats: Mutex::new(Stats::default()),
            hole_until: Mutex::new(None),
            in_scope: AtomicU64::new(0),
            up: Link::new(),
            down: Link::new(),
            limits,
            requests: AtomicU64::new(0),
            budget_spent: Notify::new(),
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until the time or the request budget of its limits runs out.
    pub async fn run(self) -> Ending {
        let deadline = tokio::time::Instant::now() + self.state.limits.max_duration;
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = tokio::time::sleep_until(deadline) => return Ending::Deadline,
                _ = self.state.budget_spent.notified() => return Ending::RequestBudget,
            };
            let Ok((stream, _)) = accepted else { continue };
            let _ = stream.set_nodelay(true);
            let state = Arc::clone(&self.state);
            tokio::spawn(async move {
                let conn = Arc::new(Conn {
                    read: AtomicU64::new(0),
                    reset_at: AtomicU64::new(u64::MAX),
                });
                let io = ChaosIo {
                    stream,
                    conn: Arc::clone(&conn),
                };
                let service = hyper::service::service_fn(move |request| {
                    handle(Arc::clone(&state), Arc::clone(&conn), request)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(io), service)
                    .await;
            });
        }
    }
}
