//! Layer 3, limits that hold (resolved in startup step 4, see [`crate`]): what one instance, one invocation and one component may use, so that no
//! guest and no client can take the host down.
//!
//! Three stages, as for the rest of the config: the operator's defaults for every component
//! ([`Limits`], from `wasmhost serve` flags), a component's own `[component.<id>.limits]` in
//! the manifest ([`crate::app::ComponentLimits`], which may only lower the memory limit below
//! the engine's), and the resolved [`ResolvedLimits`] each loaded component keeps. Per request
//! they cost a semaphore `try_acquire`, a store limiter and a timer. Guests that run long
//! share a [`LongLane`], so an infinite loop cannot starve the other requests of CPU.
//!
//! | limit | default | where | past it |
//! |---|---|---|---|
//! | linear memory per instance | 128 MiB | `--max-memory-mb`, `memory_mb` | `memory.grow` fails (counted); a guest that then traps answers 500 |
//! | CPU time per invocation (epoch deadline) | 1 000 ms | `--cpu-limit-ms`, `cpu_ms` | the guest is interrupted: 504 |
//! | wall-clock time per invocation, body streaming included | 30 000 ms | `--timeout-ms`, `timeout_ms` | the instance is dropped: 504 (or a cut body) |
//! | concurrent requests per component | 100 | `--max-concurrent-requests`, `max_concurrent_requests` | 503 with `Retry-After: 1`, at once |
//! | live instances in the process | 1 000 | `--max-instances` | 503 with `Retry-After: 1` |
//! | request body | 10 MiB | `--max-body-bytes` | 413 |
//! | request header fields (HTTP/1.1) | 100 | `--max-headers` | 431 |
//! | request head, bytes | 64 KiB | `--max-header-bytes` | 431 (HTTP/2: the stream is refused) |
//! | time to read a request head | 10 000 ms | `--header-read-timeout-ms` | 408 and the connection is closed (a connection's later requests: closed) |
//! | draining on SIGTERM or SIGINT | 10 000 ms | `--drain-timeout-ms` | what still runs is dropped; queue messages stay unacknowledged |
//! | open connections per listener | 10 000 | `--max-connections` | the new connection is closed at once (counted in `wasmhost_connections_refused_total`) |
//! | a connection without a new request (HTTP/1.1 keep-alive, HTTP/2) | 60 000 ms | `--idle-timeout-ms` | closed gracefully (HTTP/2: GOAWAY) after the responses in flight; HTTP/2 also pings every 20 s and closes a peer that does not answer within 20 s |
//! | host resources an instance holds at once (streams, pollables, header sets, ...) | [`MAX_RESOURCES`] = 1 000 | | the call that makes one more traps: 500 |
//! | one header set a guest builds (wasmtime-wasi-http's in-memory count) | [`MAX_FIELDS_BYTES`] = 32 KiB | | the call traps: 500 |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{ResourceLimiter, UpdateDeadline};

use crate::app::Component;
use crate::engine::{EPOCH_TICK, EngineSettings};
use crate::guest_output::Faults;

/// The most host resources (streams, pollables, header sets, key-value stores, ...) one
/// instance may hold at once: 1 000 (wasmtime's own default is a million). With
/// [`MAX_FIELDS_BYTES`], it bounds what a guest's header sets take of host memory, outside its
/// linear memory, to about 32 MiB.
pub const MAX_RESOURCES: usize = 1_000;

/// The largest header set a guest may build, in bytes as wasmtime-wasi-http counts them (names
/// and values, and their in-memory overhead): 32 KiB, the request-header limit of Cloudflare
/// Workers (wasmtime's own default is 128 KiB).
pub const MAX_FIELDS_BYTES: usize = 32 << 10;

