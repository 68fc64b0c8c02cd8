//! The `#[http_component]` attribute of `wasmhost-sdk`; use it through that crate.
//!
//! It sits at the guest's entry in the request flow: the function it marks becomes the
//! component's `wasi:http/incoming-handler.handle` export.

use proc_macro::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, ReturnType};

const SIGNATURE: &str = "fn handle(req: wasmhost_sdk::Request) -> impl wasmhost_sdk::IntoResponse";

/// Makes a function the HTTP handler of a wasmhost component.
///
/// The function takes one `wasmhost_sdk::Request` and returns anything that implements
/// `wasmhost_sdk::IntoResponse`. It may be `async`. A crate has at most one such function.
///
/// A signature it cannot serve (no argument, several arguments, `self`, generics, no return
/// type) is a compile error that shows the expected signature.
#[proc_macro_attribute]
pub fn http_component(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return error(
            proc_macro2::TokenStream::from(attr).span(),
            "#[http_component] takes no arguments",
        );
    }
    let func = match syn::parse::<ItemFn>(item) {
        Ok(func) => func,
        Err(err) => {
            return error(
                err.span(),
                &format!("#[http_component] goes on a function: `{SIGNATURE}`"),
            );
        }
    };
    if let Some(problem) = signature_problem(&func) {
        return error(
            func.sig.span(),
            &format!("{problem}; expected `{SIGNATURE}` (it may be async)"),
        );
    }

    let name = &func.sig.ident;
    let call = if func.sig.asyncness.is_some() {
        quote!(::wasmhost_sdk::executor::block_on(super::#name(req)))
    } else {
        quote!(super::#name(req))
    };
    quote! {
        #func

        #[doc(hidden)]
        mod __wasmhost_http_component {
            struct Component;

            impl ::wasmhost_sdk::__private::IncomingHandler for Component {
                fn handle(
                    request: ::wasmhost_sdk::__private::IncomingRequest,
                    response_out: ::wasmhost_sdk::__private::ResponseOutparam,
                ) {
                    ::wasmhost_sdk::__private::serve(request, response_out, |req| #call);
                }
            }

            ::wasmhost_sdk::__private::export!(Component);
        }
    }
    .into()
}

fn signature_problem(func: &ItemFn) -> Option<&'static str> {
    let sig = &func.sig;
    if !sig.generics.params.is_empty() {
        return Some("an #[http_component] handler cannot be generic");
    }
    if sig.inputs.len() != 1 {
        return Some("an #[http_component] handler takes exactly one argument, the request");
    }
    if matches!(sig.inputs.first(), Some(FnArg::Receiver(_))) {
        return Some("an #[http_component] handler is a free function, not a method");
    }
    if matches!(sig.output, ReturnType::Default) {
        return Some("an #[http_component] handler must return a response");
    }
    None
}

fn error(span: proc_macro2::Span, message: &str) -> TokenStream {
    syn::Error::new(span, message).to_compile_error().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(src: &str) -> Option<&'static str> {
        signature_problem(&syn::parse_str::<ItemFn>(src).unwrap())
    }

    #[test]
    fn accepts_sync_and_async_handlers() {
        assert_eq!(
            problem("fn handle(req: Request) -> impl IntoResponse { \"\" }"),
            None
        );
        assert_eq!(
            problem("async fn handle(req: Request) -> String { String::new() }"),
            None
        );
    }

    #[test]
    fn rejects_signatures_it_cannot_serve() {
        assert_eq!(
            problem("fn handle() -> String { String::new() }"),
            Some("an #[http_component] handler takes exactly one argument, the request")
        );
        assert_eq!(
            problem("fn handle(a: Request, b: u32) -> String { String::new() }"),
            Some("an #[http_component] handler takes exactly one argument, the request")
        );
        assert_eq!(
            problem("fn handle(req: Request) {}"),
            Some("an #[http_component] handler must return a response")
        );
        assert_eq!(
            problem("fn handle<T>(req: T) -> String { String::new() }"),
            Some("an #[http_component] handler cannot be generic")
        );
        assert_eq!(
            problem("fn handle(self) -> String { String::new() }"),
            Some("an #[http_component] handler is a free function, not a method")
        );
    }
}
