//! The host's `bindgen!`s, on worlds of `wit/wasmhost.wit`. The main one, on
//! `wasmhost:host/cron-component`, gives
//! Rust traits for every import that wasmhost implements itself (world `platform`), and the
//! typed `cron-handler` export ([`CronComponentPre`]) the cron trigger calls. Each capability
//! module implements its traits; [`crate::runtime`] adds them all to the one `Linker`.
//!
//! Imports are async (a key-value `get` awaits Redis without blocking a thread) and trappable
//! (a host bug traps the instance, never the host). The WASI 0.2 base and `wasi:http` are not
//! generated here: they map to wasmtime-wasi's and wasmtime-wasi-http's bindings, generated
//! from the same vendored WIT.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wasmhost:host/cron-component",
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:random": wasmtime_wasi::p2::bindings::random,
        "wasi:cli": wasmtime_wasi::p2::bindings::cli,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:keyvalue/store.bucket": crate::capability::key_value::Bucket,
        "wasi:blobstore/container.container": crate::capability::blob::ContainerHandle,
        "wasi:blobstore/container.stream-object-names": crate::capability::blob::ObjectNames,
        "wasi:blobstore/types.outgoing-value": crate::capability::blob::OutgoingValue,
        "wasi:blobstore/types.incoming-value": crate::capability::blob::IncomingValue,
    },
    trappable_error_type: {
        "wasi:keyvalue/store.error" => crate::capability::key_value::KeyValueError,
        "wasi:blobstore/types.error" => crate::capability::blob::BlobError,
        "wasmhost:host/queue-types.error" => crate::capability::queue::QueueError,
        "wasi:config/store.error" => crate::capability::config::ConfigError,
    },
});

/// The `bindgen!` of a world that has the imports of world `platform` (and `wasi:http`) and one
/// export of its own: every import maps to the bindings above, so its components link against
/// the same host traits as any other; only the export's bindings are generated.
macro_rules! platform_export {
    ($world:literal) => {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: $world,
            imports: { default: async | trappable },
            exports: { default: async },
            with: {
                "wasi:io": wasmtime_wasi::p2::bindings::io,
                "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
                "wasi:random": wasmtime_wasi::p2::bindings::random,
                "wasi:cli": wasmtime_wasi::p2::bindings::cli,
                "wasi:http": wasmtime_wasi_http::p2::bindings::http,
                "wasi:keyvalue": crate::bindings::wasi::keyvalue,
                "wasi:config": crate::bindings::wasi::config,
                "wasmhost:host/keyvalue-cas": crate::bindings::wasmhost::host::keyvalue_cas,
                "wasmhost:host/queue-types": crate::bindings::wasmhost::host::queue_types,
                "wasmhost:host/queue": crate::bindings::wasmhost::host::queue,
                "wasmhost:host/workflow-types": crate::bindings::wasmhost::host::workflow_types,
                "wasmhost:host/workflow-client": crate::bindings::wasmhost::host::workflow_client,
                "wasi:blobstore": crate::bindings::wasi::blobstore,
            },
        });
    };
}

/// The `queue-handler` export ([`queue_component::QueueComponentPre`]) the queue trigger calls,
/// from world `wasmhost:host/queue-component`; every import maps to the bindings above, so a
/// queue component links against the same host traits as any other.
pub mod queue_component {
    platform_export!("wasmhost:host/queue-component");
}

/// Spin's guest interfaces that wasmhost implements, from world `wasmhost:spin/spin-imports`
/// of `wit/spin/` (Spin's own WIT, vendored from the spin-sdk 5.2.0 crate):
/// `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue@0.2.0-draft2` (on
/// [`crate::capability::key_value`]), `fermyon:spin/variables@2.0.0` and
/// `wasi:config@0.2.0-draft-2024-09-27` (on [`crate::capability::config`]).
///
/// The Spin `store` and the draft2 `bucket` are the same host resource as our
/// `wasi:keyvalue@0.2.0-draft` bucket ([`crate::capability::key_value::Bucket`]), and each
/// interface's error maps to the same trappable error as its older version. Every other Spin
/// interface is linked as a trap ([`crate::capability::spin`]).
pub mod spin {
    wasmtime::component::bindgen!({
        path: "../wit/spin",
        world: "wasmhost:spin/spin-imports",
        imports: { default: async | trappable },
        with: {
            "fermyon:spin/key-value@2.0.0.store": crate::capability::key_value::Bucket,
            "wasi:keyvalue/store@0.2.0-draft2.bucket": crate::capability::key_value::Bucket,
            "wasi:keyvalue/atomics@0.2.0-draft2.cas": crate::capability::key_value::Cas,
        },
        trappable_error_type: {
            "fermyon:spin/key-value@2.0.0.error" => crate::capability::key_value::KeyValueError,
            "wasi:keyvalue/store@0.2.0-draft2.error" => crate::capability::key_value::KeyValueError,
            "fermyon:spin/variables@2.0.0.error" => crate::capability::config::VariablesError,
            "wasi:config/store@0.2.0-draft-2024-09-27.error" => crate::capability::config::ConfigError,
        },
    });
}

/// The `orchestrator` export and the `orchestration` import of world
/// `wasmhost:host/workflow-component` (an orchestrator of a durable workflow;
/// [`crate::capability::workflow`]), its WASI imports mapped to wasmtime-wasi's and its types
/// to the bindings above.
pub mod workflow_component {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "wasmhost:host/workflow-component",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
            "wasi:random": wasmtime_wasi::p2::bindings::random,
            "wasi:cli": wasmtime_wasi::p2::bindings::cli,
            "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
            "wasmhost:host/workflow-types": crate::bindings::wasmhost::host::workflow_types,
        },
    });
}

/// The `activity-handler` export of world `wasmhost:host/activity-component` (an activity of a
/// durable workflow); every import maps to the bindings above.
pub mod activity_component {
    platform_export!("wasmhost:host/activity-component");
}
