//! Layer 3, metrics: counters and histograms every part of the request flow updates, served on the admin
//! listener at `/metrics` (the admin endpoints) in the Prometheus text format (OpenMetrics 1.0
//! text, <https://prometheus.io/docs/specs/om/open_metrics_spec/>), with `prometheus-client`.
//!
//! Startup resolves every labelled series a component can touch into handles
//! ([`TriggerMetrics`], [`OutboundMetrics`], [`KeyValueMetrics`], [`CronMetrics`]), kept next to
//! what they measure. Per request, updating a metric is an atomic add (a counter) or a short
//! uncontended lock (a histogram): no label lookup, no string work. Live instances are read
//! from the pooling allocator at scrape time, so they cost nothing per request.
//!
//! Labels are bounded by the manifest: component ids, trigger kinds, store labels, cron
//! schedules and `allowed_outbound_hosts` entries, never raw paths or hosts.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `wasmhost_invocations_total` | counter | `component`, `trigger`, `outcome` ([`Outcome`]) |
//! | `wasmhost_invocation_duration_seconds` | histogram | `component`, `trigger` |
//! | `wasmhost_instantiation_duration_seconds` | histogram | `component`, `trigger` |
//! | `wasmhost_request_body_too_large_total` | counter | `component`, `trigger` (`http`) |
//! | `wasmhost_memory_grow_refused_total` | counter | `component` |
//! | `wasmhost_live_instances` | gauge | |
//! | `wasmhost_outbound_http_requests_total` | counter | `component`, `host`, `outcome` ([`OutboundOutcome`]) |
//! | `wasmhost_key_value_operations_total` | counter | `store`, `outcome` ([`KeyValueOutcome`]) |
//! | `wasmhost_blob_operations_total` | counter | `container`, `outcome` (as [`KeyValueOutcome`]) |
//! | `wasmhost_blob_bytes_total` | counter | `container`, `direction` (`written`, `read`) |
//! | `wasmhost_cron_runs_total`, `wasmhost_cron_skips_total` | counter | `component`, `schedule` |
//! | `wasmhost_compile_cache_lookups_total` | counter | `outcome` (`hit`, `miss`) |
//! | `wasmhost_queue_sent_total` | counter | `queue` |
//! | `wasmhost_queue_handled_total` | counter | `queue`, `outcome` (`acked`, `retried`, `dead_lettered`) |
//! | `wasmhost_queue_depth`, `wasmhost_queue_in_flight` | gauge | `queue` (read at scrape) |
//! | `wasmhost_queue_delivery_delay_seconds` | histogram | `queue` |
//! | `wasmhost_workflow_instances_total` | counter | `workflow`, `event` (`started`, `completed`, `failed`, `terminated`, `continued_as_new`) |
//! | `wasmhost_workflow_turn_duration_seconds` | histogram | `workflow`: one turn, reading the history and the replay (not the commit) |
//! | `wasmhost_workflow_replayed_events` | histogram | `workflow`: history events a turn replayed |
//! | `wasmhost_workflow_activity_attempts_total` | counter | `activity`, `outcome` (`ok`, `failed`, `retried`) |
//! | `wasmhost_http_auth_failures_total` | counter | `outcome` (`unauthorized`, `rate_limited`) |
//! | `wasmhost_connections` | gauge | `listener` (`http`, `admin`) |
//! | `wasmhost_connections_refused_total` | counter | `listener`: past `--max-connections` |

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::compile_cache::CacheOutcome;

/// Bucket bounds of the invocation duration histogram, in seconds: 100 µs to 30 s.
pub const INVOCATION_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 30.0,
];

/// Bucket bounds of the instantiation time histogram, in seconds: 5 µs to 10 ms.
pub const INSTANTIATION_BUCKETS: [f64; 10] = [
    0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01,
];

/// Bucket bounds of the queue delivery delay histogram, in seconds: 250 µs to 60 s.
pub const DELIVERY_DELAY_BUCKETS: [f64; 18] = [
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    20.0, 30.0, 60.0,
];

