//! Layer 5, per invocation: the data of one [`wasmtime::Store`], built fresh for every instance
//! by [`crate::app_version::AppVersion::new_store`] and dropped with it.
//!
//! It holds the resource table, the WASI context (no sockets; the environment and read-only
//! mounts its manifest grants, [`crate::capability::wasi`];
//! guest stdout and stderr go to the log, [`crate::guest_output`]), the `wasi:http` context, and each capability's
//! per-instance policy.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::capability::Grants;
use crate::capability::blob::BlobView;
use crate::capability::config::ConfigView;
use crate::capability::key_value::KeyValueView;
use crate::capability::outbound_http::OutboundHttp;
use crate::capability::queue::QueueView;
use crate::capability::queue::batch::{BatchMarks, BatchView};
use crate::capability::workflow::WorkflowClientView;
use crate::capability::workflow::context::{OrchestrationView, ReplayClock, Turn};
use crate::guest_output::GuestOutput;
use crate::invocation::RequestId;
use crate::limits::{MAX_FIELDS_BYTES, MAX_RESOURCES, MemoryLimiter};
use crate::trace::TraceContext;

/// The state of one instance.
pub struct InstanceState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound_http: OutboundHttp,
    grants: Grants,
    request_id: RequestId,
    trace: TraceContext,
    limiter: MemoryLimiter,
    /// The marks of the queue batch the instance handles (queue trigger only).
    batch: Option<Arc<BatchMarks>>,
    /// The clock and random generator of an orchestrator's instance (workflow trigger only).
    replay: Option<Arc<ReplayClock>>,
    /// The turn an orchestrator's instance runs (workflow trigger only).
    turn: Option<Arc<std::sync::Mutex<Turn>>>,
}

impl InstanceState {
    /// A fresh state with the WASI 0.2 base (its stdout and stderr going to the log as
    /// `output` says), what the component's manifest `grants`, `outbound_http`, the hooks
    /// its outbound requests go through, and the invocation's `request_id` (for log lines)
    /// and `trace` context (for the messages it sends), and the `limiter` of its memory. With
    /// `replay` (an orchestrator), its clocks and random generators answer from it.
    pub fn new(
        grants: Grants,
        outbound_http: OutboundHttp,
        output: &GuestOutput,
        request_id: RequestId,
        trace: TraceContext,
        limiter: MemoryLimiter,
        replay: Option<Arc<ReplayClock>>,
    ) -> Self {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output.clone())
            .stderr(output.for_stream("stderr"));
        if let Some(clock) = &replay {
            ReplayClock::apply(clock, &mut wasi);
        }
        if let Err(err) = grants.wasi.apply(&mut wasi) {
            // The instance runs without the mount; its reads fail, and the log says why.
            tracing::warn!(request_id = %request_id, "{err:#}");
        }
        let wasi = wasi.build();
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_RESOURCES);
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(MAX_FIELDS_BYTES);
        Self {
            table,
            wasi,
            http,
            outbound_http,
            grants,
            request_id,
            trace,
            limiter,
            batch: None,
            replay,
            turn: None,
        }
    }

    /// The clock of an orchestrator's instance, if this is one.
    pub fn replay_clock(&self) -> Option<&Arc<ReplayClock>> {
        self.replay.as_ref()
    }

    /// Gives an orchestrator's instance the turn it runs; the workflow trigger keeps the other
    /// handle and reads what the turn recorded when `run` ends.
    pub fn set_turn(&mut self, turn: Arc<std::sync::Mutex<Turn>>) {
        self.turn = Some(turn);
    }

    /// The `orchestration` view of this instance: its turn, if it runs one.
    pub fn orchestration(&mut self) -> OrchestrationView<'_> {
        OrchestrationView {
            turn: self.turn.as_ref(),
        }
    }

    /// The `workflow-client` view of this instance.
    pub fn workflow_client(&mut self) -> WorkflowClientView<'_> {
        WorkflowClientView {
            grants: &self.grants.workflows,
            trace: &self.trace,
            request_id: &self.request_id,
        }
    }

    /// The store limiter of this instance (for [`wasmtime::Store::limiter`]).
    pub fn limiter(&mut self) -> &mut dyn wasmtime::ResourceLimiter {
        &mut self.limiter
    }

    /// The key-value capability's view of this instance.
    pub fn key_value(&mut self) -> KeyValueView<'_> {
        KeyValueView {
            table: &mut self.table,
            grants: &self.grants.key_value,
            request_id: &self.request_id,
        }
    }

    /// The queue capability's view of this instance.
    pub fn queue(&mut self) -> QueueView<'_> {
        QueueView {
            grants: &self.grants.queues,
            trace: &self.trace,
            request_id: &self.request_id,
        }
    }

    /// Gives the instance the marks of the queue batch it is about to handle; the queue trigger
    /// keeps the other handle and reads them when the call ends.
    pub fn set_batch(&mut self, marks: Arc<BatchMarks>) {
        self.batch = Some(marks);
    }

    /// The `queue-batch` view of this instance: the marks of its batch, if it handles one.
    pub fn batch(&mut self) -> BatchView<'_> {
        BatchView {
            marks: self.batch.as_deref(),
        }
    }

    /// The blob capability's view of this instance.
    pub fn blob(&mut self) -> BlobView<'_> {
        BlobView {
            table: &mut self.table,
            grants: &self.grants.blob,
            request_id: &self.request_id,
            trace: &self.trace,
        }
    }

    /// The config capability's view of this instance.
    pub fn config(&mut self) -> ConfigView<'_> {
        ConfigView {
            config: &self.grants.config,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound_http,
        }
    }
}
