//! Layer 6, the cron trigger: each `[[trigger.cron]]` runs its component's
//! `wasmhost:host/cron-handler.handle` at every tick of its schedule.
//!
//! One tokio task per trigger computes the next tick with croner (in the trigger's time zone),
//! sleeps until then, asks the [`TickClaims`] whether this node runs the tick, and starts the
//! run on a task of its own, through the invocation recipe ([`crate::trigger::invoke`]): a
//! fresh instance, as for an HTTP request, with the same CPU deadline and grants. A tick that comes while the trigger's previous run is still going is
//! skipped: logged and counted, never started twice. A run that returns `err` or traps is
//! logged and counted; it is not retried. Counts: `wasmhost_cron_runs_total`,
//! `wasmhost_cron_skips_total` and `wasmhost_invocations_total{trigger="cron"}`
//! ([`crate::metrics`]).
//!
//! The seam for several nodes: [`TickClaims`] decides which node runs a tick. One node alone
//! claims every tick ([`LocalClaims`]); nodes sharing Redis will claim each (trigger, tick)
//! once, with `SET NX`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use wasmtime_wasi::p2::bindings::clocks::wall_clock::Datetime;

use crate::app::CronTrigger;
use crate::app_version::AppVersion;
use crate::invocation::RequestId;
use crate::metrics::Outcome;
use crate::trace::TraceContext;
use crate::trigger::invoke::{self, Failure, Trigger, Who};

/// Decides which node runs a tick.
pub trait TickClaims: Send + Sync + 'static {
    /// Whether this node runs trigger `trigger` (its index in `[[trigger.cron]]`) for the tick
    /// scheduled at `tick`. Called once per tick on every node.
    fn claim(&self, trigger: usize, tick: DateTime<Utc>) -> bool;
}

/// One node alone: every tick is this node's.
#[derive(Debug, Default)]
pub struct LocalClaims;

impl TickClaims for LocalClaims {
    fn claim(&self, _trigger: usize, _tick: DateTime<Utc>) -> bool {
        true
    }
}

/// Runs every cron trigger of `version`'s app until the returned future is dropped. Returns
/// at once (pending forever) if the app has none.
pub async fn run_all(version: Arc<AppVersion>, claims: Arc<dyn TickClaims>) {
    let schedulers = version
        .app
        .cron_triggers
        .iter()
        .enumerate()
        .map(|(index, _)| schedule(version.clone(), index, claims.clone()));
    futures::future::join_all(schedulers).await;
    std::future::pending::<()>().await;
}

