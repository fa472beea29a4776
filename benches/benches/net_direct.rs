//! Direct connections and data over loopback (issue 13, network layer), printed medians and
//! rates:
//!
//! - `direct_open`: Bob's presence, linked to Alice's already, opens a direct connection to
//!   her (`Presence::open_direct`, until her answer arrived); each is closed before the next.
//!   Target: < 5 ms median.
//! - `direct_1KiB`: 1 KiB frames sent back to back on one direct connection, counted from the
//!   first send until Alice's reader took the last one from `Presence::incoming_data`.
//!   Target: > 50,000 per second.
//! - `direct_1MiB`: the same with 1 MiB frames. Target: > 500 MiB/s.
//! - `tcp_1KiB`, `tcp_1MiB`: the same frames (type, length, bytes) over a plain
//!   `tokio::net::TcpStream` on loopback, read into frames and through a queue of the same
//!   bound by a reader task, in the same run; the ratio direct/TCP is printed.
//!
//! With `--test` (CI), a few of each.
#![allow(clippy::expect_used)] // A benchmark whose setup fails has nothing to measure: abort.

use std::time::{Duration, Instant};

use peergroup_benches::{fixture, fresh_copy, next_event, start_presence, test_mode};
use peergroup_net::{DATA_QUEUE, IncomingData, Presence, PresenceEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Where the presences listen.
const LOOPBACK: &str = "127.0.0.1:0";
const TYPE: Uuid = Uuid::from_u128(0xda7a);
const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// Bob opens `n` direct connections to Alice one after the other, closing each (and waiting
/// until Alice saw it closed); the times to open.
async fn opens(alice: &Presence, bob: &Presence, alice_name: &peergroup_identity::PeerName, n: usize) -> Vec<Duration> {
    let mut alice_events = alice.subscribe();
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let id = bob.open_direct(alice_name).await.expect("open");
        took.push(start.elapsed());
        bob.close_direct(id).await.expect("close");
        next_event(&mut alice_events, |e| matches!(e, PresenceEvent::DirectClosed { .. })).await;
    }
    took
}

/// Sends `count` frames of `size` bytes on a new direct connection; the time until Alice's
/// reader took the last.
async fn direct_transfer(
    bob: &Presence,
    incoming: &mut mpsc::Receiver<IncomingData>,
    alice_name: &peergroup_identity::PeerName,
    size: usize,
    count: usize,
) -> Duration {
    let id = bob.open_direct(alice_name).await.expect("open");
    let bytes = vec![0x5a; size];
    let start = Instant::now();
    let send = async {
        for _ in 0..count {
            bob.send_data(id, TYPE, &bytes).await.expect("send");
        }
    };
    let receive = async {
        let mut got = 0;
        while got < count {
            let data = tokio::time::timeout(Duration::from_secs(60), incoming.recv())
                .await
                .expect("data in time")
                .expect("queue");
            assert_eq!(data.bytes.len(), size);
            got += 1;
        }
    };
    tokio::join!(send, receive);
    let took = start.elapsed();
    bob.close_direct(id).await.expect("close");
    took
}

