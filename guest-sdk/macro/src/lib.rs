//! The attributes of `wasmhost-sdk` (`#[http_component]`, `#[cron_component]`,
//! `#[queue_component]`, `#[workflow]`, `#[activity]`); use them through that crate.
//!
//! They sit at the guest's entry in the flow: the function `#[http_component]` marks becomes
//! the component's `wasi:http/incoming-handler.handle` export (called per HTTP request); the
//! one `#[cron_component]` marks becomes `wasmhost:host/cron-handler.handle` (called per cron
//! tick); the one `#[queue_component]` marks becomes `wasmhost:host/queue-handler.handle`
//! (called per batch of queue messages); the one `#[workflow]` marks becomes
//! `wasmhost:host/orchestrator.run` (called once per turn of a workflow instance); the one
//! `#[activity]` marks becomes `wasmhost:host/activity-handler.run` (called per attempt of an
//! activity call).

use proc_macro::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

/// What differs between the attributes.
struct Kind {
    /// `http_component`, `cron_component`, `queue_component`, `workflow` or `activity`.
    name: &'static str,
    /// The signature shown in errors.
    signature: &'static str,
    /// The numbers of arguments the function may take.
    arities: &'static [usize],
    /// What the arguments are, for errors: "an #[x] function takes {arguments}".
    arguments: &'static str,
    /// What it must return, if it must return a value, for errors: "an #[x] function must
    /// return {returns}".
    returns: Option<&'static str>,
    /// Whether the function may be `async` (run on the SDK's executor).
    may_be_async: bool,
}

const HTTP: Kind = Kind {
    name: "http_component",
    signature: "fn handle(req: wasmhost_sdk::Request) -> impl wasmhost_sdk::IntoResponse",
    arities: &[1],
    arguments: "exactly one argument, the request",
    returns: Some("a response"),
    may_be_async: true,
};

const QUEUE: Kind = Kind {
    name: "queue_component",
    signature: "fn handle(batch: Vec<wasmhost_sdk::queue::Delivery>) -> Result<(), impl Display>",
    arities: &[1],
    arguments: "exactly one argument, the batch",
    returns: None,
    may_be_async: true,
};

const CRON: Kind = Kind {
    name: "cron_component",
    signature: "fn run(tick: wasmhost_sdk::cron::Tick) -> Result<(), impl Display>",
    arities: &[1],
    arguments: "exactly one argument, the tick",
    returns: None,
    may_be_async: true,
};

const WORKFLOW: Kind = Kind {
    name: "workflow",
    signature: "fn name(ctx: &wasmhost_sdk::workflow::WorkflowContext, input: impl DeserializeOwned) -> Result<impl Serialize, impl Display>",
    arities: &[2],
    arguments: "two arguments, the context and the input",
    returns: Some("a `Result`: the output or the error"),
    may_be_async: false,
};

const ACTIVITY: Kind = Kind {
    name: "activity",
    signature: "fn name(ctx: wasmhost_sdk::workflow::ActivityContext, input: impl DeserializeOwned) -> Result<impl Serialize, impl Display>",
    arities: &[1, 2],
    arguments: "the context and, optionally, the input",
    returns: Some("a `Result`: the output or the error"),
    may_be_async: true,
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
    expand(&HTTP, attr, item, |handler, _| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::IncomingHandler for Component {
                fn handle(
                    request: ::wasmhost_sdk::__private::IncomingRequest,
                    response_out: ::wasmhost_sdk::__private::ResponseOutparam,
                ) {
                    ::wasmhost_sdk::__private::serve(request, response_out, #handler);
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
    expand(&CRON, attr, item, |handler, _| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::CronHandler for Component {
                fn handle(
                    scheduled_time: ::wasmhost_sdk::__private::Datetime,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    ::wasmhost_sdk::__private::run_cron(scheduled_time, #handler)
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
    expand(&QUEUE, attr, item, |handler, _| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::QueueHandler for Component {
                fn handle(
                    batch: ::std::vec::Vec<::wasmhost_sdk::__private::Delivery>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    ::wasmhost_sdk::__private::run_queue(batch, #handler)
                }
            }

            ::wasmhost_sdk::__private::export_queue!(Component);
        }
    })
}

/// Makes a function the orchestrator of a wasmhost workflow (its
/// `wasmhost:host/orchestrator` export), run from the start at every turn of every instance of
/// the `[[trigger.workflow]]` entries that name the component.
///
/// The function takes `&wasmhost_sdk::workflow::WorkflowContext` and the input (any
/// `serde::de::DeserializeOwned` type, read from the instance's JSON input) and returns
/// `Result<O, E>` (`O: serde::Serialize`, the output, as JSON; `E: Display`, which fails the
/// instance with its text). It is not `async`: the context's calls block, ending the turn
/// where a result is not there yet. A crate has at most one such function.
///
/// A signature it cannot export is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn workflow(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(&WORKFLOW, attr, item, |handler, _| {
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::Orchestrator for Component {
                fn run(
                    input: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    ::wasmhost_sdk::__private::run_workflow(input, #handler)
                }
            }

            ::wasmhost_sdk::__private::export_workflow!(Component);
        }
    })
}

/// Makes a function the activity handler of a wasmhost component (its
/// `wasmhost:host/activity-handler` export), called for each attempt of each call of the
/// `[[trigger.activity]]` entries that name the component.
///
/// The function takes `wasmhost_sdk::workflow::ActivityContext` and either the input (any
/// `serde::de::DeserializeOwned` type, read from the call's JSON input) or nothing (a
/// component serving several activities dispatches on `ctx.name()` and reads each input with
/// `ctx.input::<T>()`). It returns `Result<O, E>`: `Ok` completes the attempt with `O`
/// (`serde::Serialize`) as JSON; `Err` (`E: Display`) fails it, to be retried as the call's
/// retry policy says. It may be `async`. A crate has at most one such function.
///
/// A signature it cannot export is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn activity(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand(&ACTIVITY, attr, item, |handler, arity| {
        let run = if arity == 1 {
            quote!(dispatch_activity)
        } else {
            quote!(run_activity)
        };
        quote! {
            struct Component;

            impl ::wasmhost_sdk::__private::ActivityHandler for Component {
                fn run(
                    call: ::wasmhost_sdk::__private::ActivityCall,
                ) -> ::core::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    ::wasmhost_sdk::__private::#run(call, #handler)
                }
            }

            ::wasmhost_sdk::__private::export_activity!(Component);
        }
    })
}

