//! Layer 6, beside the triggers: the shapes of the workflow management API, shared by its
//! admin endpoints ([`crate::admin`], while the app serves) and `wasmhost workflow`
//! ([`crate::lifecycle::workflow`], on the workflow store directly). They follow Durable
//! Functions' HTTP API (<https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-http-api>):
//!
//! - [`InstanceStatus`]: an instance as the status and list endpoints show it;
//! - [`history_event`]: one event of its history, as a JSON object;
//! - [`parse_list_query`] and [`list_query`]: the list endpoint's query, to and from a
//!   [`ListFilter`];
//! - [`or_null`]: an empty input or event payload is the JSON `null`.
//!
//! Inputs, outputs, payloads and custom statuses are bytes, JSON by convention: they are
//! shown as the JSON value they hold, or as a string when they are not JSON ([`payload`]).
//! Times are RFC 3339, UTC, in ms.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::rfc3339_ms;
use crate::capability::workflow::history::{Event, HistoryEvent, InstanceRecord, RuntimeStatus};
use crate::capability::workflow::store::ListFilter;

/// The instances a list page holds when the query gives no `top`: 100.
pub const DEFAULT_TOP: usize = 100;
/// The most instances a list page holds (a larger `top` is cut to it): 1 000.
pub const MAX_TOP: usize = 1000;

/// The list endpoint's header that carries the continuation token of the next page, in the
/// answer (and, as Durable Functions' clients send it, in the request).
pub const CONTINUATION_HEADER: &str = "x-ms-continuation-token";

/// An instance as the status and list endpoints show it (JSON, camelCase keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// Its workflow.
    pub name: String,
    /// The instance id.
    pub instance_id: String,
    /// Where it is: `Pending`, `Running`, `Completed`, `Failed`, `Terminated` or
    /// `ContinuedAsNew`.
    pub runtime_status: RuntimeStatus,
    /// The input of its current execution ([`payload`]).
    pub input: Value,
    /// The output once completed ([`payload`]), else `null`.
    pub output: Value,
    /// The last custom status the orchestrator set ([`payload`]), else `null`.
    pub custom_status: Value,
    /// Why it failed or was terminated; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When it was started: RFC 3339, UTC, in ms.
    pub created_time: String,
    /// When it last changed: RFC 3339, UTC, in ms.
    pub last_updated_time: String,
    /// The history of its current execution, in order ([`history_event`]), when asked for
    /// (`showHistory=true`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_events: Option<Vec<Value>>,
}

impl InstanceStatus {
    /// The status of `record`, with `history` if it is given.
    pub fn new(record: &InstanceRecord, history: Option<&[HistoryEvent]>) -> Self {
        let optional = |bytes: &Option<Vec<u8>>| bytes.as_deref().map_or(Value::Null, payload);
        Self {
            name: record.workflow.clone(),
            instance_id: record.id.clone(),
            runtime_status: record.status,
            input: payload(&record.input),
            output: optional(&record.output),
            custom_status: optional(&record.custom_status),
            error: record.error.clone(),
            created_time: rfc3339_ms(record.created_ms).unwrap_or_default(),
            last_updated_time: rfc3339_ms(record.updated_ms).unwrap_or_default(),
            history_events: history.map(|events| events.iter().map(history_event).collect()),
        }
    }
}

