//! Discovery measurements against a real etcd (started here on free loopback ports):
//! - snapshot of 10,000 Dynamo 1.x instance keys: time to load, and memory held (VmRSS
//!   before and after, with the snapshot alive);
//! - event latency: an etcd put to the live view's `on_change` call, with the default 50 ms
//!   coalescing and with 1 ms.
//!
//! `cargo bench --bench discovery` (etcd from the Debian package etcd-server).

#[path = "../tests/discovery_support/mod.rs"]
#[allow(unused_imports)]
mod discovery_support;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use dynamo_ctl::discovery::{self, Config};

const N: usize = 10_000;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Context switches of every thread of this process so far (wake-ups, roughly).
fn ctxt_switches() -> u64 {
    let Ok(rd) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    rd.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
        .flat_map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

fn fill(ep: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = etcd_client::Client::connect([ep], None).await.unwrap();
        for chunk in 0..N / 100 {
            let ops: Vec<etcd_client::TxnOp> = (0..100)
                .map(|i| {
                    let id = 0x694d_a20b_0000_0000u64 + (chunk * 100 + i) as u64;
                    let comp = ["backend", "prefill", "decode", "frontend"][i % 4];
                    let key = format!("v1/instances/bench{}/{comp}/generate/{id:x}", chunk % 10);
                    let value = format!(
                        r#"{{"type":"Endpoint","component":"{comp}","endpoint":"generate","namespace":"bench{}","instance_id":{id},"transport":{{"tcp":"127.0.0.1:40469/{id:x}/bench/{comp}/generate"}},"device_type":"cuda","request_plane_codec":"msgpack"}}"#,
                        chunk % 10
                    );
                    etcd_client::TxnOp::put(key, value, None)
                })
                .collect();
            c.txn(etcd_client::Txn::new().and_then(ops)).await.unwrap();
        }
    });
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it:
    // a measurement is no test, so it only says how to run it then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/discovery.rs measures; run it with `cargo bench --bench discovery`");
        return;
    }
    let etcd = discovery_support::Etcd::start();
    let ep = etcd.endpoint();
    let t = Instant::now();
    fill(&ep);
    println!("put {N} keys in {:.2} s", t.elapsed().as_secs_f64());

    let cfg = Config::etcd_only(&ep);
    // Warm up (connection set-up, allocator), then measure.
    let _ = discovery::snapshot(&cfg, Duration::from_secs(10));
    // Memory: five snapshots held at once, RSS growth per snapshot.
    let before = vm_rss_kib();
    let held: Vec<_> = (0..5)
        .map(|_| discovery::snapshot(&cfg, Duration::from_secs(10)))
        .collect();
    let per = vm_rss_kib().saturating_sub(before) / 5;
    assert!(held.iter().all(|s| s.instances.len() == N));
    drop(held);
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let snap = discovery::snapshot(&cfg, Duration::from_secs(10));
        times.push(t.elapsed());
        assert_eq!(snap.instances.len(), N);
    }
    times.sort();
    println!(
        "snapshot of {N} instances (connect included): median {:.1} ms (min {:.1}, max {:.1}) of 5; VmRSS {per} KiB per snapshot held",
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3,
    );

    for coalesce in [Duration::from_millis(50), Duration::from_millis(1)] {
        let mut cfg = Config::etcd_only(&ep);
        cfg.coalesce = coalesce;
        let (tx, rx) = mpsc::channel::<(Instant, usize)>();
        let handle = discovery::spawn_watch(cfg, move |s| {
            let _ = tx.send((Instant::now(), s.instances.len()));
        });
        let (_, n) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(n, N);
        let mut lat = Vec::new();
        for i in 0..40 {
            let key = format!("v1/instances/lat/backend/generate/{:x}", 0x1000 + i);
            let t = Instant::now();
            etcd.put(&key, "{}", None);
            // The put itself (a fresh client each time) is not counted: from its return.
            let put_done = Instant::now();
            let (at, _) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
            lat.push((at.saturating_duration_since(put_done), at - t));
            std::thread::sleep(Duration::from_millis(100));
        }
        lat.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "put -> on_change with {} ms coalescing, over {N} watched keys: median {:.1} ms, max {:.1} ms after the put returned (40 puts)",
            coalesce.as_millis(),
            ms(lat[20].0),
            ms(lat[39].0)
        );
        if coalesce.as_millis() == 50 {
            // Idle: nothing changes for 5 s; count the process's context switches.
            std::thread::sleep(Duration::from_millis(500));
            let before = ctxt_switches();
            std::thread::sleep(Duration::from_secs(5));
            let after = ctxt_switches();
            println!(
                "idle live view (etcd watch of {} keys): {} context switches in 5 s, all threads",
                N + 40,
                after - before
            );
        }
        drop(handle);
        for i in 0..40 {
            etcd.delete(&format!(
                "v1/instances/lat/backend/generate/{:x}",
                0x1000 + i
            ));
        }
    }
}
