//! The host's one `bindgen!`: Rust traits for every import that wasmhost implements itself
//! (world `wasmhost:host/platform` in `wit/wasmhost.wit`). Each capability module implements
//! its traits; [`crate::runtime`] adds them all to the one `Linker`.
//!
//! Imports are async (a key-value `get` awaits Redis without blocking a thread) and trappable
//! (a host bug traps the instance, never the host). The WASI 0.2 base and `wasi:http` come
//! from wasmtime-wasi and wasmtime-wasi-http, generated from the same vendored WIT.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wasmhost:host/platform",
    imports: { default: async | trappable },
    with: {
        "wasi:keyvalue/store.bucket": crate::capability::key_value::Bucket,
    },
    trappable_error_type: {
        "wasi:keyvalue/store.error" => crate::capability::key_value::KeyValueError,
    },
});
