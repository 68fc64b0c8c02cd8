//! The `#[http_component]` and `#[cron_component]` attributes of `wasmhost-sdk`; use them
//! through that crate.
//!
//! They sit at the guest's entry in the flow: the function `#[http_component]` marks becomes
//! the component's `wasi:http/incoming-handler.handle` export (called per HTTP request); the
//! one `#[cron_component]` marks becomes `wasmhost:host/cron-handler.handle` (called per cron
//! tick); the one `#[queue_component]` marks becomes `wasmhost:host/queue-handler.handle`
//! (called per batch of queue messages).

use proc_macro::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

/// What differs between the two attributes.
struct Kind {
    /// `http_component`, `cron_component` or `queue_component`.
    name: &'static str,
    /// The signature shown in errors.
    signature: &'static str,
    /// What the single argument is, for errors.
    argument: &'static str,
    /// Whether the function must return a value.
    needs_return: bool,
}

const HTTP: Kind = Kind {
    name: "http_component",
    signature: "fn handle(req: wasmhost_sdk::Request) -> impl wasmhost_sdk::IntoResponse",
    argument: "the request",
    needs_return: true,
};

const QUEUE: Kind = Kind {
    name: "queue_component",
    signature: "fn handle(batch: Vec<wasmhost_sdk::queue::Delivery>) -> Result<(), impl Display>",
    argument: "the batch",
    needs_return: false,
};

const CRON: Kind = Kind {
    name: "cron_component",
    signature: "fn run(tick: wasmhost_sdk::cron::Tick) -> Result<(), impl Display>",
    argument: "the tick",
    needs_return: false,
};

/// Makes a function the HTTP handler of a wasmhost component (its
/// `wasi:http/incoming-handler` export).
///
/// The function takes one `wasmhost_sdk::Request` and returns anything that implements
/// `wasmhost_sdk::IntoResponse`. It may be `async`. A crate has at most one such function.
///
/// A signature it cannot serve (no argument, several arguments, `self`, generics, no return
/// type) is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn http_component(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(&HTTP, attr, item, |call| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::IncomingHandler for Component {
                fn handle(
                    request: ::wasmhost_sdk::__private::IncomingRequest,
                    response_out: ::wasmhost_sdk::__private::ResponseOutparam,
                ) {
                    ::wasmhost_sdk::__private::serve(request, response_out, |arg| #call);
                }
            }

            ::wasmhost_sdk::__private::export!(Component);
        }
    })
}

/// Makes a function the cron job of a wasmhost component (its `wasmhost:host/cron-handler`
/// export), called at every tick of the `[[trigger.cron]]` schedules that name the component.
///
/// The function takes one `wasmhost_sdk::cron::Tick` and returns `()` or
/// `Result<(), E: Display>` (`Err` is a failed run, logged and counted by the host). It may be
/// `async`. A crate has at most one such function.
///
/// A signature it cannot export is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn cron_component(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(&CRON, attr, item, |call| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::CronHandler for Component {
                fn handle(
                    scheduled_time: ::wasmhost_sdk::__private::Datetime,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    ::wasmhost_sdk::__private::run_cron(scheduled_time, |arg| #call)
                }
            }

            ::wasmhost_sdk::__private::export_cron!(Component);
        }
    })
}

/// Makes a function the queue handler of a wasmhost component (its
/// `wasmhost:host/queue-handler` export), called with each batch of messages of the
/// `[[trigger.queue]]` entries that name the component.
///
/// The function takes one `Vec<wasmhost_sdk::queue::Delivery>` and returns `()` or
/// `Result<(), E: Display>`: `Ok` acknowledges the batch, `Err` has every message of it
/// retried (then dead-lettered). It may be `async`. A crate has at most one such function.
///
/// A signature it cannot export is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn queue_component(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(&QUEUE, attr, item, |call| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::QueueHandler for Component {
                fn handle(
                    batch: ::std::vec::Vec<::wasmhost_sdk::__private::Delivery>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    ::wasmhost_sdk::__private::run_queue(batch, |arg| #call)
                }
            }

            ::wasmhost_sdk::__private::export_queue!(Component);
        }
    })
}

