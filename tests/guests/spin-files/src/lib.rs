//! `spin-files`: a Spin app (spin-sdk 5) for wasmhost's Spin compatibility tests. Its
//! manifest mounts the directory `assets/` at `/` (read-only, as Spin mounts files).
//!
//! By path:
//! - `/read?path=<path>`: 200 and the file's contents (read with `std::fs`), or 404 and the
//!   error;
//! - `/write?path=<path>`: writes `written by the guest` to the file: 200 `written`, or 500
//!   and the error;
//! - `/infer`: asks `spin_sdk::llm::infer` to complete a prompt: 200 and the text, or 503 and
//!   the error. This call makes the component import `fermyon:spin/llm@2.0.0`, an interface
//!   wasmhost does not provide; the tests call it only to see what the host does.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::{http_component, llm};

#[http_component]
fn handle_spin_files(req: Request) -> anyhow::Result<impl IntoResponse> {
    let path = req.query().strip_prefix("path=").unwrap_or_default();
    let response = match req.path() {
        "/read" => match std::fs::read_to_string(path) {
            Ok(contents) => text(200, contents),
            Err(err) => text(404, format!("cannot read {path}: {err}")),
        },
        "/write" => match std::fs::write(path, "written by the guest") {
            Ok(()) => text(200, "written".to_owned()),
            Err(err) => text(500, format!("cannot write {path}: {err}")),
        },
        "/infer" => match llm::infer(llm::InferencingModel::Llama2Chat, "Say hello.") {
            Ok(result) => text(200, result.text),
            Err(err) => text(503, format!("cannot infer: {err}")),
        },
        _ => text(404, "not found".to_owned()),
    };
    Ok(response)
}

fn text(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(body)
        .build()
}
