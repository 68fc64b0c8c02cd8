//! `__NAME__`: `POST /jobs` sends the request body to queue `jobs` (answering the message id
//! once it is durable); the queue handler stores each job it gets as `last-job` in the
//! `default` store; `GET /jobs/last` reads it.

use wasmhost_sdk::http::{Method, StatusCode};
use wasmhost_sdk::key_value::Store;
use wasmhost_sdk::queue::{self, Delivery, Message};
use wasmhost_sdk::{IntoResponse, Request, RequestExt, Response, http_component, queue_component};

#[http_component]
fn handle(req: Request) -> Response {
    match (req.method().clone(), req.route().unwrap_or_default()) {
        (Method::POST, "/jobs") => {
            let body = req.into_body().into_bytes().unwrap_or_default();
            match queue::send("jobs", Message::new(body)) {
                Ok(id) => (StatusCode::ACCEPTED, format!("{id}\n")).into_response(),
                Err(err) => (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")).into_response(),
            }
        }
        (Method::GET, "/jobs/last") => {
            match Store::open_default().and_then(|s| s.get("last-job")) {
                Ok(Some(job)) => job.into_response(),
                Ok(None) => (StatusCode::NOT_FOUND, "no job handled yet\n").into_response(),
                Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
            }
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "").into_response(),
    }
}

/// Handles a batch of jobs; `Err` makes every job of the batch come again later.
#[queue_component]
fn work(batch: Vec<Delivery>) -> Result<(), String> {
    let store = Store::open_default().map_err(|e| e.to_string())?;
    for job in batch {
        println!("job {} (attempt {})", job.id, job.attempt);
        store
            .set("last-job", &job.body)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
