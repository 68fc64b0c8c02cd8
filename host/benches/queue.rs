//! `queue`: end-to-end queue throughput and latency, in process: a guest sends messages
//! (`tests/guests/queue-probe`, `GET /send/sink` with `x-count: 100`: one `send-batch` of 100,
//! durable when it returns) while the queue trigger hands them to the same component's
//! `queue-handler`, which acknowledges each batch at once.
//!
//! For each backend (sled; Redis Streams on a `redis-server` the bench starts on loopback),
//! each batch size (1, 32) and each `max_concurrency` (1, 4), three runs on fresh runtimes:
//! - end to end: messages per second from the first send to the last acknowledgement, the
//!   guest sending 100 per call while the trigger consumes;
//! - drain: messages per second the trigger handles from a queue filled beforehand;
//! - paced: the p50 and p99 delivery delay at 2 000 messages/s offered (10 per send every
//!   5 ms, for 3 s): from the guest's send to the start of the handler call that gets the
//!   message, read from the `wasmhost_queue_delivery_delay_seconds` histogram, so each figure
//!   is a bucket's upper bound.
//!
//! Not a criterion bench: one run is one throughput figure. Run:
//! `cargo bench -p wasmhost --bench queue` (`BENCH_QUEUE_MESSAGES` sets the messages per run,
//! default 20 000). Figures go in BENCHMARKS.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Empty};
use wasmhost::app_version::AppVersion;
use wasmhost_tests::{RedisServer, guests};

mod common;

/// Messages per guest send.
const PER_SEND: u64 = 100;

/// The offered load of the latency runs: messages per second, sent [`PACED_PER_SEND`] at a
/// time.
const PACED_RATE: u64 = 2_000;
/// Messages per guest send in the latency runs.
const PACED_PER_SEND: u64 = 10;
/// How long a latency run sends.
const PACED_FOR: Duration = Duration::from_secs(3);

