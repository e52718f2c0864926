//! The chaos proxy, between a raw TCP client and a small upstream that records what it
//! received: each fault does what it says, and only what it says.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_chaos::{Ending, Faults, Limits, Proxy, Stats};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// What the upstream saw of one request: method, path, body bytes, whether it was whole.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    path: String,
    received: usize,
    complete: bool,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An upstream on loopback: GET answers 100 KiB, anything else 204.
async fn upstream() -> (SocketAddr, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let seen = Arc::clone(&log);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let seen = Arc::clone(&seen);
                        async move {
                            let method = req.method().to_string();
                            let path = req.uri().path().to_string();
                            let mut body = req.into_body();
                            let mut received = 0;
                            let mut complete = true;
                            while let Some(frame) = body.frame().await {
                                match frame {
                                    Ok(f) => received += f.data_ref().map_or(0, |d| d.len()),
                                    Err(_) => {
                                        complete = false;
                                        break;
                                    }
                                }
                            }
                            let get = method == "GET";
                            seen.lock().unwrap().push(Seen {
                                method,
                                path,
                                received,
                                complete,
                            });
                            let mut response = if get {
                                Response::new(Full::new(Bytes::from(vec![b'x'; 100 * 1024])))
                            } else {
                                Response::new(Full::new(Bytes::new()))
                            };
                            if !get {
                                *response.status_mut() = hyper::StatusCode::NO_CONTENT;
                            }
                            Ok::<_, io::Error>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, log)
}

const LIMITS: Limits = Limits {
    max_duration: Duration::from_secs(60),
    max_requests: 10_000,
};

async fn proxy(upstream: SocketAddr, faults: Faults) -> SocketAddr {
    proxy_with(upstream, faults, LIMITS).await.0
}

async fn proxy_with(
    upstream: SocketAddr,
    faults: Faults,
    limits: Limits,
) -> (SocketAddr, tokio::task::JoinHandle<Ending>) {
    let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), upstream, faults, limits)
        .await
        .unwrap();
    let addr = proxy.local_addr();
    (addr, tokio::spawn(proxy.run()))
}

/// What a client got back: a status and body, or the socket error.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

/// One request on its own connection, from a blocking thread so that the proxy's
/// behaviour on the wire (RST, FIN, silence) is seen as a socket sees it.
async fn send(addr: SocketAddr, method: &str, path: &str, body: usize) -> io::Result<Answer> {
    send_within(addr, method, path, body, Duration::from_secs(20)).await
}

async fn send_within(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: usize,
    timeout: Duration,
) -> io::Result<Answer> {
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {body}\r\nConnection: close\r\n\r\n"
    );
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.write_all(head.as_bytes())?;
        stream.write_all(&vec![b'b'; body])?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        let text = String::from_utf8_lossy(&raw);
        let Some((headers, _)) = text.split_once("\r\n\r\n") else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("no answer: {text:?}"),
            ));
        };
        let status = headers[9..12].parse().unwrap();
        let body = raw[headers.len() + 4..].to_vec();
        Ok(Answer {
            status,
            headers: headers.to_ascii_lowercase(),
            body,
        })
    })
    .await
    .unwrap()
}

async fn stats(addr: SocketAddr) -> Stats {
    let answer = send(addr, "GET", "/__chaos/stats", 0).await.unwrap();
    serde_json::from_slice(&answer.body).unwrap()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(200)).await;
}

#[tokio::test]
async fn without_faults_it_passes_requests_and_answers_through() {
    let (up, log) = upstream().await;
    let addr = proxy(up, Faults::default()).await;
    let get = send(addr, "GET", "/api/assets", 0).await.unwrap();
    assert_eq!(get.status, 200);
    assert_eq!(get.body.len(), 100 * 1024);
    let patch = send(addr, "PATCH", "/api/uploads/1", 300_000)
        .await
        .unwrap();
    assert_eq!(patch.status, 204);
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].received, 300_000);
    assert!(seen[1].complete);
    let s = stats(addr).await;
    assert_eq!((s.requests, s.in_scope, s.upload_bytes), (2, 2, 300_000));
    assert_eq!(s.bytes_down, 100 * 1024);
}