/// Parses and checks the function, then emits it with its export: the items `export(call)`
/// makes, where `call` calls the function with `arg` (through the SDK's executor if it is
/// async). The export goes in an anonymous `const`, so that it also works where the function
/// is not at module level (a doctest's `main`); a hidden marker named after the attribute makes
/// a second use in one crate a clear "defined multiple times" error.
fn expand(
    kind: &Kind,
    attr: TokenStream,
    item: TokenStream,
    export: impl FnOnce(proc_macro2::TokenStream) -> proc_macro2::TokenStream,
) -> TokenStream {
    if !attr.is_empty() {
        return error(
            proc_macro2::TokenStream::from(attr).span(),
            &format!("#[{}] takes no arguments", kind.name),
        );
    }
    let func = match syn::parse::<ItemFn>(item) {
        Ok(func) => func,
        Err(err) => {
            return error(
                err.span(),
                &format!("#[{}] goes on a function: `{}`", kind.name, kind.signature),
            );
        }
    };
    if let Some(problem) = signature_problem(kind, &func) {
        return error(
            func.sig.span(),
            &format!("{problem}; expected `{}` (it may be async)", kind.signature),
        );
    }
    let name = &func.sig.ident;
    let call = if func.sig.asyncness.is_some() {
        quote!(::wasmhost_sdk::executor::block_on(#name(arg)))
    } else {
        quote!(#name(arg))
    };
    let marker = quote::format_ident!("__wasmhost_{}", kind.name);
    let export = export(call);
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_upper_case_globals, dead_code)]
        const #marker: () = ();

        const _: () = {
            #export
        };
    }
    .into()
}

fn signature_problem(kind: &Kind, func: &ItemFn) -> Option<String> {
    let sig = &func.sig;
    let name = kind.name;
    if !sig.generics.params.is_empty() {
        return Some(format!("an #[{name}] function cannot be generic"));
    }
    if sig.inputs.len() != 1 {
        return Some(format!(
            "an #[{name}] function takes exactly one argument, {}",
            kind.argument
        ));
    }
    if matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Some(format!(
            "an #[{name}] function is a free function, not a method"
        ));
    }
    if kind.needs_return && matches!(sig.output, ReturnType::Default) {
        return Some(format!("an #[{name}] function must return a response"));
    }
    None
}

fn error(span: proc_macro2::Span, message: &str) -> TokenStream {
    syn::Error::new(span, message).to_compile_error().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(kind: &Kind, src: &str) -> Option<String> {
        signature_problem(kind, &syn::parse_str::<ItemFn>(src).unwrap())
    }

    #[test]
    fn accepts_sync_and_async_functions() {
        assert_eq!(
            problem(
                &HTTP,
                "fn handle(req: Request) -> impl IntoResponse { \"\" }"
            ),
            None
        );
        assert_eq!(
            problem(
                &HTTP,
                "async fn handle(req: Request) -> String { String::new() }"
            ),
            None
        );
        assert_eq!(problem(&CRON, "fn run(tick: Tick) {}"), None);
        assert_eq!(
            problem(
                &CRON,
                "async fn run(tick: Tick) -> Result<(), String> { Ok(()) }"
            ),
            None
        );
    }

    #[test]
    fn rejects_signatures_it_cannot_export() {
        let http = |src| problem(&HTTP, src).unwrap();
        assert_eq!(
            http("fn handle() -> String { String::new() }"),
            "an #[http_component] function takes exactly one argument, the request"
        );
        assert_eq!(
            http("fn handle(a: Request, b: u32) -> String { String::new() }"),
            "an #[http_component] function takes exactly one argument, the request"
        );
        assert_eq!(
            http("fn handle(req: Request) {}"),
            "an #[http_component] function must return a response"
        );
        assert_eq!(
            http("fn handle<T>(req: T) -> String { String::new() }"),
            "an #[http_component] function cannot be generic"
        );
        assert_eq!(
            http("fn handle(self) -> String { String::new() }"),
            "an #[http_component] function is a free function, not a method"
        );
        assert_eq!(
            problem(&CRON, "fn run() {}").unwrap(),
            "an #[cron_component] function takes exactly one argument, the tick"
        );
    }
}
