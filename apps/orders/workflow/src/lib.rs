//! `orders-workflow`: workflow `order`, the orchestrator of the order pipeline. Each turn
//! replays it from the start; every call below is a step of its history.
//!
//! 1. `reserve` the stock (out of stock: the order ends as `out_of_stock`);
//! 2. `charge` the card, retried with exponential backoff while the gateway cannot be
//!    reached; a declined card, or a gateway still failing after the retries, runs the
//!    compensation: `release` the stock (a saga), and the order ends as `payment_failed`;
//! 3. at or above the approval threshold, wait for event `approval` (a person's answer) for
//!    the approval timeout: a rejection or the timeout `refund`s and `release`s;
//! 4. `notify` by email, SMS and push at once (fan-out), and wait for the three (fan-in);
//! 5. `ship`; a shipment that fails for good refunds and releases.
//!
//! Each business outcome completes the instance with an `OrderOutcome` whose `status` says
//! how the order ended, so that a declined card reads as an answer (200 on the status URL),
//! not as a fault. The instance fails only if a compensation itself fails for good: then a
//! person must look at it. The custom status says the stage: `{"stage": "charging"}`, and
//! `{"stage": "done"}` once the order has ended, whichever way.

use std::time::Duration;

use orders_model::{
    Approval, Channel, ChargeOutcome, ChargeRequest, Notification, Notified, OrderInput,
    OrderOutcome, OrderStatus, Refund, Reservation, ReserveOutcome, ShipRequest, Shipment,
    StockRequest,
};
use serde::Serialize;
use wasmhost_sdk::workflow;
use wasmhost_sdk::workflow::{ActivityOptions, RetryPolicy, TaskError, WorkflowContext};

/// The custom status of each stage.
#[derive(Serialize)]
struct Stage {
    stage: &'static str,
}

/// Calls to the payment gateway and the carrier: 4 attempts, 1 s doubling up to 10 s apart,
/// 10 s each.
fn with_retries() -> ActivityOptions {
    ActivityOptions::new()
        .retry(RetryPolicy::exponential(
            4,
            Duration::from_secs(1),
            Duration::from_secs(10),
        ))
        .timeout(Duration::from_secs(10))
}

/// Compensations must not give up early: 10 attempts, 1 s doubling up to 60 s apart.
fn compensation() -> ActivityOptions {
    ActivityOptions::new().retry(RetryPolicy::exponential(
        10,
        Duration::from_secs(1),
        Duration::from_secs(60),
    ))
}

#[workflow]
fn order(ctx: &WorkflowContext, input: OrderInput) -> Result<OrderOutcome, TaskError> {
    let OrderInput { order, approval } = input;
    let order_id = ctx.instance_id();

    stage(ctx, "reserving");
    let stock = StockRequest {
        items: order.items.clone(),
    };
    let reservation = match ctx.call::<ReserveOutcome>("reserve", &stock)? {
        ReserveOutcome::Reserved(reservation) => reservation,
        ReserveOutcome::OutOfStock { sku, available } => {
            stage(ctx, "done");
            return Ok(OrderOutcome::stopped(
                OrderStatus::OutOfStock,
                format!("only {available} of `{sku}` left"),
            ));
        }
    };

    stage(ctx, "charging");
    let charge = ChargeRequest {
        card: order.card.clone(),
        amount: order.amount,
    };
    let refund = match ctx.call_with::<ChargeOutcome>("charge", &charge, with_retries()) {
        Ok(ChargeOutcome::Approved { payment_id }) => Refund {
            payment_id,
            amount: order.amount,
        },
        Ok(ChargeOutcome::Declined { reason }) => {
            return compensate(ctx, &reservation, None, OrderStatus::PaymentFailed, reason);
        }
        Err(err) => {
            let reason = format!("the payment gateway failed: {err}");
            return compensate(ctx, &reservation, None, OrderStatus::PaymentFailed, reason);
        }
    };
    let paid = Some(&refund);

    if order.amount >= approval.threshold_cents {
        stage(ctx, "awaiting_approval");
        let timeout = Duration::from_secs(approval.timeout_secs);
        let (status, reason) = match ctx.wait_for_event::<Approval>("approval", Some(timeout)) {
            Ok(Approval { approved: true, .. }) => (None, String::new()),
            Ok(Approval { by, .. }) => (Some(OrderStatus::Rejected), format!("rejected by {by}")),
            Err(TaskError::TimedOut) => (
                Some(OrderStatus::ApprovalTimedOut),
                format!("not approved within {} s", approval.timeout_secs),
            ),
            Err(err) => (Some(OrderStatus::Rejected), err.to_string()),
        };
        if let Some(status) = status {
            return compensate(ctx, &reservation, paid, status, reason);
        }
    }

    stage(ctx, "notifying");
    let text = format!("Order {order_id}: paid, on its way.");
    let sent = Channel::ALL.map(|channel| {
        let notification = Notification {
            channel,
            to: order.email.clone(),
            text: text.clone(),
        };
        ctx.schedule::<Notified>("notify", &notification)
    });
    // A notification that failed does not stop the order; the outcome lists those sent.
    let notified = ctx
        .when_all(sent)
        .into_iter()
        .filter_map(Result::ok)
        .map(|notified| notified.channel)
        .collect();

    stage(ctx, "shipping");
    let ship = ShipRequest {
        order_id,
        items: order.items,
    };
    let shipment = match ctx.call_with::<Shipment>("ship", &ship, with_retries()) {
        Ok(shipment) => shipment,
        Err(err) => {
            let reason = format!("shipping failed: {err}");
            return compensate(ctx, &reservation, paid, OrderStatus::ShippingFailed, reason);
        }
    };

    stage(ctx, "done");
    Ok(OrderOutcome {
        status: OrderStatus::Shipped,
        reason: None,
        payment_id: Some(refund.payment_id),
        tracking: Some(shipment.tracking),
        notified,
    })
}

/// Sets the custom status to `stage`, and logs it once (not again on every replay).
fn stage(ctx: &WorkflowContext, stage: &'static str) {
    if !ctx.is_replaying() {
        println!("order {}: {stage}", ctx.instance_id());
    }
    ctx.set_custom_status(&Stage { stage });
}

/// The saga's compensations, the last step first: `refund` the payment (if one was made),
/// then `release` the stock; the order ends as `status` for `reason`.
///
/// # Errors
/// A compensation that failed on its last attempt: the instance fails, naming it.
fn compensate(
    ctx: &WorkflowContext,
    reservation: &Reservation,
    payment: Option<&Refund>,
    status: OrderStatus,
    reason: String,
) -> Result<OrderOutcome, TaskError> {
    stage(ctx, "compensating");
    let failed = |step: &str, err: TaskError| {
        TaskError::Failed(format!("compensation `{step}` failed: {err}"))
    };
    if let Some(payment) = payment {
        ctx.call_with::<()>("refund", payment, compensation())
            .map_err(|err| failed("refund", err))?;
    }
    ctx.call_with::<()>("release", reservation, compensation())
        .map_err(|err| failed("release", err))?;
    stage(ctx, "done");
    Ok(OrderOutcome::stopped(status, reason))
}