/// The scheduler of trigger `index`: sleeps until each tick and starts its run.
async fn schedule(version: Arc<AppVersion>, index: usize, claims: Arc<dyn TickClaims>) {
    let trigger = &version.app.cron_triggers[index];
    let component = &version.components[trigger.component].id;
    let stats = version
        .metrics
        .cron(component.as_str(), &trigger.expression);
    let running = Arc::new(AtomicBool::new(false));
    tracing::info!(
        app = %version.app.name,
        trigger = "cron",
        index,
        component = %component,
        schedule = %trigger.expression,
        timezone = %trigger.timezone,
        "cron trigger scheduled",
    );
    let mut after = Utc::now();
    loop {
        let Some(tick) = next_tick(trigger, after) else {
            tracing::warn!(trigger = "cron", index, schedule = %trigger.expression, "the schedule has no further tick");
            return;
        };
        let wait = (tick - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        // The next tick comes after this one and after now: a host that slept through several
        // ticks (a suspended VM, a clock step) runs the overdue one once, not a burst, and a
        // wall clock a little behind the timer never runs a tick twice.
        after = tick.max(Utc::now());
        if !claims.claim(index, tick) {
            continue;
        }
        if running.swap(true, Ordering::AcqRel) {
            stats.skips.inc();
            let skips = stats.skips.get();
            tracing::warn!(
                app = %version.app.name,
                trigger = "cron",
                index,
                component = %component,
                %tick,
                skips,
                "cron tick skipped: the previous run is still going",
            );
            continue;
        }
        stats.runs.inc();
        let (version, running, tasks) = (version.clone(), running.clone(), version.tasks.clone());
        tasks.spawn(async move {
            // A failure is logged and counted by the recipe.
            let _ = run_once(&version, index, tick).await;
            running.store(false, Ordering::Release);
        });
    }
}

/// The first tick of `trigger` strictly after `after`, in UTC.
pub fn next_tick(trigger: &CronTrigger, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = after.with_timezone(&trigger.timezone);
    trigger
        .schedule
        .find_next_occurrence(&local, false)
        .ok()
        .map(|next| next.with_timezone(&Utc))
}

/// One run of trigger `index` (in `[[trigger.cron]]` order) for `tick`: instantiate, call
/// `handle`, count it, log a failure. The scheduler calls it at each tick;
/// [`crate::operate::run_cron`] calls it for a run by hand.
///
/// # Errors
/// The guest's `err`, a trap, or an exceeded deadline, as the recipe counted and logged it.
pub async fn run_once(
    version: &AppVersion,
    index: usize,
    tick: DateTime<Utc>,
) -> Result<(), Failure> {
    let trigger = &version.app.cron_triggers[index];
    let component = &version.components[trigger.component];
    let Some(export) = &component.cron else {
        unreachable!("AppVersion::load checks that every cron component exports cron-handler")
    };
    let run_id = RequestId::generate();
    let (span, trace) = TraceContext::start(None, || {
        tracing::info_span!(
            target: crate::trace::SPAN_TARGET,
            "invocation",
            otel.name = %format_args!("cron {}", trigger.expression),
            otel.kind = "internal",
            otel.status_code = tracing::field::Empty,
            wasmhost.app = %version.app_name,
            wasmhost.component = %component.id,
            wasmhost.trigger = "cron",
            wasmhost.request_id = %run_id,
            wasmhost.schedule = %trigger.expression,
            wasmhost.outcome = tracing::field::Empty,
        )
    });
    let invocation = component.invocation(run_id.clone(), trace);
    let scheduled_time = Datetime {
        seconds: u64::try_from(tick.timestamp()).unwrap_or_default(),
        nanoseconds: tick.timestamp_subsec_nanos(),
    };
    let cron = Cron { index, tick };
    let result = invoke::start(version, component, export, invocation, span, cron)
        .run(move |instance, mut store| async move {
            instance
                .wasmhost_host_cron_handler()
                .call_handle(&mut store, scheduled_time)
                .await
        })
        .await;
    if result.is_ok() {
        tracing::debug!(
            app = %version.app.name,
            trigger = "cron",
            index,
            component = %component.id,
            request_id = %run_id,
            %tick,
            "cron run done"
        );
    }
    result
}

/// The cron trigger in the invocation recipe: trigger `index` of `[[trigger.cron]]`, for
/// `tick`.
struct Cron {
    index: usize,
    tick: DateTime<Utc>,
}

impl Trigger for Cron {
    const NAME: &'static str = "cron";

    fn log_failure(&self, who: &Who, outcome: Outcome, failure: &Failure) {
        let failure = match failure {
            Failure::Answered(_) => failure.detail(),
            Failure::Trapped(_) => format!("trapped: {}", failure.detail()),
        };
        tracing::error!(
            app = %who.app,
            trigger = Self::NAME,
            index = self.index,
            component = %who.component,
            request_id = %who.request_id,
            tick = %self.tick,
            outcome = outcome.as_str(),
            "cron run failed: {failure}",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(expression: &str, timezone: chrono_tz::Tz) -> CronTrigger {
        CronTrigger {
            schedule: expression.parse().unwrap(),
            expression: expression.to_owned(),
            timezone,
            component: 0,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn ticks_follow_the_schedule() {
        let every_second = trigger("* * * * * *", chrono_tz::UTC);
        let start = at("2026-01-01T00:00:00Z");
        assert_eq!(
            next_tick(&every_second, start),
            Some(at("2026-01-01T00:00:01Z"))
        );
        let five_minutes = trigger("*/5 * * * *", chrono_tz::UTC);
        assert_eq!(
            next_tick(&five_minutes, at("2026-01-01T00:03:10Z")),
            Some(at("2026-01-01T00:05:00Z"))
        );
    }

    #[test]
    fn schedules_are_read_in_their_time_zone() {
        // 09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer.
        let nine = trigger("0 9 * * *", chrono_tz::Europe::Paris);
        assert_eq!(
            next_tick(&nine, at("2026-01-10T12:00:00Z")),
            Some(at("2026-01-11T08:00:00Z"))
        );
        assert_eq!(
            next_tick(&nine, at("2026-07-10T12:00:00Z")),
            Some(at("2026-07-11T07:00:00Z"))
        );
    }
}
