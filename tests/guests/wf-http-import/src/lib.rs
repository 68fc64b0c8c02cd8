//! `wf-http-import`: an orchestrator that also imports `wasi:http/outgoing-handler` (it
//! fetches the URL its input names with the SDK's outbound HTTP), which an orchestrator may
//! not: the host must refuse it when the app loads, naming the import.

use wasmhost_sdk::workflow::WorkflowContext;
use wasmhost_sdk::{http, outbound_http, workflow};

#[workflow]
fn fetch(ctx: &WorkflowContext, url: String) -> Result<u16, String> {
    let request = http::Request::get(&url)
        .header("x-instance-id", ctx.instance_id())
        .body(())
        .map_err(|err| err.to_string())?;
    let response = outbound_http::send(request).map_err(|err| err.to_string())?;
    Ok(response.status().as_u16())
}
