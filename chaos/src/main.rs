//! `ferry-chaos --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] [--faults JSON]
//! [--max-seconds 900] [--max-requests 100000]`
//!
//! Prints `ferry-chaos listening on http://ADDR` once it accepts connections, then serves
//! until its time or request budget is spent.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use ferry_chaos::{Ending, Faults, Limits, Proxy};

const USAGE: &str = "usage: ferry-chaos --upstream 127.0.0.1:PORT [--listen 127.0.0.1:0] \
[--faults JSON] [--max-seconds 900] [--max-requests 100000]";

fn parse(args: &[String]) -> Result<(SocketAddr, SocketAddr, Faults, Limits), String> {
    let mut listen: SocketAddr = "127.0.0.1:0".parse().expect("a valid address");
    let mut upstream = None;
    let mut faults = Faults::default();
    let mut limits = Limits {
        max_duration: Duration::from_secs(900),
        max_requests: 100_000,
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--listen" => listen = value.parse().map_err(|e| bad(&e))?,
            "--upstream" => upstream = Some(value.parse().map_err(|e| bad(&e))?),
            "--faults" => faults = serde_json::from_str(value).map_err(|e| bad(&e))?,
            "--max-seconds" => {
                limits.max_duration = Duration::from_secs(value.parse().map_err(|e| bad(&e))?)
            }
            "--max-requests" => limits.max_requests = value.parse().map_err(|e| bad(&e))?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    let upstream = upstream.ok_or_else(|| format!("--upstream is required\n{USAGE}"))?;
    Ok((listen, upstream, faults, limits))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (listen, upstream, faults, limits) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("ferry-chaos: {e}");
            return ExitCode::from(2);
        }
    };
    let proxy = match Proxy::bind(listen, upstream, faults, limits).await {
        Ok(proxy) => proxy,
        Err(e) => {
            eprintln!("ferry-chaos: {e}");
            return ExitCode::from(2);
        }
    };
    println!("ferry-chaos listening on http://{}", proxy.local_addr());
    match proxy.run().await {
        Ending::Deadline => eprintln!("ferry-chaos: time is up; stopping"),
        Ending::RequestBudget => eprintln!("ferry-chaos: request budget spent; stopping"),
    }
    ExitCode::SUCCESS
}