#[tokio::test]
async fn fail_rate_answers_an_error_status_and_the_server_never_sees_the_request() {
    let (up, log) = upstream().await;
    let faults = Faults {
        fail_rate: 1.0,
        fail_statuses: vec![503],
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let answer = send(addr, "POST", "/api/uploads", 50_000).await.unwrap();
    assert_eq!(answer.status, 503);
    assert!(
        answer.headers.contains("retry-after: 1"),
        "{}",
        answer.headers
    );
    assert!(log.lock().unwrap().is_empty());
    assert_eq!(stats(addr).await.failed.get("503"), Some(&1));
}

#[tokio::test]
async fn the_statuses_are_drawn_from_the_list_at_about_the_rate_asked() {
    let (up, log) = upstream().await;
    let faults = Faults {
        fail_rate: 0.3,
        seed: 7,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let mut failed = 0;
    for _ in 0..200 {
        let status = send(addr, "HEAD", "/api/uploads/1", 0)
            .await
            .unwrap()
            .status;
        if status != 204 {
            assert!([500, 502, 503, 429].contains(&status), "{status}");
            failed += 1;
        }
    }
    assert!(
        (35..=85).contains(&failed),
        "{failed} of 200 failed at a rate of 0.3"
    );
    assert_eq!(log.lock().unwrap().len(), 200 - failed);
    assert_eq!(
        stats(addr).await.failed.values().sum::<u64>(),
        failed as u64
    );
}

#[tokio::test]
async fn a_lost_answer_reaches_the_server_but_not_the_client() {
    let (up, log) = upstream().await;
    let faults = Faults {
        lose_answer_rate: 1.0,
        fail_statuses: vec![502],
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let answer = send(addr, "PATCH", "/api/uploads/1", 40_000).await.unwrap();
    assert_eq!(answer.status, 502);
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].complete && seen[0].received == 40_000);
}

#[tokio::test]
async fn every_third_request_is_reset_after_the_bytes_asked() {
    let (up, log) = upstream().await;
    let faults = Faults {
        reset_every: 3,
        reset_after_bytes: 1_000,
        methods: vec!["PATCH".into()],
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    for round in 1..=6 {
        let answer = send(addr, "PATCH", "/api/uploads/1", 200_000).await;
        if round % 3 == 0 {
            let e = answer.expect_err("a reset");
            assert!(
                matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
                ),
                "a TCP reset, not {e:?}"
            );
        } else {
            assert_eq!(answer.unwrap().status, 204);
        }
    }
    settle().await;
    // The server gets every other request whole; of a reset one, at most what came
    // before the reset (hyper may not have started forwarding it at all).
    let seen = log.lock().unwrap().clone();
    let whole: Vec<_> = seen.iter().filter(|s| s.complete).collect();
    assert_eq!(whole.len(), 4, "{seen:?}");
    assert!(whole.iter().all(|s| s.received == 200_000), "{seen:?}");
    assert!(
        seen.iter()
            .filter(|s| !s.complete)
            .all(|s| s.received < 200_000),
        "{seen:?}"
    );
    assert_eq!(stats(addr).await.resets, 2);
}

#[tokio::test]
async fn a_reset_of_a_short_request_comes_after_its_body_and_before_the_answer() {
    let (up, log) = upstream().await;
    let faults = Faults {
        reset_every: 1,
        reset_after_bytes: 1 << 20,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let e = send(addr, "PATCH", "/api/uploads/1", 10_000)
        .await
        .expect_err("a reset");
    assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
    let seen = log.lock().unwrap().clone();
    assert!(seen[0].complete && seen[0].received == 10_000, "{seen:?}");
}

#[tokio::test]
async fn a_dropped_request_delivers_half_its_body_and_no_answer() {
    let (up, log) = upstream().await;
    let faults = Faults {
        drop_request_rate: 1.0,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    assert!(send(addr, "PATCH", "/api/uploads/1", 100_000)
        .await
        .is_err());
    settle().await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].complete && seen[0].received == 50_000, "{seen:?}");
}

#[tokio::test]
async fn a_dropped_response_is_cut_halfway_or_never_sent() {
    let (up, log) = upstream().await;
    let faults = Faults {
        drop_response_rate: 1.0,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    // An answer with a body arrives cut short of its Content-Length...
    match send(addr, "GET", "/api/assets", 0).await {
        Ok(answer) => {
            assert!(
                answer.headers.contains("content-length: 102400"),
                "{}",
                answer.headers
            );
            assert!(
                answer.body.len() < 100 * 1024,
                "{} bytes",
                answer.body.len()
            );
        }
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
    }
    // ...and one without a body (204) never arrives, though the server did the work.
    assert!(send(addr, "PATCH", "/api/uploads/1", 20_000).await.is_err());
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].complete && seen[1].received == 20_000);
    assert_eq!(stats(addr).await.dropped_responses, 2);
}

#[tokio::test]
async fn latency_and_jitter_delay_each_request() {
    let (up, _) = upstream().await;
    let faults = Faults {
        latency_ms: 300,
        jitter_ms: 100,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let start = Instant::now();
    send(addr, "HEAD", "/api/uploads/1", 0).await.unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(2_000), "{took:?}");
}

