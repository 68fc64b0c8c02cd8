//! # wasmhost-sdk: write wasmhost guest functions in Rust
//!
//! This crate sits at the very start of a guest's part in the request flow: wasmhost routes an
//! HTTP request, instantiates the guest component and calls its exported
//! `wasi:http/incoming-handler.handle` (WASI 0.2, `wasi:http@0.2.12`). The
//! [`http_component`] attribute turns a plain function into that export: it converts the WASI
//! request into an [`http::Request`] whose body streams ([`IncomingBody`]), calls the function,
//! and streams whatever it returns ([`IntoResponse`]) back to the host.
//!
//! ```no_run
//! use wasmhost_sdk::{http_component, Request, RequestExt, IntoResponse};
//!
//! #[http_component]
//! fn handle(req: Request) -> impl IntoResponse {
//!     let name = req.param("name").unwrap_or("world");
//!     format!("hello, {name}\n")
//! }
//! # fn main() {}
//! ```
//!
//! Several routes in one component: [`router::Router`]; JSON: [`RequestBodyExt::json`] and
//! [`Json`]; one error type for `?` everywhere: [`HttpError`]; a decision per queue message:
//! [`queue::Delivery::ack`] and [`queue::Delivery::retry`]. The guide's
//! SDK page (`docs/sdk.md` in the repository) walks through them.
//!
//! Async handlers work the same way (`async fn handle(req: Request) -> impl IntoResponse`); they
//! run on a small executor that waits on WASI pollables ([`executor::block_on`]).
//!
//! Capabilities: [`key_value`] stores (`wasi:keyvalue`), opened by the labels the manifest
//! grants; [`variables`] (`wasi:config`), the config keys the manifest gives the component;
//! [`outbound_http`] (`wasi:http/outgoing-handler`), to the hosts the manifest allows;
//! [`queue`] (`wasmhost:host/queue`), to the queues the manifest grants; [`topic`], CloudEvents
//! to the topics it grants; [`blob`] (`wasi:blobstore`), objects in the containers it grants;
//! [`workflows`] (`wasmhost:host/workflow-client`), to start and drive the workflows it grants.
//! [`cron_component`] and [`queue_component`] make two other exports.
//!
//! Durable workflows: [`workflow`](macro@workflow) makes a function an orchestrator, replayed
//! from its history, with a typed [`workflow::WorkflowContext`] (activities, timers, events,
//! sub-workflows, fan-out); [`activity`] makes one the activity handler a workflow calls. The
//! [`workflow`](mod@workflow) module says how they run.
//!
//! Guests compile for the `wasm32-wasip2` target. The WIT bindings come from the repository's
//! `wit/` directory, the same files the host links against; they are generated into a hidden
//! module and are not part of the public API.

pub mod blob;
mod body;
pub mod cron;
mod error;
pub mod executor;
pub mod key_value;
pub mod outbound_http;
pub mod queue;
mod request;
mod response;
pub mod router;
mod serve;
mod time;
pub mod topic;
pub mod variables;
#[cfg(feature = "json")]
pub mod workflow;
#[cfg(feature = "json")]
pub mod workflows;

#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "wasmhost:host/http-component",
        pub_export_macro: true,
        default_bindings_module: "wasmhost_sdk::wit",
        generate_all,
    });
}

/// Generates, in the module it is called in, the bindings of one of wasmhost's worlds, with
/// the imports it shares with the `http-component` world mapped to [`wit`]'s, so that every
/// world uses the same types (a `Datetime`, a `Bucket`, an `InstanceStatus` is one type
/// whichever world's export handles it). `platform` worlds (every world that includes
/// `platform` and `wasi:http/imports`) map all of them; the workflow world maps the WASI base
/// and `workflow-types`, and generates the WASI interfaces only it imports.
macro_rules! world_bindings {
    (platform $world:tt, $module:tt) => {
        world_bindings!($world, $module, {
            "wasi:http/types@0.2.12": crate::wit::wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": crate::wit::wasi::http::outgoing_handler,
            "wasi:keyvalue/store@0.2.0-draft": crate::wit::wasi::keyvalue::store,
            "wasi:keyvalue/atomics@0.2.0-draft": crate::wit::wasi::keyvalue::atomics,
            "wasi:keyvalue/batch@0.2.0-draft": crate::wit::wasi::keyvalue::batch,
            "wasmhost:host/keyvalue-cas@0.1.0": crate::wit::wasmhost::host::keyvalue_cas,
            "wasi:config/store@0.2.0-rc.1": crate::wit::wasi::config::store,
            "wasmhost:host/queue-types@0.1.0": crate::wit::wasmhost::host::queue_types,
            "wasmhost:host/queue@0.1.0": crate::wit::wasmhost::host::queue,
            "wasi:blobstore/types@0.2.0-draft": crate::wit::wasi::blobstore::types,
            "wasi:blobstore/container@0.2.0-draft": crate::wit::wasi::blobstore::container,
            "wasi:blobstore/blobstore@0.2.0-draft": crate::wit::wasi::blobstore::blobstore,
            "wasmhost:host/workflow-client@0.1.0": crate::wit::wasmhost::host::workflow_client,
        });
    };
    ($world:tt, $module:tt, { $($with:tt)* }) => {
        wit_bindgen::generate!({
            path: "../wit",
            world: $world,
            pub_export_macro: true,
            default_bindings_module: $module,
            with: {
                "wasi:io/poll@0.2.12": crate::wit::wasi::io::poll,
                "wasi:io/error@0.2.12": crate::wit::wasi::io::error,
                "wasi:io/streams@0.2.12": crate::wit::wasi::io::streams,
                "wasi:clocks/monotonic-clock@0.2.12": crate::wit::wasi::clocks::monotonic_clock,
                "wasi:clocks/wall-clock@0.2.12": crate::wit::wasi::clocks::wall_clock,
                "wasi:random/random@0.2.12": crate::wit::wasi::random::random,
                "wasi:cli/stdout@0.2.12": crate::wit::wasi::cli::stdout,
                "wasi:cli/stderr@0.2.12": crate::wit::wasi::cli::stderr,
                "wasi:cli/stdin@0.2.12": crate::wit::wasi::cli::stdin,
                "wasmhost:host/workflow-types@0.1.0": crate::wit::wasmhost::host::workflow_types,
                $($with)*
            },
            generate_all,
        });
    };
}