/// The operator's limits, for every component unless its manifest says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Component instances alive at once in the process (the pooling allocator's total).
    pub max_instances: u32,
    /// Linear memory per instance, in bytes: the size of each pool slot, so no component may
    /// have more.
    pub memory_bytes: usize,
    /// CPU time one invocation may run, counted in epoch ticks of [`EPOCH_TICK`] (10 ms).
    pub cpu: Duration,
    /// Wall-clock time one invocation may take, from the request to the end of its response
    /// body (or of a queue or cron handler call), time blocked on outbound calls included.
    pub timeout: Duration,
    /// Requests one component may handle at once.
    pub max_concurrent_requests: u32,
    /// The largest request body, in bytes.
    pub max_body_bytes: u64,
    /// Header fields one HTTP/1.1 request may have.
    pub max_headers: usize,
    /// The largest request head, in bytes (HTTP/1.1 read buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// How long a client may take to send a request head (slowloris); then the connection is
    /// closed.
    pub header_read_timeout: Duration,
    /// How long a shutdown waits for requests and handler calls in flight.
    pub drain_timeout: Duration,
    /// Connections one listener keeps open at once; one more is closed as soon as it is
    /// accepted, and counted.
    pub max_connections: usize,
    /// How long a connection may go without starting a request (HTTP/1.1 keep-alive or
    /// HTTP/2); then it is closed gracefully (HTTP/2: GOAWAY), after the responses in flight.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_instances: 1000,
            memory_bytes: 128 << 20,
            cpu: Duration::from_secs(1),
            timeout: Duration::from_secs(30),
            max_concurrent_requests: 100,
            max_body_bytes: 10 << 20,
            max_headers: 100,
            max_header_bytes: 64 << 10,
            header_read_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// The engine settings these limits need.
    pub fn engine_settings(&self) -> EngineSettings {
        EngineSettings {
            max_instances: self.max_instances,
            max_memory_bytes: self.memory_bytes,
        }
    }

    /// `component`'s limits: its manifest's where it sets them, these elsewhere.
    ///
    /// # Errors
    /// A component `memory_mb` larger than [`Limits::memory_bytes`] (the engine's slots are that
    /// size), naming the component and both figures.
    pub fn resolve(&self, component: &Component) -> Result<ResolvedLimits> {
        let own = &component.limits;
        let memory_bytes = match own.memory_bytes {
            Some(bytes) if bytes > self.memory_bytes => anyhow::bail!(
                "{}: `component.{}.limits.memory_mb`: {} MiB is more than the host's {} MiB; lower it, or raise the host's with --max-memory-mb",
                component
                    .memory_mb_location
                    .as_ref()
                    .unwrap_or(&component.source_location),
                component.id,
                bytes >> 20,
                self.memory_bytes >> 20
            ),
            Some(bytes) => bytes,
            None => self.memory_bytes,
        };
        let cpu = own.cpu.unwrap_or(self.cpu);
        let ticks = cpu.as_millis().div_ceil(EPOCH_TICK.as_millis()).max(1);
        let concurrent = own
            .max_concurrent_requests
            .unwrap_or(self.max_concurrent_requests);
        Ok(ResolvedLimits {
            memory_bytes,
            cpu_ticks: u32::try_from(ticks).unwrap_or(u32::MAX),
            timeout: own.timeout.unwrap_or(self.timeout),
            requests: Arc::new(Semaphore::new(concurrent as usize)),
            max_body_bytes: own.max_body_bytes.unwrap_or(self.max_body_bytes),
        })
    }
}

/// One component's limits, resolved at startup.
#[derive(Debug, Clone)]
pub struct ResolvedLimits {
    /// Linear memory per instance, in bytes.
    pub memory_bytes: usize,
    /// CPU time per invocation, in epoch ticks.
    pub cpu_ticks: u32,
    /// Wall-clock time per invocation.
    pub timeout: Duration,
    /// One permit per request in flight; `try_acquire` fails past the limit.
    pub requests: Arc<Semaphore>,
    /// The largest request body, in bytes: the component's `max_body_mb`, else the host's.
    pub max_body_bytes: u64,
}

/// The lane that long-running guests share, so that they cannot take every core from the
/// short requests: a guest still running after its first epoch slices must hold one of its
/// permits to run each further slice. It has one permit per core but one (at least one), so
/// on 2 cores one long-running guest runs at a time and the other core stays free.
///
/// A guest waiting for the lane uses no CPU and no CPU time; its wall-clock deadline still
/// runs.
#[derive(Debug, Clone)]
pub struct LongLane(Arc<Semaphore>);

impl LongLane {
    /// A lane with `available_parallelism - 1` permits (at least 1).
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self(Arc::new(Semaphore::new(cores.saturating_sub(1).max(1))))
    }
}

impl Default for LongLane {
    fn default() -> Self {
        Self::new()
    }
}

/// Epoch slices a guest runs freely before it needs the [`LongLane`]: 2 (so 10 to 20 ms of
/// CPU; a short request that merely crosses a tick boundary never waits for the lane).
pub const FREE_SLICES: u32 = 2;

/// The epoch deadline callback of one store: counts the guest's CPU slices (one per
/// [`EPOCH_TICK`]), interrupts it after its limit, and yields to the async runtime at every
/// slice; past [`FREE_SLICES`], each slice waits for a place in the [`LongLane`] first.
///
/// Only ticks the guest runs through are counted: the store's call hook gives the guest a fresh
/// deadline after a host call that outlasted a tick (a blocking read of a slow request body, a
/// backend, a timer), so waiting is bounded by the wall-clock `timeout_ms`, not by `cpu_ms`.
/// A guest cannot use this to run unchecked: a tick that passes while it runs is counted
/// whatever host calls it makes.
pub struct CpuSlices {
    used: u32,
    limit: u32,
    lane: LongLane,
    /// The lane permit of the slice running now, given back at the next tick; made on the
    /// first slice that needs it, so short invocations allocate nothing.
    held: Option<Arc<Mutex<Option<OwnedSemaphorePermit>>>>,
}