/// How an invocation ended, the `outcome` label of `wasmhost_invocations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The guest answered (HTTP: set a response, whatever its status) or returned `ok` (cron).
    Ok = 0,
    /// The guest answered with an error: an HTTP `error-code` or no response at all, a cron
    /// `err`.
    Error = 1,
    /// The guest trapped (other than by its CPU deadline).
    Trap = 2,
    /// The guest ran past its CPU deadline and was interrupted (an epoch trap), or past its
    /// wall-clock deadline and was dropped.
    Timeout = 3,
    /// No instance could be made: the pooling allocator's limit on live instances was reached,
    /// or the component had all of its `max_concurrent_requests` in flight.
    Rejected = 4,
}

impl Outcome {
    const ALL: [Self; 5] = [
        Self::Ok,
        Self::Error,
        Self::Trap,
        Self::Timeout,
        Self::Rejected,
    ];

    /// The label value: `ok`, `error`, `trap`, `timeout` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error",
            Self::Trap => "trap",
            Self::Timeout => "timeout",
            Self::Rejected => "rejected",
        }
    }

    /// The outcome of a call that failed with `err`: [`Outcome::Timeout`] for the CPU limit
    /// (or an epoch interrupt) or a wall-clock deadline, [`Outcome::Rejected`] for a full instance pool, else [`Outcome::Trap`].
    pub fn of_failure(err: &wasmtime::Error) -> Self {
        if err.is::<wasmtime::PoolConcurrencyLimitError>() {
            Self::Rejected
        } else if err.is::<crate::limits::CpuLimitExceeded>()
            || err.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt)
            || err.is::<crate::invocation::WallClockTimeout>()
        {
            Self::Timeout
        } else {
            Self::Trap
        }
    }
}

/// How an outbound HTTP request ended, the `outcome` label of
/// `wasmhost_outbound_http_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundOutcome {
    /// A response head came back (any status).
    Ok = 0,
    /// Not in `allowed_outbound_hosts` (`host` is then empty).
    Denied = 1,
    /// Past the invocation's `max_requests`.
    Limited = 2,
    /// Connect or first-byte timeout.
    Timeout = 3,
    /// Any other failure: refused, DNS, TLS, protocol.
    Error = 4,
}

impl OutboundOutcome {
    const ALL: [Self; 5] = [
        Self::Ok,
        Self::Denied,
        Self::Limited,
        Self::Timeout,
        Self::Error,
    ];

    /// The label value: `ok`, `denied`, `limited`, `timeout` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Denied => "denied",
            Self::Limited => "limited",
            Self::Timeout => "timeout",
            Self::Error => "error",
        }
    }
}

/// How a key-value operation ended, the `outcome` label of
/// `wasmhost_key_value_operations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyValueOutcome {
    /// Done.
    Ok = 0,
    /// The operation does not apply to the data (the guest's doing).
    Invalid = 1,
    /// The backend failed or did not answer.
    Unavailable = 2,
}

impl KeyValueOutcome {
    const ALL: [Self; 3] = [Self::Ok, Self::Invalid, Self::Unavailable];

