//! `instantiate_and_handle` on 2 threads at once: the same per-request work as the criterion
//! bench (`benches/instantiate.rs`), run by 2 threads instantiating from the same `ProxyPre`
//! in parallel, each on its own current-thread tokio runtime, as `wasmhost serve` does on a
//! 2-core machine. Criterion reports means and medians only, so this prints the median and p99
//! of every request's own latency, and the combined rate.
//!
//! Run: `cargo bench -p wasmhost --bench parallel`. `BENCH_THREADS`, `BENCH_REQUESTS` and
//! `BENCH_WARMUP` override the defaults (2, 20 000 per thread, 2 000 per thread);
//! `BENCH_KEY=1` puts the route behind `auth = "function"` and sends a key with each request;
//! `BENCH_SPIN=1` serves the same component and route from a Spin manifest (Spin's headers);
//! the callgrind instruction count in BENCHMARKS.md runs one thread at two request counts.

use std::time::{Duration, Instant};

use http::HeaderValue;
use http_body_util::BodyExt;
use wasmhost::trigger::http::handle;

mod common;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no options.
    let (threads, warmup, requests) = (
        setting("BENCH_THREADS", 2),
        setting("BENCH_WARMUP", 2_000),
        setting("BENCH_REQUESTS", 20_000),
    );
    let dir = tempfile::tempdir().unwrap();
    // BENCH_KEY=1: the route needs a key, and every request sends one.
    // BENCH_SPIN=1: the same component and route, from a Spin manifest.
    let (runtime, key) = if std::env::var_os("BENCH_KEY").is_some() {
        let (version, key) = common::hello_version_with_key(dir.path());
        (version, Some(HeaderValue::from_str(&key).unwrap()))
    } else if std::env::var_os("BENCH_SPIN").is_some() {
        (common::spin_hello_version(dir.path()), None)
    } else {
        (common::hello_version(dir.path()), None)
    };
    let client = HeaderValue::from_static("127.0.0.1:1");

    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let runtime = &runtime;
                let client = client.clone();
                let key = key.clone();
                scope.spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    let mut own = Vec::with_capacity(requests);
                    for i in 0..warmup + requests {
                        let t = Instant::now();
                        rt.block_on(async {
                            let mut request = common::request();
                            if let Some(key) = &key {
                                request.headers_mut().insert("x-functions-key", key.clone());
                            }
                            let response = handle(runtime, client.clone(), request).await;
                            assert_eq!(response.status(), 200);
                            response.into_body().collect().await.unwrap();
                        });
                        if i >= warmup {
                            own.push(t.elapsed());
                        }
                    }
                    own
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let wall = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "instantiate_and_handle, {threads} threads in parallel, {} requests: median {:.1} µs, p99 {:.1} µs, {:.0} requests/s combined",
        latencies.len(),
        pct(0.5).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        (threads * (warmup + requests)) as f64 / wall.as_secs_f64(),
    );
}
