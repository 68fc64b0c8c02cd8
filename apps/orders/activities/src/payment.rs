//! Activities `charge` and `refund`: calls to the payment gateway, the app's own private
//! route `/payment-gateway/...` reached by internal chaining (the component is granted
//! `http://payment-gateway.internal` and nothing else).
//!
//! The gateway's answer decides: 200 is a payment (or a refund), 402 a declined card, which is
//! an answer (`ChargeOutcome::Declined`), not a failure. Anything else, or no answer, fails
//! the attempt, and the workflow's retry policy tries again with the same idempotency key,
//! which the gateway uses to charge once.

use serde::Deserialize;
use wasmhost_sdk::http::{self, StatusCode};
use wasmhost_sdk::outbound_http;
use wasmhost_sdk::workflow::ActivityContext;

use orders_model::{ChargeOutcome, ChargeRequest, Refund};

/// Where the gateway is.
const GATEWAY: &str = "http://payment-gateway.internal/payment-gateway";

/// What the gateway answers.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    payment_id: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

/// Charges the card.
///
/// # Errors
/// The gateway could not be reached or gave an unexpected answer.
pub fn charge(ctx: &ActivityContext, request: &ChargeRequest) -> Result<ChargeOutcome, String> {
    let (status, answer) = post(ctx, "charge", request)?;
    match (status, answer) {
        (
            StatusCode::OK,
            Answer {
                payment_id: Some(payment_id),
                ..
            },
        ) => Ok(ChargeOutcome::Approved { payment_id }),
        (StatusCode::PAYMENT_REQUIRED, answer) => Ok(ChargeOutcome::Declined {
            reason: answer.reason.unwrap_or_else(|| "declined".to_owned()),
        }),
        (status, _) => Err(format!("the payment gateway answered {status} to a charge")),
    }
}

/// Refunds a payment.
///
/// # Errors
/// As [`charge`].
pub fn refund(ctx: &ActivityContext, refund: &Refund) -> Result<(), String> {
    match post(ctx, "refund", refund)? {
        (StatusCode::OK, _) => Ok(()),
        (status, _) => Err(format!("the payment gateway answered {status} to a refund")),
    }
}

/// POSTs `body` as JSON to the gateway's `action`, with the call's idempotency key.
fn post(
    ctx: &ActivityContext,
    action: &str,
    body: &impl serde::Serialize,
) -> Result<(StatusCode, Answer), String> {
    let body = serde_json::to_vec(body).map_err(|err| err.to_string())?;
    let request = http::Request::post(format!("{GATEWAY}/{action}"))
        .header("content-type", "application/json")
        .header("idempotency-key", ctx.idempotency_key())
        .body(body)
        .map_err(|err| err.to_string())?;
    let response = outbound_http::send(request)
        .map_err(|err| format!("the payment gateway is unreachable: {err}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .into_bytes()
        .map_err(|err| format!("reading the payment gateway's answer: {err}"))?;
    let answer = serde_json::from_slice(&bytes).unwrap_or(Answer {
        payment_id: None,
        reason: None,
    });
    Ok((status, answer))
}