impl CpuSlices {
    /// The callback state for a guest allowed `limit` slices, sharing `lane`.
    pub fn new(limit: u32, lane: LongLane) -> Self {
        Self {
            used: 0,
            limit,
            lane,
            held: None,
        }
    }

    /// Called by wasmtime at each epoch tick the guest runs through.
    ///
    /// # Errors
    /// [`CpuLimitExceeded`] once the guest has run through its limit: the instance traps with
    /// it.
    pub fn tick(&mut self) -> wasmtime::Result<UpdateDeadline> {
        self.used += 1;
        if self.used >= self.limit {
            let tick_ms = u64::try_from(EPOCH_TICK.as_millis()).unwrap_or(u64::MAX);
            let ms = u64::from(self.limit).saturating_mul(tick_ms);
            return Err(CpuLimitExceeded { ms }.into());
        }
        if self.used < FREE_SLICES {
            return Ok(UpdateDeadline::Yield(1));
        }
        let held = self.held.get_or_insert_with(Default::default).clone();
        // The last slice's permit goes back before this one waits for a new one.
        drop(held.lock().map(|mut permit| permit.take()));
        let lane = self.lane.0.clone();
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(async move {
                if let Ok(permit) = lane.acquire_owned().await
                    && let Ok(mut slot) = held.lock()
                {
                    *slot = Some(permit);
                }
            }),
        ))
    }
}

/// The trap of a guest that ran through its CPU time ([`CpuSlices`]): `cpu_ms` in the
/// manifest, `--cpu-limit-ms` on the command line. Counted as
/// [`crate::metrics::Outcome::Timeout`].
#[derive(Debug, thiserror::Error)]
#[error("CPU limit of {ms} ms exceeded (cpu_ms, --cpu-limit-ms)")]
pub struct CpuLimitExceeded {
    /// The limit, in ms (a whole number of epoch ticks).
    pub ms: u64,
}

/// The store limiter of one instance: linear memory may not grow past `max_bytes`; each
/// refusal is counted in `refused` (`wasmhost_memory_grow_refused_total`) and recorded in the
/// instance's `faults`, so the trap that usually follows names the limit.
#[derive(Debug, Clone)]
pub struct MemoryLimiter {
    /// Bytes, per linear memory.
    pub max_bytes: usize,
    /// The component's count of refused `memory.grow`s.
    pub refused: prometheus_client::metrics::counter::Counter,
    /// What the instance leaves behind for the account of its trap.
    pub faults: Arc<Faults>,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.max_bytes;
        if !allowed {
            self.refused.inc();
            self.faults.memory_refused(self.max_bytes);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::ComponentLimits;

    fn component(limits: ComponentLimits) -> Component {
        let text = "manifest_version = 1\n[application]\nname = \"a\"\n[component.c]\nsource = \"c.wasm\"\n";
        let mut app =
            crate::manifest::parse(std::path::Path::new("/a/wasmhost.toml"), text).unwrap();
        let mut component = app.components.remove(0);
        component.limits = limits;
        component
    }

    #[test]
    fn a_component_takes_its_own_limits_else_the_hosts() {
        let host = Limits::default();
        let resolved = host
            .resolve(&component(ComponentLimits::default()))
            .unwrap();
        assert_eq!(resolved.memory_bytes, 128 << 20);
        assert_eq!(resolved.cpu_ticks, 100);
        assert_eq!(resolved.timeout, Duration::from_secs(30));
        assert_eq!(resolved.requests.available_permits(), 100);

        let own = ComponentLimits {
            memory_bytes: Some(32 << 20),
            cpu: Some(Duration::from_millis(25)),
            timeout: Some(Duration::from_secs(2)),
            max_concurrent_requests: Some(3),
            max_body_bytes: Some(1 << 30),
        };
        let resolved = host.resolve(&component(own)).unwrap();
        assert_eq!(resolved.max_body_bytes, 1 << 30);
        assert_eq!(resolved.memory_bytes, 32 << 20);
        assert_eq!(
            resolved.cpu_ticks, 3,
            "25 ms is 3 ticks of 10 ms, rounded up"
        );
        assert_eq!(resolved.timeout, Duration::from_secs(2));
        assert_eq!(resolved.requests.available_permits(), 3);

        let greedy = ComponentLimits {
            memory_bytes: Some(256 << 20),
            ..ComponentLimits::default()
        };
        let err = host.resolve(&component(greedy)).unwrap_err().to_string();
        assert!(
            err.starts_with("/a/wasmhost.toml:5:10: `component.c.limits.memory_mb`: 256 MiB")
                && err.contains("128 MiB"),
            "{err}"
        );
    }
}