/// Parses and checks the function, then emits it with its export: the items
/// `export(handler, arity)` makes, where `handler` is a closure of `arity` arguments that calls
/// the function with them (through the SDK's executor if it is async). The export goes in an anonymous `const`, so that it also works where the function
/// is not at module level (a doctest's `main`); a hidden marker named after the attribute makes
/// a second use in one crate a clear "defined multiple times" error.
fn expand(
    kind: &Kind,
    attr: TokenStream,
    item: TokenStream,
    export: impl FnOnce(proc_macro2::TokenStream, usize) -> proc_macro2::TokenStream,
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
            &format!(
                "{problem}; expected `{}`{}",
                kind.signature,
                if kind.may_be_async {
                    " (it may be async)"
                } else {
                    ""
                }
            ),
        );
    }
    let name = &func.sig.ident;
    let arity = func.sig.inputs.len();
    let args: Vec<_> = (0..arity).map(|i| quote::format_ident!("arg{i}")).collect();
    let call = quote!(#name(#(#args),*));
    let call = if func.sig.asyncness.is_some() {
        quote!(::wasmhost_sdk::executor::block_on(#call))
    } else {
        call
    };
    let marker = quote::format_ident!("__wasmhost_{}", kind.name);
    let export = export(quote!(|#(#args),*| #call), arity);
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
    if !kind.arities.contains(&sig.inputs.len()) {
        return Some(format!("an #[{name}] function takes {}", kind.arguments));
    }
    if !kind.may_be_async && sig.asyncness.is_some() {
        return Some(format!(
            "an #[{name}] function is not async: its calls block where they must wait"
        ));
    }
    if matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Some(format!(
            "an #[{name}] function is a free function, not a method"
        ));
    }
    if let (Some(returns), ReturnType::Default) = (kind.returns, &sig.output) {
        return Some(format!("an #[{name}] function must return {returns}"));
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

    #[test]
    fn workflows_take_the_context_and_the_input_and_are_not_async() {
        let workflow = |src| problem(&WORKFLOW, src);
        assert_eq!(
            workflow(
                "fn order(ctx: &WorkflowContext, order: Order) -> Result<Done, String> { todo!() }"
            ),
            None
        );
        assert_eq!(
            workflow("fn order(order: Order) -> Result<Done, String> { todo!() }").unwrap(),
            "an #[workflow] function takes two arguments, the context and the input"
        );
        assert_eq!(
            workflow("fn order(ctx: &WorkflowContext, order: Order) {}").unwrap(),
            "an #[workflow] function must return a `Result`: the output or the error"
        );
        assert_eq!(
            workflow(
                "async fn order(ctx: &WorkflowContext, order: Order) -> Result<(), String> { Ok(()) }"
            )
            .unwrap(),
            "an #[workflow] function is not async: its calls block where they must wait"
        );
    }

    #[test]
    fn activities_take_the_input_or_dispatch_on_the_context() {
        let activity = |src| problem(&ACTIVITY, src);
        assert_eq!(
            activity(
                "fn charge(ctx: ActivityContext, input: Charge) -> Result<Receipt, String> { todo!() }"
            ),
            None
        );
        assert_eq!(
            activity("async fn stock(ctx: ActivityContext) -> Result<Value, String> { todo!() }"),
            None
        );
        assert_eq!(
            activity("fn stock() -> Result<Value, String> { todo!() }").unwrap(),
            "an #[activity] function takes the context and, optionally, the input"
        );
    }
}