/// The same frames over a plain TCP connection on loopback, read into frames and queued.
async fn tcp_transfer(size: usize, count: usize) -> Duration {
    let listener = tokio::net::TcpListener::bind(LOOPBACK).await.expect("listen");
    let addr = listener.local_addr().expect("addr");
    let (out, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
    let mut out = out.expect("connect");
    let (inbound, _) = accepted.expect("accept");
    out.set_nodelay(true).expect("nodelay");
    let (queue, mut incoming) = mpsc::channel::<(Uuid, Vec<u8>)>(DATA_QUEUE);
    let reader = tokio::spawn(async move {
        let mut inbound = BufReader::with_capacity(64 * KIB, inbound);
        for _ in 0..count {
            let mut header = [0; 20];
            inbound.read_exact(&mut header).await.expect("header");
            let len = u32::from_be_bytes(header[16..].try_into().expect("4 bytes")) as usize;
            let mut bytes = vec![0; len];
            inbound.read_exact(&mut bytes).await.expect("bytes");
            let kind = Uuid::from_bytes(header[..16].try_into().expect("16 bytes"));
            queue.send((kind, bytes)).await.expect("queue");
        }
    });
    let bytes = vec![0x5a; size];
    let start = Instant::now();
    let send = async {
        for _ in 0..count {
            let mut frame = Vec::with_capacity(20 + size.min(64 * KIB));
            frame.extend_from_slice(TYPE.as_bytes());
            frame.extend_from_slice(&u32::try_from(size).expect("size").to_be_bytes());
            if size <= 64 * KIB {
                frame.extend_from_slice(&bytes);
                out.write_all(&frame).await.expect("write");
            } else {
                out.write_all(&frame).await.expect("write");
                out.write_all(&bytes).await.expect("write");
            }
        }
    };
    let receive = async {
        for _ in 0..count {
            let (_, data) = incoming.recv().await.expect("frame");
            assert_eq!(data.len(), size);
        }
    };
    tokio::join!(send, receive);
    let took = start.elapsed();
    reader.await.expect("reader");
    took
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let _guard = rt.enter();
    let quick = test_mode();
    let fx = fixture(0);
    let work = tempfile::tempdir().expect("tempdir");
    let root = work.path().join("home");
    fresh_copy(&fx.root, &root);
    let alice = start_presence(&root, &fx.alice, &fx.group, LOOPBACK);
    let bob = start_presence(&root, &fx.bob, &fx.group, LOOPBACK);
    let mut incoming = alice.incoming_data().expect("the data queue");
    let mut events = bob.subscribe();
    bob.dial(alice.local_addr().expect("addr"));
    rt.block_on(next_event(&mut events, |e| *e == PresenceEvent::Ready));

    let n_open = if quick { 10 } else { 500 };
    let took = rt.block_on(opens(&alice, &bob, &fx.alice, n_open));
    let open_median = median(took.clone());
    println!(
        "direct_open: median {:.3} ms over {n_open} (min {:.3} ms, max {:.3} ms); target < 5 ms",
        open_median.as_secs_f64() * 1e3,
        took.iter().min().expect("one").as_secs_f64() * 1e3,
        took.iter().max().expect("one").as_secs_f64() * 1e3,
    );

    let rounds = if quick { 1 } else { 3 };
    let (small, large) = if quick { (1_000, 8) } else { (200_000, 1_000) };
    let mut d_small = Vec::new();
    let mut t_small = Vec::new();
    let mut d_large = Vec::new();
    let mut t_large = Vec::new();
    for _ in 0..rounds {
        d_small.push(rt.block_on(direct_transfer(&bob, &mut incoming, &fx.alice, KIB, small)));
        t_small.push(rt.block_on(tcp_transfer(KIB, small)));
        d_large.push(rt.block_on(direct_transfer(&bob, &mut incoming, &fx.alice, MIB, large)));
        t_large.push(rt.block_on(tcp_transfer(MIB, large)));
    }
    let per_second = |n: usize, d: Duration| n as f64 / d.as_secs_f64();
    let (ds, ts) = (per_second(small, median(d_small)), per_second(small, median(t_small)));
    println!(
        "direct_1KiB: {ds:.0} messages/s; tcp_1KiB: {ts:.0} messages/s; direct/tcp {:.2} \
         (median of {rounds} x {small}); target > 50,000/s",
        ds / ts
    );
    let (dl, tl) = (per_second(large, median(d_large)), per_second(large, median(t_large)));
    println!(
        "direct_1MiB: {dl:.0} MiB/s; tcp_1MiB: {tl:.0} MiB/s; direct/tcp {:.2} \
         (median of {rounds} x {large} MiB); target > 500 MiB/s",
        dl / tl
    );
    bob.close();
    alice.close();
}
