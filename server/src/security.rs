//! Defences against hostile pages and clients: the Content-Security-Policy and friends on
//! every answer, and the sign-in rate limit.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The web app's policy. Only the app's own files run: no inline script, no `eval`, no
/// inline style attribute or `<style>`. `'wasm-unsafe-eval'` lets the page and the hash
/// workers compile the engine's WebAssembly (it allows nothing for JavaScript). Thumbnails
/// and previews are `blob:` URLs; every request goes to this origin.
pub const APP_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
     worker-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// API answers (JSON, and originals whose type the uploader chose) are never a document
/// that may run anything, even if opened directly in a tab.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; sandbox";

/// Adds `Content-Security-Policy`, `X-Content-Type-Options: nosniff`,
/// `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY` to every answer.
pub async fn headers(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = if api { API_CSP } else { APP_CSP };
    headers
        .entry(CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(csp));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The client's address: from `Config::client_ip_header` when the server sits behind a
/// proxy that sets it, else the peer of the TCP connection (absent in in-process tests).
pub fn client_ip(
    headers: &HeaderMap,
    connect: Option<&ConnectInfo<SocketAddr>>,
    header: Option<&str>,
) -> Option<IpAddr> {
    if let Some(name) = header {
        // A proxy appends; the last entry is the one it saw.
        return headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
    }
    connect.map(|ConnectInfo(addr)| addr.ip())
}

/// A client's bucket: IPv4 addresses alone, IPv6 by /64 (one host usually has a whole /64
/// to rotate through).
fn ip_bucket(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LimitKey {
    User(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    /// Attempts in this window that did not succeed (including ones still running).
    failures: u32,
    started: Instant,
}

/// At most this many user names and addresses are tracked; when full, expired windows are
/// dropped first, then the oldest.
pub const MAX_TRACKED: usize = 10_000;

/// Counts failed sign-ins per user name and per client address in fixed windows. A sign-in
/// is counted as a failure when it starts, so parallel guesses cannot all pass the check
/// before any of them fails; a success takes its count back and clears the user name's.
/// The address count is not cleared by a success, so signing in to one's own account does
/// not reset a guessing budget.
pub struct LoginLimiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<LimitKey, Window>>,
}

/// A sign-in allowed by `LoginLimiter::begin`; report how it ended.
pub struct Attempt {
    user: LimitKey,
    ip: Option<LimitKey>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a sign-in for `user` from `ip`: `Err(wait)` if either has used up its
    /// failures in the current window.
    pub fn begin(&self, user: &str, ip: Option<IpAddr>) -> Result<Attempt, Duration> {
        self.begin_at(user, ip, Instant::now())
    }

    fn begin_at(&self, user: &str, ip: Option<IpAddr>, now: Instant) -> Result<Attempt, Duration> {
        let attempt = Attempt {
            user: LimitKey::User(user.trim().to_lowercase()),
            ip: ip.map(|ip| LimitKey::Ip(ip_bucket(ip))),
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let keys = std::iter::once(&attempt.user).chain(attempt.ip.as_ref());
        let mut wait = Duration::ZERO;
        for key in keys.clone() {
            if let Some(w) = entries.get(key) {
                let age = now.saturating_duration_since(w.started);
                if age < self.window && w.failures >= self.max_failures {
                    wait = wait.max(self.window - age);
                }
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in keys {
            if !entries.contains_key(key) && entries.len() >= MAX_TRACKED {
                self.make_room(&mut entries, now);
            }
            let w = entries.entry(key.clone()).or_insert(Window {
                failures: 0,
                started: now,
            });
            if now.saturating_duration_since(w.started) >= self.window {
                *w = Window {
                    failures: 0,
                    started: now,
                };
            }
            w.failures += 1;
        }
        Ok(attempt)
    }

    fn make_room(&self, entries: &mut HashMap<LimitKey, Window>, now: Instant) {
        entries.retain(|_, w| now.saturating_duration_since(w.started) < self.window);
        if entries.len() >= MAX_TRACKED {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
    }

    /// The attempt signed in: the user name starts afresh, and the address gets this
    /// attempt back.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&attempt.user);
        if let Some(w) = attempt.ip.and_then(|ip| entries.get_mut(&ip)) {
            w.failures = w.failures.saturating_sub(1);
        }
    }

    /// How many user names and addresses are tracked now.
    pub fn tracked(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

/// Whole seconds for `Retry-After`, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(900);

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn the_eleventh_failure_waits_for_the_window_and_a_success_resets_the_user() {
        let limiter = LoginLimiter::new(10, WINDOW);
        let t0 = Instant::now();
        for _ in 0..10 {
            limiter.begin_at("Alice", ip("192.0.2.1"), t0).unwrap();
        }
        let wait = limiter
            .begin_at("alice", ip("192.0.2.9"), t0 + Duration::from_secs(60))
            .err()
            .unwrap();
        assert_eq!(wait, Duration::from_secs(840));
        // Another user from the same address is blocked too (the address used its 10).
        assert!(limiter.begin_at("bob", ip("192.0.2.1"), t0).is_err());
        // After the window, both start again.
        let later = t0 + WINDOW;
        let attempt = limiter.begin_at("alice", ip("192.0.2.1"), later).unwrap();
        limiter.succeeded(attempt);
        for _ in 0..10 {
            limiter
                .begin_at("alice", ip("198.51.100.1"), later)
                .unwrap();
        }
        assert!(limiter.begin_at("alice", ip("203.0.113.1"), later).is_err());
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_as_ipv4() {
        let limiter = LoginLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        limiter.begin_at("a", ip("2001:db8:1:2::1"), t0).unwrap();
        limiter
            .begin_at("b", ip("2001:db8:1:2:ffff::9"), t0)
            .unwrap();
        assert!(limiter.begin_at("c", ip("2001:db8:1:2::77"), t0).is_err());
        assert!(limiter.begin_at("c", ip("2001:db8:1:3::1"), t0).is_ok());
        limiter.begin_at("d", ip("::ffff:192.0.2.1"), t0).unwrap();
        limiter.begin_at("e", ip("192.0.2.1"), t0).unwrap();
        assert!(limiter.begin_at("f", ip("192.0.2.1"), t0).is_err());
    }

    #[test]
    fn the_map_stays_bounded() {
        let limiter = LoginLimiter::new(10, WINDOW);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 500) {
            let _ = limiter.begin_at(&format!("user{i}"), None, t0);
        }
        assert_eq!(limiter.tracked(), MAX_TRACKED);
    }

    #[test]
    fn client_ip_prefers_the_configured_header() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "10.0.0.1, 192.0.2.7".parse().unwrap());
        let peer = ConnectInfo("127.0.0.1:5000".parse::<SocketAddr>().unwrap());
        assert_eq!(
            client_ip(&headers, Some(&peer), Some("x-forwarded-for")),
            ip("192.0.2.7")
        );
        assert_eq!(client_ip(&headers, Some(&peer), None), ip("127.0.0.1"));
        assert_eq!(client_ip(&HeaderMap::new(), None, None), None);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