/// The `cron-component` world's export, with every import mapped to [`wit`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod cron_wit {
    world_bindings!(platform "wasmhost:host/cron-component", "wasmhost_sdk::cron_wit");
}

/// The `queue-component` world's export (and its `queue-batch` import), with every other
/// import mapped to [`wit`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod queue_wit {
    world_bindings!(platform "wasmhost:host/queue-component", "wasmhost_sdk::queue_wit");
}

/// The `activity-component` world's export, with every import mapped to [`wit`].
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod activity_wit {
    world_bindings!(platform "wasmhost:host/activity-component", "wasmhost_sdk::activity_wit");
}

/// The `workflow-component` world: the `orchestration` import and the `orchestrator` export,
/// with the WASI base and `workflow-types` mapped to [`wit`]. Only [`workflow`](mod@workflow) uses its
/// imports, so a component that uses nothing else of this crate imports nothing an
/// orchestrator may not.
#[doc(hidden)]
#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod workflow_wit {
    world_bindings!(
        "wasmhost:host/workflow-component",
        "wasmhost_sdk::workflow_wit",
        {}
    );
}

pub use body::{Body, IncomingBody, IntoBody, TEXT_PLAIN};
pub use error::HttpError;
pub use http;
pub use request::{Request, RequestBodyExt, RequestExt};
#[cfg(feature = "json")]
pub use response::Json;
pub use response::{IntoResponse, Response};
#[cfg(feature = "json")]
pub use wasmhost_sdk_macro::{activity, workflow};
pub use wasmhost_sdk_macro::{cron_component, http_component, queue_component};

/// Support for the code that the attributes ([`http_component`], ...) generate. Not a public
/// API.
#[doc(hidden)]
pub mod __private {
    pub use crate::cron::run as run_cron;
    pub use crate::cron_wit::export as export_cron;
    pub use crate::cron_wit::exports::wasmhost::host::cron_handler::Guest as CronHandler;
    pub use crate::queue::run as run_queue;
    pub use crate::queue_wit::export as export_queue;
    pub use crate::queue_wit::exports::wasmhost::host::queue_handler::Guest as QueueHandler;
    pub use crate::serve::serve;
    pub use crate::wit::export;
    pub use crate::wit::exports::wasi::http::incoming_handler::{
        Guest as IncomingHandler, IncomingRequest, ResponseOutparam,
    };
    pub use crate::wit::wasi::clocks::wall_clock::Datetime;
    pub use crate::wit::wasmhost::host::queue_types::Delivery;

    pub use crate::activity_wit::export as export_activity;
    pub use crate::activity_wit::exports::wasmhost::host::activity_handler::{
        ActivityCall, Guest as ActivityHandler,
    };
    #[cfg(feature = "json")]
    pub use crate::workflow::{dispatch_activity, run_activity, run_workflow};
    pub use crate::workflow_wit::export as export_workflow;
    pub use crate::workflow_wit::exports::wasmhost::host::orchestrator::Guest as Orchestrator;
}

/// The guide's Rust examples (`docs/`), compiled and run as doctests so that they cannot drift
/// from the SDK.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../../docs/first-function.md")]
    struct FirstFunction;
    #[doc = include_str!("../../docs/routes.md")]
    struct Routes;
    #[doc = include_str!("../../docs/sdk.md")]
    struct Sdk;
    #[doc = include_str!("../../docs/cron.md")]
    struct Cron;
    #[doc = include_str!("../../docs/capabilities/key-value.md")]
    struct KeyValue;
    #[doc = include_str!("../../docs/capabilities/queues.md")]
    struct Queues;
    #[doc = include_str!("../../docs/capabilities/topics.md")]
    struct Topics;
    #[doc = include_str!("../../docs/capabilities/outbound-http.md")]
    struct OutboundHttp;
    #[doc = include_str!("../../docs/capabilities/variables.md")]
    struct Variables;
}