/// `bytes` as the JSON value they hold, or, when they are not JSON, as a string (invalid
/// UTF-8 replaced by U+FFFD).
pub fn payload(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// `body` as an input or event payload: an empty body is the JSON `null` (so that an
/// orchestrator taking `()` or an `Option` can read it), any other is kept as it is.
pub fn or_null(body: Vec<u8>) -> Vec<u8> {
    if body.is_empty() {
        b"null".to_vec()
    } else {
        body
    }
}

/// One history event as a JSON object: `eventType` (its kind: `Started`,
/// `ActivityScheduled`, ...), `timestamp` (when it was recorded, RFC 3339), then its fields in
/// camelCase: `seq` (the task's sequence number), `name`, `instanceId` (a sub-workflow's),
/// `input`, `output`, `payload` and `customStatus` ([`payload`]), `error`, `reason`,
/// `inputHash` (16 hex digits), `fireAt` and `timeoutAt` (RFC 3339).
pub fn history_event(event: &HistoryEvent) -> Value {
    let hash = |hash: &u64| format!("{hash:016x}");
    let fields = match &event.event {
        Event::Started { input } | Event::ContinuedAsNew { input } => {
            json!({ "input": payload(input) })
        }
        Event::ActivityScheduled {
            seq,
            name,
            input_hash,
        } => json!({ "seq": seq, "name": name, "inputHash": hash(input_hash) }),
        Event::ActivityCompleted { seq, output } | Event::SubWorkflowCompleted { seq, output } => {
            json!({ "seq": seq, "output": payload(output) })
        }
        Event::ActivityFailed { seq, error } | Event::SubWorkflowFailed { seq, error } => {
            json!({ "seq": seq, "error": error })
        }
        Event::TimerCreated { seq, fire_at_ms } => {
            json!({ "seq": seq, "fireAt": rfc3339_ms(*fire_at_ms) })
        }
        Event::TimerFired { seq } => json!({ "seq": seq }),
        Event::EventWaited {
            seq,
            name,
            timeout_at_ms,
        } => json!({ "seq": seq, "name": name, "timeoutAt": timeout_at_ms.and_then(rfc3339_ms) }),
        Event::EventRaised { name, payload: p } => json!({ "name": name, "payload": payload(p) }),
        Event::SubWorkflowScheduled {
            seq,
            name,
            instance,
            input_hash,
        } => json!({
            "seq": seq,
            "name": name,
            "instanceId": instance,
            "inputHash": hash(input_hash),
        }),
        Event::CustomStatusSet { status } => {
            json!({ "customStatus": status.as_deref().map_or(Value::Null, payload) })
        }
        Event::Completed { output } => json!({ "output": payload(output) }),
        Event::Failed { error } => json!({ "error": error }),
        Event::Terminated { reason } => json!({ "reason": reason }),
    };
    let mut object = serde_json::Map::new();
    object.insert("eventType".to_owned(), event.event.kind().into());
    object.insert("timestamp".to_owned(), rfc3339_ms(event.at_ms).into());
    if let Value::Object(fields) = fields {
        object.extend(fields);
    }
    Value::Object(object)
}

/// `text`, an RFC 3339 time (such as `2026-01-31T12:00:00Z` or with an offset), in ms since
/// the Unix epoch.
///
/// # Errors
/// `text` is not an RFC 3339 time, or is before 1970; the message quotes it.
pub fn parse_time(text: &str) -> Result<u64, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .and_then(|time| u64::try_from(time.timestamp_millis()).ok())
        .ok_or_else(|| {
            format!(
                "`{}` is not an RFC 3339 time after 1970, such as 2026-01-31T12:00:00Z",
                text.escape_debug()
            )
        })
}

/// The statuses named in `names`, comma-separated (any case, as [`RuntimeStatus::parse`]).
///
/// # Errors
/// A name that is no status; the message lists the statuses.
pub fn parse_statuses(names: &str) -> Result<Vec<RuntimeStatus>, String> {
    names
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            RuntimeStatus::parse(name).ok_or_else(|| {
                let valid: Vec<&str> = RuntimeStatus::ALL.iter().map(|s| s.as_str()).collect();
                format!(
                    "`{}` is not a runtime status; the statuses are {}",
                    name.escape_debug(),
                    valid.join(", ")
                )
            })
        })
        .collect()
}

/// The instances the list endpoint's `query` (`application/x-www-form-urlencoded`) selects:
/// `runtimeStatus` (comma-separated, repeatable), `createdTimeFrom` (inclusive) and
/// `createdTimeTo` (exclusive), RFC 3339; `workflow`; `top` (default [`DEFAULT_TOP`], at most
/// [`MAX_TOP`]); `continuationToken` (from the previous page's [`CONTINUATION_HEADER`]).
/// Unknown parameters are ignored.
///
/// # Errors
/// A parameter that does not parse; the message names it.
pub fn parse_list_query(query: Option<&str>) -> Result<ListFilter, String> {
    let mut filter = ListFilter {
        top: DEFAULT_TOP,
        ..ListFilter::default()
    };
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let time = || parse_time(&value).map_err(|err| format!("`{name}`: {err}"));
        match &*name {
            "runtimeStatus" => filter
                .statuses
                .extend(parse_statuses(&value).map_err(|err| format!("`{name}`: {err}"))?),
            "createdTimeFrom" => filter.created_from_ms = Some(time()?),
            "createdTimeTo" => filter.created_to_ms = Some(time()?),
            "workflow" => filter.workflow = Some(value.into_owned()),
            "top" => {
                filter.top = match value.parse::<usize>() {
                    Ok(top) if top > 0 => top.min(MAX_TOP),
                    _ => {
                        return Err(format!(
                            "`top` must be a whole number from 1, not `{value}`"
                        ));
                    }
                }
            }
            "continuationToken" => filter.continuation = Some(value.into_owned()),
            _ => {}
        }
    }
    Ok(filter)
}

