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
//! Async handlers work the same way (`async fn handle(req: Request) -> impl IntoResponse`); they
//! run on a small executor that waits on WASI pollables ([`executor::block_on`]).
//!
//! Capabilities: [`key_value`] stores (`wasi:keyvalue`), opened by the labels the manifest
//! grants; [`variables`] (`wasi:config`), the config keys the manifest gives the component;
//! [`outbound_http`] (`wasi:http/outgoing-handler`), to the hosts the manifest allows.
//!
//! Guests compile for the `wasm32-wasip2` target. The WIT bindings come from the repository's
//! `wit/` directory, the same files the host links against; they are generated into a hidden
//! module and are not part of the public API.

mod body;
pub mod executor;
pub mod key_value;
pub mod outbound_http;
mod request;
mod response;
mod serve;
pub mod variables;

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

pub use body::{Body, IncomingBody, IntoBody};
pub use http;
pub use request::{Request, RequestExt};
pub use response::{IntoResponse, Response};
pub use wasmhost_sdk_macro::http_component;

/// Support for the code that [`http_component`] generates. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::serve::serve;
    pub use crate::wit::export;
    pub use crate::wit::exports::wasi::http::incoming_handler::{
        Guest as IncomingHandler, IncomingRequest, ResponseOutparam,
    };
}