fn main() {
    let messages: u64 = std::env::var("BENCH_QUEUE_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let redis = RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| backend | batch_size | max_concurrency | end-to-end msg/s | drain msg/s | delay p50 ≤ | delay p99 ≤ |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut run = 0;
    for backend in ["sled", "redis"] {
        for batch_size in [1, 32] {
            for concurrency in [1, 4] {
                let mut setup = || {
                    run += 1;
                    let config = match backend {
                        "sled" => String::new(),
                        _ => format!(
                            "[queue.sink]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"bench{run}\"\n",
                            redis.url()
                        ),
                    };
                    Bench::new(config, batch_size, concurrency)
                };
                // Redis connections are made on the runtime.
                let end_to_end = rt.block_on(async { setup().await.end_to_end(messages).await });
                let drain = rt.block_on(async { setup().await.drain(messages).await });
                let (p50, p99) = rt.block_on(async { setup().await.paced().await });
                println!(
                    "| {backend} | {batch_size} | {concurrency} | {end_to_end:.0} | {drain:.0} | {} | {} |",
                    millis(p50),
                    millis(p99)
                );
            }
        }
    }
}

fn millis(seconds: f64) -> String {
    if seconds.is_infinite() {
        "> 60 s".to_owned()
    } else {
        format!("{} ms", seconds * 1e3)
    }
}

/// A version with the probe on queue `sink`, in a directory of its own, and its metrics.
struct Bench {
    runtime: Arc<AppVersion>,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn new(config: String, batch_size: u32, concurrency: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifest = format!(
            "manifest_version = 1\n[application]\nname = \"bench\"\n\
             [[trigger.http]]\nroute = \"/send/:queue\"\ncomponent = \"probe\"\n\
             [[trigger.queue]]\nqueue = \"sink\"\ncomponent = \"probe\"\n\
             batch_size = {batch_size}\nmax_concurrency = {concurrency}\n\
             [component.probe]\nsource = \"{}\"\nqueues = [\"sink\"]\n",
            guests::QUEUE_PROBE
        );
        let runtime = common::version(dir.path(), &manifest, &config, Vec::new()).await;
        Self { runtime, _dir: dir }
    }

    /// Waits until `n` messages are acknowledged.
    async fn acked(&self, n: u64) {
        let acked = &self.runtime.queues.get("sink").metrics.acked;
        while acked.get() < n {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// Messages per second with the guest sending (100 per send) while the trigger consumes,
    /// from the first send to the last acknowledgement.
    async fn end_to_end(self, messages: u64) -> f64 {
        let n = messages / PER_SEND * PER_SEND;
        let started = Instant::now();
        let consumer = tokio::spawn(wasmhost::trigger::queue::run_all(
            self.runtime.clone(),
            Default::default(),
        ));
        let runtime = self.runtime.clone();
        let producer = tokio::spawn(async move {
            for _ in 0..n / PER_SEND {
                send(&runtime, PER_SEND).await;
            }
        });
        self.acked(n).await;
        let rate = n as f64 / started.elapsed().as_secs_f64();
        producer.await.unwrap();
        consumer.abort();
        rate
    }

    /// Messages per second the trigger takes, handles and acknowledges from a queue the guest
    /// filled beforehand.
    async fn drain(self, messages: u64) -> f64 {
        let n = messages / PER_SEND * PER_SEND;
        for _ in 0..n / PER_SEND {
            send(&self.runtime, PER_SEND).await;
        }
        let started = Instant::now();
        let consumer = tokio::spawn(wasmhost::trigger::queue::run_all(
            self.runtime.clone(),
            Default::default(),
        ));
        self.acked(n).await;
        let rate = n as f64 / started.elapsed().as_secs_f64();
        consumer.abort();
        rate
    }

    /// The p50 and p99 delivery delay (bucket bounds, seconds) at [`PACED_RATE`] for
    /// [`PACED_FOR`].
    async fn paced(self) -> (f64, f64) {
        let consumer = tokio::spawn(wasmhost::trigger::queue::run_all(
            self.runtime.clone(),
            Default::default(),
        ));
        let sends = PACED_RATE * PACED_FOR.as_secs() / PACED_PER_SEND;
        let mut ticker = tokio::time::interval(Duration::from_micros(
            1_000_000 * PACED_PER_SEND / PACED_RATE,
        ));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..sends {
            ticker.tick().await;
            send(&self.runtime, PACED_PER_SEND).await;
        }
        self.acked(sends * PACED_PER_SEND).await;
        consumer.abort();
        let text = self.runtime.metrics.encode(0);
        (quantile(&text, 0.5), quantile(&text, 0.99))
    }
}

/// One `GET /send/sink` with `x-count: count`: the guest sends `count` messages in one
/// `send-batch`; asserts 200.
async fn send(runtime: &AppVersion, count: u64) {
    let request = Request::builder()
        .uri("/send/sink")
        .header("host", "localhost")
        .header("x-count", count.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let client = HeaderValue::from_static("127.0.0.1:1");
    let response = wasmhost::trigger::http::handle(runtime, client, request).await;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{body:?}");
}

/// The upper bound of the first delivery delay bucket of queue `sink` holding quantile `q` of
/// its messages.
fn quantile(exposition: &str, q: f64) -> f64 {
    let lines = exposition.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let sample = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "wasmhost_queue_delivery_delay_seconds"
                && s.labels.get("queue") == Some("sink")
        })
        .expect("the delivery delay histogram");
    let prometheus_parse::Value::Histogram(buckets) = &sample.value else {
        panic!("not a histogram: {:?}", sample.value);
    };
    let mut buckets = buckets.clone();
    buckets.sort_by(|a, b| a.less_than.total_cmp(&b.less_than));
    let total = buckets.last().map_or(0.0, |b| b.count);
    buckets
        .iter()
        .find(|b| b.count >= q * total)
        .map_or(f64::INFINITY, |b| b.less_than)
}