    /// The label value: `ok`, `invalid` or `unavailable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Invalid => "invalid",
            Self::Unavailable => "unavailable",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InvocationLabels {
    component: String,
    trigger: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    component: String,
    trigger: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboundLabels {
    component: String,
    host: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    container: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerBytesLabels {
    container: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CronLabels {
    component: String,
    schedule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

/// The connection counts of one listener ([`Metrics::connections`]).
#[derive(Clone, Default)]
pub struct ConnectionMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections closed at once because `--max-connections` were open.
    pub refused: Counter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueOutcomeLabels {
    queue: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ComponentLabels {
    component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    outcome: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric of the process. One per process, shared behind an `Arc`; it outlives app
/// versions.
pub struct Metrics {
    registry: Registry,
    invocations: Family<InvocationLabels, Counter>,
    invocation_duration: HistogramFamily<TriggerLabels>,
    instantiation_duration: HistogramFamily<TriggerLabels>,
    body_too_large: Family<TriggerLabels, Counter>,
    memory_grow_refused: Family<ComponentLabels, Counter>,
    live_instances: Gauge,
    outbound_requests: Family<OutboundLabels, Counter>,
    key_value_operations: Family<StoreLabels, Counter>,
    blob_operations: Family<ContainerLabels, Counter>,
    blob_bytes: Family<ContainerBytesLabels, Counter>,
    cron_runs: Family<CronLabels, Counter>,
    cron_skips: Family<CronLabels, Counter>,
    compile_cache: Family<CacheLabels, Counter>,
    queue_sent: Family<QueueLabels, Counter>,
    queue_handled: Family<QueueOutcomeLabels, Counter>,
    queue_depth: Family<QueueLabels, Gauge>,
    queue_in_flight: Family<QueueLabels, Gauge>,
    queue_delivery_delay: HistogramFamily<QueueLabels>,
    connections: Family<ListenerLabels, Gauge>,
    connections_refused: Family<ListenerLabels, Counter>,
    auth_failures: Family<AuthFailureLabels, Counter>,
    workflows: Arc<WorkflowMetrics>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthFailureLabels {
    outcome: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wasmhost");
        let invocations = Family::default();
        registry.register(
            "invocations",
            "Guest invocations by component, trigger and outcome",
            invocations.clone(),
        );
        let invocation_duration: HistogramFamily<_> =
            Family::new_with_constructor(|| Histogram::new(INVOCATION_BUCKETS));
        registry.register_with_unit(
            "invocation_duration",
            "Time from the start of an invocation to the guest's return, body streaming included",
            Unit::Seconds,
            invocation_duration.clone(),
        );
        let instantiation_duration: HistogramFamily<_> =
            Family::new_with_constructor(|| Histogram::new(INSTANTIATION_BUCKETS));
        registry.register_with_unit(
            "instantiation_duration",
            "Time to instantiate a component from its pre-instantiation",
            Unit::Seconds,
            instantiation_duration.clone(),
        );
        let body_too_large = Family::default();
        registry.register(
            "request_body_too_large",
            "Requests refused with 413 because their body was larger than the limit",
            body_too_large.clone(),
        );
        let memory_grow_refused = Family::default();
        registry.register(
            "memory_grow_refused",
            "memory.grow calls refused because the instance reached its memory limit",
            memory_grow_refused.clone(),
        );
        let live_instances = Gauge::default();
        registry.register(
            "live_instances",
            "Component instances alive now (the pooling allocator's count)",
            live_instances.clone(),
        );
        let outbound_requests = Family::default();
        registry.register(
            "outbound_http_requests",
            "Outbound HTTP requests by component, allowed_outbound_hosts entry and outcome",
            outbound_requests.clone(),
        );
        let key_value_operations = Family::default();
        registry.register(
            "key_value_operations",
            "Key-value operations by store and outcome",
            key_value_operations.clone(),
        );
        let blob_operations = Family::default();
        registry.register(
            "blob_operations",
            "Blob storage operations by container and outcome",
            blob_operations.clone(),
        );
        let blob_bytes = Family::default();
        registry.register(
            "blob_bytes",
            "Bytes of objects written to and read from each blob container",
            blob_bytes.clone(),
        );
        let cron_runs = Family::default();
        registry.register("cron_runs", "Cron runs started", cron_runs.clone());
        let cron_skips = Family::default();
        registry.register(
            "cron_skips",
            "Cron ticks skipped because the previous run was still going",
            cron_skips.clone(),
        );
        let compile_cache = Family::default();
        registry.register(
            "compile_cache_lookups",
            "Compile cache lookups at startup by outcome",
            compile_cache.clone(),
        );
        let queue_sent = Family::default();
        registry.register(
            "queue_sent",
            "Messages sent to each queue",
            queue_sent.clone(),
        );
        let queue_handled = Family::default();
        registry.register(
            "queue_handled",
            "Messages taken from each queue, by what became of them",
            queue_handled.clone(),
        );
        let queue_depth = Family::default();
        registry.register(
            "queue_depth",
            "Messages waiting in each queue (due or delayed)",
            queue_depth.clone(),
        );
        let queue_delivery_delay: HistogramFamily<_> =
            Family::new_with_constructor(|| Histogram::new(DELIVERY_DELAY_BUCKETS));
        registry.register_with_unit(
            "queue_delivery_delay",
            "Time from a message being due (sent, or its delay or retry backoff over) to the start of the handler call that gets it",
            Unit::Seconds,
            queue_delivery_delay.clone(),
        );
        let queue_in_flight = Family::default();
        registry.register(
            "queue_in_flight",
            "Messages of each queue a handler has and has not acknowledged",
            queue_in_flight.clone(),
        );
        let connections = Family::default();
        registry.register(
            "connections",
            "Connections open now, per listener",
            connections.clone(),
        );
        let connections_refused = Family::default();
        registry.register(
            "connections_refused",
            "Connections closed as soon as accepted because the listener had --max-connections open",
            connections_refused.clone(),
        );
        let auth_failures = Family::default();
        registry.register(
            "http_auth_failures",
            "Requests to routes that need a key, refused: unauthorized (401) or rate_limited (429)",
            auth_failures.clone(),
        );
        let workflows = Arc::new(WorkflowMetrics::register(&mut registry));
        Self {
            registry,
            workflows,
            auth_failures,
            connections,
            connections_refused,
            queue_sent,
            queue_handled,
            queue_depth,
            queue_in_flight,
            queue_delivery_delay,
            invocations,
            invocation_duration,
            instantiation_duration,
            body_too_large,
            memory_grow_refused,
            live_instances,
            outbound_requests,
            key_value_operations,
            blob_operations,
            blob_bytes,
            cron_runs,
            cron_skips,
            compile_cache,
        }
    }

    /// The handles of `component` under `trigger` (`http`, `cron`).
    pub fn trigger(&self, component: &str, trigger: &'static str) -> TriggerMetrics {
        let labels = TriggerLabels {
            component: component.to_owned(),
            trigger,
        };
        TriggerMetrics {
            outcomes: Outcome::ALL.map(|outcome| {
                self.invocations.get_or_create_owned(&InvocationLabels {
                    component: component.to_owned(),
                    trigger,
                    outcome: outcome.as_str(),
                })
            }),
            duration: self.invocation_duration.get_or_create_owned(&labels),
            instantiation: self.instantiation_duration.get_or_create_owned(&labels),
            too_large: self.body_too_large.get_or_create_owned(&labels),
        }
    }

    /// The count of `component`'s refused `memory.grow`s.
    pub fn memory_grow_refused(&self, component: &str) -> Counter {
        self.memory_grow_refused
            .get_or_create_owned(&ComponentLabels {
                component: component.to_owned(),
            })
    }

    /// The handles of outbound requests of `component` that an entry labelled `host` allows
    /// (empty for denied requests).
    pub fn outbound(&self, component: &str, host: &str) -> OutboundMetrics {
        OutboundMetrics(OutboundOutcome::ALL.map(|outcome| {
            self.outbound_requests.get_or_create_owned(&OutboundLabels {
                component: component.to_owned(),
                host: host.to_owned(),
                outcome: outcome.as_str(),
            })
        }))
    }

    /// The handles of key-value store `store`.
    pub fn key_value(&self, store: &str) -> KeyValueMetrics {
        KeyValueMetrics(KeyValueOutcome::ALL.map(|outcome| {
            self.key_value_operations.get_or_create_owned(&StoreLabels {
                store: store.to_owned(),
                outcome: outcome.as_str(),
            })
        }))
    }

    /// The handles of blob container `container`.
    pub fn blob(&self, container: &str) -> BlobMetrics {
        let bytes = |direction| {
            self.blob_bytes.get_or_create_owned(&ContainerBytesLabels {
                container: container.to_owned(),
                direction,
            })
        };
        BlobMetrics {
            operations: KeyValueMetrics(KeyValueOutcome::ALL.map(|outcome| {
                self.blob_operations.get_or_create_owned(&ContainerLabels {
                    container: container.to_owned(),
                    outcome: outcome.as_str(),
                })
            })),
            written: bytes("written"),
            read: bytes("read"),
        }
    }

    /// The handles of one cron trigger.
    pub fn cron(&self, component: &str, schedule: &str) -> CronMetrics {
        let labels = CronLabels {
            component: component.to_owned(),
            schedule: schedule.to_owned(),
        };
        CronMetrics {
            runs: self.cron_runs.get_or_create_owned(&labels),
            skips: self.cron_skips.get_or_create_owned(&labels),
        }
    }

    /// The counter of refused keys with `outcome` (`unauthorized`, `rate_limited`).
    pub fn auth_failures(&self, outcome: &'static str) -> Counter {
        self.auth_failures
            .get_or_create_owned(&AuthFailureLabels { outcome })
    }

    /// The handles of listener `listener` (`http`, `admin`).
    pub fn connections(&self, listener: &'static str) -> ConnectionMetrics {
        let labels = ListenerLabels { listener };
        ConnectionMetrics {
            open: self.connections.get_or_create_owned(&labels),
            refused: self.connections_refused.get_or_create_owned(&labels),
        }
    }

    /// The handles of queue `queue`.
    pub fn queue(&self, queue: &str) -> QueueMetrics {
        let labels = QueueLabels {
            queue: queue.to_owned(),
        };
        let handled = |outcome| {
            self.queue_handled.get_or_create_owned(&QueueOutcomeLabels {
                queue: queue.to_owned(),
                outcome,
            })
        };
        QueueMetrics {
            sent: self.queue_sent.get_or_create_owned(&labels),
            acked: handled("acked"),
            retried: handled("retried"),
            dead_lettered: handled("dead_lettered"),
            depth: self.queue_depth.get_or_create_owned(&labels),
            in_flight: self.queue_in_flight.get_or_create_owned(&labels),
            delivery_delay: self.queue_delivery_delay.get_or_create_owned(&labels),
        }
    }

    /// The workflow metrics.
    pub fn workflows(&self) -> Arc<WorkflowMetrics> {
        self.workflows.clone()
    }

    /// Counts one compile cache lookup.
    pub fn compile_cache_lookup(&self, outcome: CacheOutcome) {
        self.compile_cache
            .get_or_create(&CacheLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// The exposition of every metric, with `live_instances` as the current count of live
    /// instances. Content type [`CONTENT_TYPE`].
    pub fn encode(&self, live_instances: u64) -> String {
        self.live_instances
            .set(i64::try_from(live_instances).unwrap_or(i64::MAX));
        let mut text = String::with_capacity(16 << 10);
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// The content type of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The metrics of one component under one trigger kind. Cloning shares them.
#[derive(Clone, Debug)]
pub struct TriggerMetrics {
    outcomes: [Counter; 5],
    duration: Histogram,
    instantiation: Histogram,
    too_large: Counter,
}

impl TriggerMetrics {
    /// Counts one invocation that ended with `outcome` after `duration`.
    pub fn invoked(&self, outcome: Outcome, duration: Duration) {
        self.outcomes[outcome as usize].inc();
        self.duration.observe(duration.as_secs_f64());
    }

    /// Records one instantiation that took `duration`.
    pub fn instantiated(&self, duration: Duration) {
        self.instantiation.observe(duration.as_secs_f64());
    }

    /// Counts one request refused with 413: its body was larger than the limit.
    pub fn body_too_large(&self) {
        self.too_large.inc();
    }
}

/// The outbound request counters of one component and `allowed_outbound_hosts` entry.
#[derive(Clone, Debug)]
pub struct OutboundMetrics([Counter; 5]);

impl OutboundMetrics {
    /// Counts one request that ended with `outcome`.
    pub fn count(&self, outcome: OutboundOutcome) {
        self.0[outcome as usize].inc();
    }
}

/// The operation counters of one key-value store.
#[derive(Clone, Debug)]
pub struct KeyValueMetrics([Counter; 3]);

impl KeyValueMetrics {
    /// Counts one operation that ended with `outcome`.
    pub fn count(&self, outcome: KeyValueOutcome) {
        self.0[outcome as usize].inc();
    }
}

/// The counters of one blob container.
#[derive(Clone, Debug)]
pub struct BlobMetrics {
    operations: KeyValueMetrics,
    /// Bytes of objects written (`direction="written"`).
    pub written: Counter,
    /// Bytes of objects opened for reading (`direction="read"`).
    pub read: Counter,
}

impl BlobMetrics {
    /// Counts one operation that ended with `outcome`.
    pub fn count(&self, outcome: KeyValueOutcome) {
        self.operations.count(outcome);
    }
}

/// The metrics of one queue.
#[derive(Clone, Debug)]
pub struct QueueMetrics {
    /// Messages sent to it.
    pub sent: Counter,
    /// Messages handled and acknowledged.
    pub acked: Counter,
    /// Failed deliveries put back for a retry.
    pub retried: Counter,
    /// Messages moved to the dead-letter queue after their last attempt.
    pub dead_lettered: Counter,
    /// Pending messages, set at scrape time.
    pub depth: Gauge,
    /// In-flight messages, set at scrape time.
    pub in_flight: Gauge,
    /// Per message, from being due to its handler call starting, in seconds.
    pub delivery_delay: Histogram,
}

/// The metrics of durable workflows, by workflow and activity name.
#[derive(Debug)]
pub struct WorkflowMetrics {
    instances: Family<WorkflowEventLabels, Counter>,
    turn_duration: HistogramFamily<WorkflowLabels>,
    replayed: HistogramFamily<WorkflowLabels>,
    attempts: Family<ActivityLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowLabels {
    workflow: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowEventLabels {
    workflow: String,
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityLabels {
    activity: String,
    outcome: &'static str,
}

/// Buckets of history events replayed per turn: 1 to 10 000.
const REPLAYED_BUCKETS: [f64; 9] = [1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4];

impl WorkflowMetrics {
    fn register(registry: &mut Registry) -> Self {
        let instances = Family::default();
        registry.register(
            "workflow_instances",
            "Workflow instances started, and ended by how (completed, failed, terminated, continued_as_new)",
            instances.clone(),
        );
        let turn_duration: HistogramFamily<_> =
            Family::new_with_constructor(|| Histogram::new(INVOCATION_BUCKETS));
        registry.register_with_unit(
            "workflow_turn_duration",
            "One orchestrator turn: reading the history and replaying it in a fresh instance (the commit not included)",
            Unit::Seconds,
            turn_duration.clone(),
        );
        let replayed: HistogramFamily<_> =
            Family::new_with_constructor(|| Histogram::new(REPLAYED_BUCKETS));
        registry.register(
            "workflow_replayed_events",
            "History events one orchestrator turn replayed",
            replayed.clone(),
        );
        let attempts = Family::default();
        registry.register(
            "workflow_activity_attempts",
            "Activity attempts by outcome: ok, retried (failed, another attempt follows), failed (the last attempt failed)",
            attempts.clone(),
        );
        Self {
            instances,
            turn_duration,
            replayed,
            attempts,
        }
    }

    /// Counts an instance of `workflow` started.
    pub fn started(&self, workflow: &str) {
        self.ended(workflow, "started");
    }

    /// Counts an instance of `workflow` that ended as `event` (`completed`, `failed`,
    /// `terminated`, `continued_as_new`).
    pub fn ended(&self, workflow: &str, event: &'static str) {
        self.instances
            .get_or_create(&WorkflowEventLabels {
                workflow: workflow.to_owned(),
                event,
            })
            .inc();
    }

    /// Records one turn of `workflow` that took `duration` and replayed `events` events.
    pub fn turn(&self, workflow: &str, duration: Duration, events: usize) {
        let labels = WorkflowLabels {
            workflow: workflow.to_owned(),
        };
        self.turn_duration
            .get_or_create(&labels)
            .observe(duration.as_secs_f64());
        self.replayed.get_or_create(&labels).observe(events as f64);
    }

    /// Counts one attempt of `activity` that ended as `outcome` (`ok`, `retried`, `failed`).
    pub fn attempt(&self, activity: &str, outcome: &'static str) {
        self.attempts
            .get_or_create(&ActivityLabels {
                activity: activity.to_owned(),
                outcome,
            })
            .inc();
    }
}

/// The counters of one cron trigger.
#[derive(Clone, Debug)]
pub struct CronMetrics {
    /// Runs started.
    pub runs: Counter,
    /// Ticks skipped because the previous run was still going.
    pub skips: Counter,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_update_the_exposed_series() {
        let metrics = Metrics::new();
        let http = metrics.trigger("hello", "http");
        http.invoked(Outcome::Ok, Duration::from_micros(300));
        http.invoked(Outcome::Timeout, Duration::from_secs(1));
        http.instantiated(Duration::from_micros(20));
        metrics
            .key_value("default")
            .count(KeyValueOutcome::Unavailable);
        metrics.compile_cache_lookup(CacheOutcome::Hit);
        let text = metrics.encode(3);
        for line in [
            r#"wasmhost_invocations_total{component="hello",trigger="http",outcome="ok"} 1"#,
            r#"wasmhost_invocations_total{component="hello",trigger="http",outcome="timeout"} 1"#,
            r#"wasmhost_invocations_total{component="hello",trigger="http",outcome="trap"} 0"#,
            r#"wasmhost_invocation_duration_seconds_count{component="hello",trigger="http"} 2"#,
            r#"wasmhost_instantiation_duration_seconds_count{component="hello",trigger="http"} 1"#,
            r#"wasmhost_key_value_operations_total{store="default",outcome="unavailable"} 1"#,
            r#"wasmhost_compile_cache_lookups_total{outcome="hit"} 1"#,
            "wasmhost_live_instances 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }
}
