//! `plain-wasip2`: a `wasi:http/proxy` component that knows nothing of wasmhost. It uses only
//! the `wasip2` crate's bindings, exactly as a component written for `wasmtime serve` would.

use wasip2::exports::http::incoming_handler::Guest;
use wasip2::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam, Scheme,
};

struct Plain;

impl Guest for Plain {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let scheme = match request.scheme() {
            Some(Scheme::Http) => "http".to_owned(),
            Some(Scheme::Https) => "https".to_owned(),
            Some(Scheme::Other(other)) => other,
            None => String::new(),
        };
        let headers = Fields::from_list(&[
            ("content-type".to_owned(), b"text/plain".to_vec()),
            // The scheme the host says the request came with.
            ("x-request-scheme".to_owned(), scheme.into_bytes()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        response.set_status_code(200).expect("valid status");
        let body = response.body().expect("body taken once");
        ResponseOutparam::set(response_out, Ok(response));
        let stream = body.write().expect("stream taken once");
        stream
            .blocking_write_and_flush(format!("plain wasip2 component at {path}\n").as_bytes())
            .expect("client is reading");
        drop(stream);
        OutgoingBody::finish(body, None).expect("body finished once");
    }
}

wasip2::http::proxy::export!(Plain);
