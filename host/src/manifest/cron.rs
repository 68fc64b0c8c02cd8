//! Layer 2, startup step 2: the `[[trigger.cron]]` entries of the manifest, checked into
//! [`CronTrigger`]s (schedule parsed with croner, time zone with chrono-tz).

use std::collections::HashMap;

use super::raw::RawManifest;
use super::{Doc, ManifestError, ManifestErrorKind, trigger_component};
use crate::app::CronTrigger;

/// Checks `[[trigger.cron]]`: schedule syntax (croner, seconds optional, no year field),
/// timezone, component.
pub(super) fn check_cron_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<Vec<CronTrigger>, ManifestError> {
    let parser = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .year(croner::parser::Year::Disallowed)
        .build();
    raw.trigger
        .cron
        .iter()
        .enumerate()
        .map(|(i, trigger)| {
            let expression = trigger.schedule.get_ref().clone();
            let schedule = parser.parse(&expression).map_err(|err| {
                doc.error(
                    trigger.schedule.span(),
                    ManifestErrorKind::Schedule {
                        index: i,
                        expression: expression.clone(),
                        error: err.to_string(),
                    },
                )
            })?;
            let timezone = match &trigger.timezone {
                None => chrono_tz::UTC,
                Some(name) => name.get_ref().parse().map_err(|_| {
                    doc.error(
                        name.span(),
                        ManifestErrorKind::Timezone {
                            index: i,
                            name: name.get_ref().clone(),
                        },
                    )
                })?,
            };
            let component = trigger_component(doc, raw, index, "cron", i, &trigger.component)?;
            Ok(CronTrigger {
                schedule,
                expression,
                timezone,
                component,
            })
        })
        .collect()
}
