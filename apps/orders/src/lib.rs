//! `orders`: the HTTP side of the order pipeline. One component file, two components of
//! `wasmhost.toml`:
//! - `api`, the public API, granted workflow `order` (`workflows = ["order"]`):
//!   - `POST /orders` with a JSON order (`{"id"?, "items": [{"sku", "qty"}], "amount"
//!     (cents), "card", "email"}`) starts workflow `order` (as instance `id` if given, else a
//!     new UUID) and answers 202 with `Location: /orders/<id>` and
//!     `{"id", "statusUrl", "approvalUrl"}`;
//!   - `GET /orders/:id` answers the instance's status (`runtimeStatus`, `customStatus`
//!     with the stage, `output` with the outcome): 202 while it runs, 200 once it has ended,
//!     404 for an unknown id;
//!   - `POST /orders/:id/approval` with `{"approved": bool, "by": "name"}` raises event
//!     `approval` on it: 202.
//!
//!   The approval threshold and timeout come from the app's variables
//!   (`approval_threshold_cents`, `approval_timeout_secs`), not from the customer.
//! - `payment-gateway`, a stand-in for a card processor on a private route (reached only by
//!   internal chaining, from activity `charge`): `POST /payment-gateway/charge` declines card
//!   [`DECLINED_CARD`] with 402 and approves any other with 200 and a payment id made from the
//!   `idempotency-key` header (so a retried charge is the same payment);
//!   `POST /payment-gateway/refund` answers 200.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasmhost_sdk::http::{HeaderMap, Response as HttpResponse, StatusCode, header};
use wasmhost_sdk::router::{Params, Router};
use wasmhost_sdk::workflows::{self, ClientError, InstanceStatus};
use wasmhost_sdk::{HttpError, Json, Request, RequestBodyExt, Response, http_component, variables};

use orders_model::{Approval, ApprovalPolicy, ChargeRequest, DECLINED_CARD, Order, OrderInput};

#[http_component]
fn handle(req: Request) -> Response {
    Router::new()
        .post("/orders", place)
        .get("/orders/:id", status)
        .post("/orders/:id/approval", approve)
        .post("/payment-gateway/charge", gateway_charge)
        .post("/payment-gateway/refund", gateway_refund)
        .handle(req)
}

/// An order as `POST /orders` takes it: the order, and optionally the id to give it.
#[derive(Deserialize)]
struct NewOrder {
    #[serde(default)]
    id: Option<String>,
    #[serde(flatten)]
    order: Order,
}

/// A client error as the answer it calls for (404 for an unknown order, 409 for an id in
/// use, ...).
fn client_error(err: ClientError) -> HttpError {
    HttpError::with_status(err.status_code(), err.to_string())
}

fn place(req: Request, _: Params) -> Result<HttpResponse<String>, HttpError> {
    let NewOrder { id, order } = req.json()?;
    check(&order)?;
    let input = OrderInput {
        order,
        approval: ApprovalPolicy {
            threshold_cents: variable("approval_threshold_cents")?,
            timeout_secs: variable("approval_timeout_secs")?,
        },
    };
    let id = workflows::start("order", &input, id.as_deref()).map_err(client_error)?;
    let status_url = format!("/orders/{id}");
    let body = json!({
        "id": id,
        "statusUrl": status_url,
        "approvalUrl": format!("{status_url}/approval"),
    });
    Ok(HttpResponse::builder()
        .status(StatusCode::ACCEPTED)
        .header(header::LOCATION, &status_url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(format!("{body}\n"))?)
}

/// Refuses an order the pipeline cannot take, with 400.
fn check(order: &Order) -> Result<(), HttpError> {
    let problem = if order.items.is_empty() {
        "an order has at least one item"
    } else if order
        .items
        .iter()
        .any(|item| item.qty == 0 || item.sku.is_empty())
    {
        "each item has a sku and a qty of at least 1"
    } else if order.amount == 0 {
        "the amount (in cents) is at least 1"
    } else if !order.email.contains('@') {
        "the email is not an address"
    } else {
        return Ok(());
    };
    Err(HttpError::bad_request(problem))
}

/// A number from the component's variables.
fn variable(name: &str) -> Result<u64, HttpError> {
    let value = variables::get(name)?;
    value
        .trim()
        .parse()
        .map_err(|err| HttpError::internal(format!("variable `{name}` = `{value}`: {err}")))
}

fn status(_: Request, params: Params) -> Result<(StatusCode, Json<InstanceStatus>), HttpError> {
    let id = params.get("id").unwrap_or_default();
    let status = workflows::status(&id).map_err(client_error)?;
    let code = if status.runtime_status.is_done() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((code, Json(status)))
}

fn approve(
    req: Request,
    params: Params,
) -> Result<(StatusCode, Json<serde_json::Value>), HttpError> {
    let approval: Approval = req.json()?;
    let id = params.get("id").unwrap_or_default();
    workflows::raise_event(&id, "approval", &approval).map_err(client_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "event": "approval" })),
    ))
}

/// What the gateway answers.
#[derive(Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum GatewayAnswer {
    Approved { payment_id: String },
    Declined { reason: &'static str },
    Refunded,
}

fn gateway_charge(req: Request, _: Params) -> Result<(StatusCode, Json<GatewayAnswer>), HttpError> {
    let key = idempotency_key(req.headers())?;
    let charge: ChargeRequest = req.json()?;
    if charge.card == DECLINED_CARD {
        let declined = GatewayAnswer::Declined {
            reason: "card declined",
        };
        return Ok((StatusCode::PAYMENT_REQUIRED, Json(declined)));
    }
    let payment_id = format!("pay_{}", key.replace(':', "_"));
    Ok((StatusCode::OK, Json(GatewayAnswer::Approved { payment_id })))
}

fn gateway_refund(req: Request, _: Params) -> Result<Json<GatewayAnswer>, HttpError> {
    idempotency_key(req.headers())?;
    Ok(Json(GatewayAnswer::Refunded))
}

/// The `idempotency-key` header every gateway call carries.
fn idempotency_key(headers: &HeaderMap) -> Result<String, HttpError> {
    headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| HttpError::bad_request("the idempotency-key header is missing"))
}
