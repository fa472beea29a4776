//! Link-local resolution between two hosts made of network namespaces, `A —(va|vb)— B`, IPv6
//! link-local only: B registers `0.bench` in `LinkLocal_vb`; A resolves it in `LinkLocal_va`,
//! timed from the call to the first endpoint (`max` = 1). Target: median < 50 ms.
//!
//! - `pnrp_mdns_resolve_warm` (criterion): one medium for every resolution, as a process that
//!   resolves again and again: its daemon's cache holds the answer after the first.
//! - `pnrp_mdns_resolve_cold` (printed): a new medium (a new daemon, empty cache) per
//!   resolution, one resolution every 1.1 s (a responder multicasts a record at most once a
//!   second, RFC 6762 §6; the browse's queries meet that rule, the one-shot legacy unicast
//!   query that answers a cold resolution first does not).
//!
//! This binary runs three times: as the parent (makes the namespaces, needs root), as the
//! registrar inside B, and as the measurement inside A (criterion runs there).
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use peergroup_pnrp::{CloudName, MdnsMedium, Medium, NoProofs, Publication, register};
use peergroup_testkit::Netns;

const ROLE: &str = "PG_BENCH_MDNS";
const NAME: &str = "0.bench";

fn medium() -> Arc<MdnsMedium> {
    Arc::new(MdnsMedium::new(Arc::new(NoProofs), Arc::new(NoProofs)))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Inside B: register, say so, keep it until standard input closes.
fn registrar() {
    let rt = runtime();
    rt.block_on(async {
        let cloud = CloudName::parse("LinkLocal_vb").expect("cloud");
        let publication =
            Publication::new(cloud, NAME, vec!["[fe80::b]:3587".parse().expect("addr")], "bench").expect("publication");
        let registration = register(medium(), publication).await.expect("register");
        println!("REGISTERED");
        std::io::stdout().flush().expect("stdout");
        tokio::task::spawn_blocking(|| std::io::stdin().read_to_end(&mut Vec::new()))
            .await
            .expect("join")
            .expect("stdin");
        registration.unregister().await.expect("unregister");
    });
}

fn resolve_first(rt: &tokio::runtime::Runtime, medium: &MdnsMedium, cloud: &CloudName) -> Duration {
    let started = Instant::now();
    let found = rt.block_on(medium.resolve(NAME, cloud, 1, Duration::from_secs(5))).expect("resolve");
    let took = started.elapsed();
    assert_eq!(found.len(), 1, "not found within 5 s");
    took
}

/// Inside A: the measurements.
fn measure() {
    let rt = runtime();
    let cloud = CloudName::parse("LinkLocal_va").expect("cloud");
    let quick = std::env::args().any(|a| a == "--test");

    let warm = medium();
    let first = resolve_first(&rt, &warm, &cloud);
    println!("pnrp_mdns_resolve_first (a new daemon, the registration just announced): {:.1} ms", ms(first));
    let mut c = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3)).configure_from_args();
    c.bench_function("pnrp_mdns_resolve_warm", |b| b.iter(|| resolve_first(&rt, &warm, &cloud)));
    c.final_summary();
    drop(warm);

    let n = if quick { 2 } else { 15 };
    let mut cold: Vec<Duration> = (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(1100));
            let m = medium();
            resolve_first(&rt, &m, &cloud)
        })
        .collect();
    cold.sort();
    println!(
        "pnrp_mdns_resolve_cold: median {:.1} ms, min {:.1} ms, max {:.1} ms ({n} resolutions, each by a new daemon)",
        ms(cold[n / 2]),
        ms(cold[0]),
        ms(cold[n - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

// The registrar is waited for on every path that does not abort the benchmark.
#[allow(clippy::zombie_processes)]
fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("register") => return registrar(),
        Ok("measure") => return measure(),
        _ => {}
    }
    let exe = std::env::current_exe().expect("this binary");
    let Some(a) = Netns::create("bma") else { return };
    let Some(b) = Netns::create("bmb") else { return };
    a.veth_to(&b, "va", "vb");
    a.up_with("va", &["fe80::a/64"]);
    b.up_with("vb", &["fe80::b/64"]);

    let mut registrar =
        b.command(&exe).env(ROLE, "register").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("registrar");
    let mut line = String::new();
    BufReader::new(registrar.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "REGISTERED", "the registrar failed: {:?}", registrar.wait());

    let status = a.command(&exe).args(std::env::args().skip(1)).env(ROLE, "measure").status().expect("measure");
    drop(registrar.stdin.take());
    registrar.wait().expect("registrar");
    assert!(status.success(), "the measurement failed");
}