#[tokio::test]
async fn bandwidth_caps_uploads() {
    let (up, _) = upstream().await;
    let faults = Faults {
        bandwidth: 200_000,
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    let start = Instant::now();
    assert_eq!(
        send(addr, "PATCH", "/api/uploads/1", 200_000)
            .await
            .unwrap()
            .status,
        204
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "200 kB at 200 kB/s took {took:?}"
    );
}

#[tokio::test]
async fn a_black_hole_never_answers_what_it_caught_and_lets_later_requests_through() {
    let (up, log) = upstream().await;
    let addr = proxy(up, Faults::default()).await;
    let hole = send(addr, "POST", "/__chaos/blackhole?ms=800", 0)
        .await
        .unwrap();
    assert_eq!(hole.status, 200);
    let caught = tokio::spawn(send_within(
        addr,
        "PATCH",
        "/api/uploads/1",
        1_000,
        Duration::from_millis(2_500),
    ));
    // Outside the scope, traffic still flows (the page itself loads).
    assert_eq!(
        send(addr, "GET", "/index.html", 0).await.unwrap().status,
        200
    );
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        send(addr, "HEAD", "/api/uploads/1", 0)
            .await
            .unwrap()
            .status,
        204
    );
    let e = caught.await.unwrap().expect_err("no answer, ever");
    assert!(
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "silence, not {e:?}"
    );
    let methods: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.method.clone())
        .collect();
    assert_eq!(
        methods,
        ["GET", "HEAD"],
        "the caught request never reached the server"
    );
    assert_eq!(stats(addr).await.blackholed, 1);
}

#[tokio::test]
async fn faults_touch_only_their_scope_and_methods() {
    let (up, _) = upstream().await;
    let faults = Faults {
        fail_rate: 1.0,
        methods: vec!["patch".into()],
        ..Faults::default()
    };
    let addr = proxy(up, faults).await;
    assert_eq!(
        send(addr, "GET", "/pkg/ferry.js", 0).await.unwrap().status,
        200
    );
    assert_eq!(
        send(addr, "HEAD", "/api/uploads/1", 0)
            .await
            .unwrap()
            .status,
        204
    );
    assert_ne!(
        send(addr, "PATCH", "/api/uploads/1", 10)
            .await
            .unwrap()
            .status,
        204
    );
}

#[tokio::test]
async fn faults_change_while_it_runs() {
    let (up, _) = upstream().await;
    let addr = proxy(up, Faults::default()).await;
    let body = r#"{"failRate":1,"failStatuses":[429]}"#;
    let put = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /__chaos/faults HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert!(put.starts_with("HTTP/1.1 200"), "{put}");
    assert_eq!(
        send(addr, "HEAD", "/api/uploads/1", 0)
            .await
            .unwrap()
            .status,
        429
    );
}

#[tokio::test]
async fn it_forwards_to_loopback_only_and_refuses_bad_rates() {
    let listen = "127.0.0.1:0".parse().unwrap();
    for upstream in ["10.0.0.1:80", "192.168.1.1:8080", "8.8.8.8:53"] {
        let refused =
            Proxy::bind(listen, upstream.parse().unwrap(), Faults::default(), LIMITS).await;
        assert!(refused.is_err(), "{upstream} must be refused");
    }
    let public_listen = Proxy::bind(
        "0.0.0.0:0".parse().unwrap(),
        "127.0.0.1:1".parse().unwrap(),
        Faults::default(),
        LIMITS,
    )
    .await;
    assert!(public_listen.is_err());
    let faults = Faults {
        fail_rate: 0.7,
        drop_request_rate: 0.7,
        ..Faults::default()
    };
    assert!(
        Proxy::bind(listen, "127.0.0.1:1".parse().unwrap(), faults, LIMITS)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn it_stops_by_itself_when_its_request_budget_or_time_is_spent() {
    let (up, _) = upstream().await;
    let limits = Limits {
        max_duration: Duration::from_secs(60),
        max_requests: 2,
    };
    let (addr, running) = proxy_with(up, Faults::default(), limits).await;
    for _ in 0..2 {
        assert_eq!(
            send(addr, "HEAD", "/api/uploads/1", 0)
                .await
                .unwrap()
                .status,
            204
        );
    }
    assert_eq!(
        send(addr, "HEAD", "/api/uploads/1", 0)
            .await
            .unwrap()
            .status,
        503
    );
    let ending = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ending, Ending::RequestBudget);

    let limits = Limits {
        max_duration: Duration::from_millis(300),
        max_requests: 100,
    };
    let (_, running) = proxy_with(up, Faults::default(), limits).await;
    let ending = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ending, Ending::Deadline);
}