/// `filter` as the list endpoint's query, as [`parse_list_query`] reads it back.
pub fn list_query(filter: &ListFilter) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if !filter.statuses.is_empty() {
        let names: Vec<&str> = filter.statuses.iter().map(|s| s.as_str()).collect();
        query.append_pair("runtimeStatus", &names.join(","));
    }
    for (name, ms) in [
        ("createdTimeFrom", filter.created_from_ms),
        ("createdTimeTo", filter.created_to_ms),
    ] {
        if let Some(time) = ms.and_then(rfc3339_ms) {
            query.append_pair(name, &time);
        }
    }
    if let Some(workflow) = &filter.workflow {
        query.append_pair("workflow", workflow);
    }
    query.append_pair("top", &filter.top.to_string());
    if let Some(token) = &filter.continuation {
        query.append_pair("continuationToken", token);
    }
    query.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> InstanceRecord {
        InstanceRecord {
            id: "order-1".to_owned(),
            workflow: "order".to_owned(),
            status: RuntimeStatus::Completed,
            input: br#"{"amount":12}"#.to_vec(),
            output: Some(b"not json".to_vec()),
            error: None,
            custom_status: Some(br#"{"stage":"shipped"}"#.to_vec()),
            created_ms: 1_767_225_600_000,
            updated_ms: 1_767_225_601_500,
            digest: "ab".repeat(32),
            history_len: 2,
            first_seq: 0,
            execution: 0,
            turns: 3,
            parent: None,
            traceparent: None,
        }
    }

    #[test]
    fn a_status_shows_json_as_json_and_other_bytes_as_strings() {
        let status = InstanceStatus::new(&record(), None);
        insta::assert_snapshot!(serde_json::to_string(&status).unwrap());
        let back: InstanceStatus =
            serde_json::from_str(&serde_json::to_string(&status).unwrap()).unwrap();
        assert_eq!(back, status);
    }

    #[test]
    fn a_status_with_history_lists_each_event_with_its_fields() {
        let at = |at_ms, event| HistoryEvent { at_ms, event };
        let history = [
            at(
                1_767_225_600_000,
                Event::Started {
                    input: br#"{"amount":12}"#.to_vec(),
                },
            ),
            at(
                1_767_225_600_001,
                Event::ActivityScheduled {
                    seq: 0,
                    name: "reserve".to_owned(),
                    input_hash: 0xfeed,
                },
            ),
            at(
                1_767_225_600_002,
                Event::EventWaited {
                    seq: 1,
                    name: "approval".to_owned(),
                    timeout_at_ms: Some(1_767_312_000_000),
                },
            ),
            at(
                1_767_225_600_003,
                Event::EventRaised {
                    name: "approval".to_owned(),
                    payload: b"\xff".to_vec(),
                },
            ),
            at(1_767_225_600_004, Event::CustomStatusSet { status: None }),
            at(
                1_767_225_600_005,
                Event::Terminated {
                    reason: "by hand".to_owned(),
                },
            ),
        ];
        let mut status = InstanceStatus::new(&record(), Some(&history));
        status.runtime_status = RuntimeStatus::Terminated;
        status.error = Some("terminated: by hand".to_owned());
        insta::assert_snapshot!(serde_json::to_string_pretty(&status).unwrap());
    }

    #[test]
    fn an_empty_body_is_null() {
        assert_eq!(or_null(Vec::new()), b"null");
        assert_eq!(or_null(b"\"x\"".to_vec()), b"\"x\"");
        assert_eq!(payload(b""), Value::String(String::new()));
    }

    #[test]
    fn the_list_query_reads_back_what_it_writes() {
        let filter = ListFilter {
            statuses: vec![RuntimeStatus::Running, RuntimeStatus::ContinuedAsNew],
            created_from_ms: Some(1_767_225_600_000),
            created_to_ms: Some(1_767_225_601_500),
            workflow: Some("order & co".to_owned()),
            top: 7,
            continuation: Some("order:1@x".to_owned()),
        };
        let query = list_query(&filter);
        let back = parse_list_query(Some(&query)).unwrap();
        assert_eq!(back.statuses, filter.statuses);
        assert_eq!(
            (back.created_from_ms, back.created_to_ms),
            (filter.created_from_ms, filter.created_to_ms)
        );
        assert_eq!(
            (back.workflow, back.top, back.continuation),
            (filter.workflow, filter.top, filter.continuation)
        );
    }

    #[test]
    fn the_list_query_takes_durable_functions_spellings_and_defaults() {
        let filter = parse_list_query(Some(
            "runtimeStatus=Running,completed&runtimeStatus=Failed&createdTimeFrom=2026-01-01T01:00:00%2B01:00&top=5000&other=1",
        ))
        .unwrap();
        assert_eq!(
            filter.statuses,
            [
                RuntimeStatus::Running,
                RuntimeStatus::Completed,
                RuntimeStatus::Failed
            ]
        );
        assert_eq!(filter.created_from_ms, Some(1_767_225_600_000));
        assert_eq!(filter.top, MAX_TOP);
        assert_eq!(parse_list_query(None).unwrap().top, DEFAULT_TOP);
    }

    #[test]
    fn a_bad_list_query_names_the_parameter() {
        for (query, said) in [
            (
                "runtimeStatus=Sleeping",
                "`runtimeStatus`: `Sleeping` is not a runtime status",
            ),
            (
                "createdTimeTo=yesterday",
                "`createdTimeTo`: `yesterday` is not an RFC 3339",
            ),
            ("createdTimeFrom=1969-12-31T23:59:59Z", "`createdTimeFrom`"),
            ("top=0", "`top` must be a whole number from 1, not `0`"),
            ("top=many", "`top`"),
        ] {
            let err = parse_list_query(Some(query)).unwrap_err();
            assert!(err.starts_with(said), "{query}: {err}");
        }
    }
}
