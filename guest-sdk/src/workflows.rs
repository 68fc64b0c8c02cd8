//! The workflow client (`wasmhost:host/workflow-client`): start workflow instances, read their
//! status, raise the events they wait for and terminate them, from any component: an HTTP
//! component answers 202 with where to follow an instance, or turns a person's answer into
//! an event. Orchestrators and activities themselves are in
//! [`crate::workflow`](mod@crate::workflow).
//!
//! A component may use only the workflows its manifest grants (`workflows = ["order"]`); any
//! other name, or an instance of another workflow, is [`ClientError::AccessDenied`].
//!
//! ```no_run
//! use wasmhost_sdk::http::{StatusCode, header};
//! use wasmhost_sdk::{HttpError, Json, Request, RequestBodyExt, Response, IntoResponse, http_component, workflows};
//!
//! #[http_component]
//! fn handle(req: Request) -> Result<Response, HttpError> {
//!     let order: serde_json::Value = req.json()?;
//!     let id = workflows::start("order", &order, None)
//!         .map_err(|err| HttpError::new(err.status_code().as_u16(), err.to_string()))?;
//!     let status = workflows::status(&id)?; // Pending: its first turn has not run yet
//!     let mut response = (StatusCode::ACCEPTED, Json(status)).into_response();
//!     response.headers_mut().insert(header::LOCATION, format!("/orders/{id}").parse()?);
//!     Ok(response)
//! }
//! # fn main() {}
//! ```
//!
//! Inputs and payloads are written as JSON (serde_json); [`InstanceStatus`] reads the output
//! and custom status back, and serializes itself in the shape of Durable Functions' status
//! API, so a handler can answer it as it is.

use std::fmt;
use std::time::SystemTime;

use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};

use crate::time::system_time;
use crate::wit::wasmhost::host::workflow_client::{self as wit, ClientError as WitError};
use crate::wit::wasmhost::host::workflow_types;
use crate::workflow::{decode, encode};

/// Why a client call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The workflow is not in the component's `workflows = [..]` (or the instance belongs to
    /// one that is not).
    AccessDenied,
    /// No instance has that id.
    NotFound,
    /// An instance with that id exists already (purge it first, or pick another id).
    AlreadyExists,
    /// The call cannot be made as it is: a bad instance id (1 to 128 letters, digits and
    /// `-_.:@`), a bad event name, an input that does not serialize to JSON. The text says
    /// which.
    Invalid(String),
    /// The workflow store failed; the text says why.
    Unavailable(String),
    /// A value of the instance (its input, output or custom status) is not the JSON of the
    /// type asked for; the text gives serde_json's reason.
    Decode(String),
}

impl ClientError {
    /// The HTTP status an HTTP handler answers for it: 403, 404, 409, 400, 503, and 500 for
    /// [`ClientError::Decode`].
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::AccessDenied => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::AlreadyExists => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Decode(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AccessDenied => f.write_str("access denied: the workflow is not granted"),
            Self::NotFound => f.write_str("no such workflow instance"),
            Self::AlreadyExists => f.write_str("a workflow instance with that id exists already"),
            Self::Invalid(message) => write!(f, "invalid workflow call: {message}"),
            Self::Unavailable(message) => write!(f, "the workflow store failed: {message}"),
            Self::Decode(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<WitError> for ClientError {
    fn from(err: WitError) -> Self {
        match err {
            WitError::AccessDenied => Self::AccessDenied,
            WitError::NotFound => Self::NotFound,
            WitError::AlreadyExists => Self::AlreadyExists,
            WitError::Invalid(message) => Self::Invalid(message),
            WitError::Unavailable(message) => Self::Unavailable(message),
        }
    }
}

/// Starts workflow `workflow` with `input` (as JSON), as instance `instance_id` (`None`: a
/// new UUID), and returns the instance id once the start is durable.
///
/// # Errors
/// [`ClientError::AccessDenied`] for a workflow the manifest does not grant,
/// [`ClientError::AlreadyExists`] for an id in use, [`ClientError::Invalid`] for a bad id or
/// an input that does not serialize, [`ClientError::Unavailable`] if the store failed.
pub fn start(
    workflow: &str,
    input: &(impl Serialize + ?Sized),
    instance_id: Option<&str>,
) -> Result<String, ClientError> {
    let input = encode(input).map_err(|err| {
        ClientError::Invalid(format!(
            "the input of workflow `{workflow}` does not serialize to JSON: {err}"
        ))
    })?;
    Ok(wit::start(workflow, &input, instance_id)?)
}

/// The status of instance `instance_id`.
///
/// # Errors
/// [`ClientError::NotFound`], [`ClientError::AccessDenied`] for an instance of a workflow the
/// manifest does not grant, [`ClientError::Unavailable`].
pub fn status(instance_id: &str) -> Result<InstanceStatus, ClientError> {
    Ok(wit::status(instance_id)?.into())
}

/// Raises event `name` with `payload` (as JSON) on instance `instance_id`: durable when it
/// returns, delivered to the instance's current or next wait for that name. An instance that
/// has ended ignores it.
///
/// # Errors
/// [`ClientError::NotFound`], [`ClientError::AccessDenied`], [`ClientError::Invalid`] for a
/// bad event name (1 to 128 characters, no control characters) or a payload that does not
/// serialize, [`ClientError::Unavailable`].
pub fn raise_event(
    instance_id: &str,
    name: &str,
    payload: &(impl Serialize + ?Sized),
) -> Result<(), ClientError> {
    let payload = encode(payload).map_err(|err| {
        ClientError::Invalid(format!(
            "the payload of event `{name}` does not serialize to JSON: {err}"
        ))
    })?;
    Ok(wit::raise_event(instance_id, name, &payload)?)
}

/// Terminates instance `instance_id` with `reason`: it runs no more turns, its pending timers
/// and activities are dropped, its status becomes [`RuntimeStatus::Terminated`]. An instance
/// that has ended is left as it is.
///
/// # Errors
/// [`ClientError::NotFound`], [`ClientError::AccessDenied`], [`ClientError::Unavailable`].
pub fn terminate(instance_id: &str, reason: &str) -> Result<(), ClientError> {
    Ok(wit::terminate(instance_id, reason)?)
}

/// Where an instance is, as Durable Functions' `runtimeStatus` says it (and serializes: the
/// variant's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuntimeStatus {
    /// Started; its first turn has not run yet.
    Pending,
    /// Running, or waiting on an activity, a timer, an event or a sub-workflow.
    Running,
    /// Its orchestrator returned `Ok`: the output is there.
    Completed,
    /// Its orchestrator returned `Err`, trapped, ran out of a limit, or was nondeterministic.
    Failed,
    /// Terminated through the API, the CLI or [`terminate`].
    Terminated,
    /// It continued as new and its next execution has not started yet.
    ContinuedAsNew,
}

impl RuntimeStatus {
    /// `"Pending"`, `"Running"`, `"Completed"`, `"Failed"`, `"Terminated"` or
    /// `"ContinuedAsNew"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Completed => "Completed",
            Self::Failed => "Failed",
            Self::Terminated => "Terminated",
            Self::ContinuedAsNew => "ContinuedAsNew",
        }
    }

    /// Whether the instance has ended (completed, failed or terminated): the status API
    /// answers 200 then, 202 before.
    pub fn is_done(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Terminated)
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuntimeStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl From<workflow_types::RuntimeStatus> for RuntimeStatus {
    fn from(status: workflow_types::RuntimeStatus) -> Self {
        use workflow_types::RuntimeStatus as Wit;
        match status {
            Wit::Pending => Self::Pending,
            Wit::Running => Self::Running,
            Wit::Completed => Self::Completed,
            Wit::Failed => Self::Failed,
            Wit::Terminated => Self::Terminated,
            Wit::ContinuedAsNew => Self::ContinuedAsNew,
        }
    }
}

/// What [`status`] tells about an instance.
///
/// It serializes in the shape of Durable Functions' status API: `name`, `instanceId`,
/// `runtimeStatus`, `input`, `customStatus`, `output` (each value embedded as JSON if it is
/// JSON, else as a string; `null` if absent), `error` (only when there is one), `createdTime`
/// and `lastUpdatedTime` (RFC 3339, UTC, milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStatus {
    /// The instance id.
    pub instance_id: String,
    /// Its workflow (`[[trigger.workflow]] name`).
    pub workflow: String,
    /// Where it is.
    pub runtime_status: RuntimeStatus,
    /// The input of its current execution (by convention JSON).
    pub input: Vec<u8>,
    /// Its output, once completed.
    pub output: Option<Vec<u8>>,
    /// Why it failed or was terminated.
    pub error: Option<String>,
    /// Its last custom status, if any.
    pub custom_status: Option<Vec<u8>>,
    /// When it was started.
    pub created: SystemTime,
    /// When its last turn, or the last change of its status, was committed.
    pub last_updated: SystemTime,
}

impl InstanceStatus {
    /// The input, read from JSON (an empty input reads as `null`).
    ///
    /// # Errors
    /// [`ClientError::Decode`] if it is not the JSON of a `T`.
    pub fn input_json<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        read("input", &self.input)
    }

    /// The output read from JSON, or `None` before the instance completed.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if it is not the JSON of a `T`.
    pub fn output_json<T: DeserializeOwned>(&self) -> Result<Option<T>, ClientError> {
        self.output
            .as_deref()
            .map(|bytes| read("output", bytes))
            .transpose()
    }

    /// The custom status read from JSON, or `None` if none was set.
    ///
    /// # Errors
    /// [`ClientError::Decode`] if it is not the JSON of a `T`.
    pub fn custom_status_json<T: DeserializeOwned>(&self) -> Result<Option<T>, ClientError> {
        self.custom_status
            .as_deref()
            .map(|bytes| read("custom status", bytes))
            .transpose()
    }
}

/// `bytes`, the instance's `what`, read from JSON.
fn read<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, ClientError> {
    decode(bytes).map_err(|err| {
        ClientError::Decode(format!(
            "the instance's {what} is not the JSON expected: {err}"
        ))
    })
}

impl From<workflow_types::InstanceStatus> for InstanceStatus {
    fn from(status: workflow_types::InstanceStatus) -> Self {
        Self {
            instance_id: status.instance_id,
            workflow: status.workflow,
            runtime_status: status.runtime_status.into(),
            input: status.input,
            output: status.output,
            error: status.error,
            custom_status: status.custom_status,
            created: system_time(status.created),
            last_updated: system_time(status.last_updated),
        }
    }
}

/// A value of an instance, serialized as the JSON it holds, or as a string if it is not JSON.
struct Embedded<'a>(&'a [u8]);

impl Serialize for Embedded<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match decode::<serde_json::Value>(self.0) {
            Ok(value) => value.serialize(serializer),
            Err(_) => serializer.serialize_str(&String::from_utf8_lossy(self.0)),
        }
    }
}

impl Serialize for InstanceStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let time = |time| humantime::format_rfc3339_millis(time).to_string();
        let mut status = serializer.serialize_struct("InstanceStatus", 9)?;
        status.serialize_field("name", &self.workflow)?;
        status.serialize_field("instanceId", &self.instance_id)?;
        status.serialize_field("runtimeStatus", &self.runtime_status)?;
        status.serialize_field("input", &Embedded(&self.input))?;
        status.serialize_field("customStatus", &self.custom_status.as_deref().map(Embedded))?;
        status.serialize_field("output", &self.output.as_deref().map(Embedded))?;
        match &self.error {
            Some(error) => status.serialize_field("error", error)?,
            None => status.skip_field("error")?,
        }
        status.serialize_field("createdTime", &time(self.created))?;
        status.serialize_field("lastUpdatedTime", &time(self.last_updated))?;
        status.end()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn instance() -> InstanceStatus {
        InstanceStatus {
            instance_id: "order-7".to_owned(),
            workflow: "order".to_owned(),
            runtime_status: RuntimeStatus::Completed,
            input: br#"{"amount":1200}"#.to_vec(),
            output: Some(br#"{"status":"shipped"}"#.to_vec()),
            error: None,
            custom_status: Some(b"not json".to_vec()),
            created: SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123),
            last_updated: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_060),
        }
    }

    #[test]
    fn a_status_serializes_as_durable_functions_does() {
        let json = serde_json::to_value(instance()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "name": "order",
                "instanceId": "order-7",
                "runtimeStatus": "Completed",
                "input": {"amount": 1200},
                "customStatus": "not json",
                "output": {"status": "shipped"},
                "createdTime": "2023-11-14T22:13:20.123Z",
                "lastUpdatedTime": "2023-11-14T22:14:20.000Z",
            })
        );
    }

    #[test]
    fn an_error_and_missing_values_show_as_such() {
        let failed = InstanceStatus {
            runtime_status: RuntimeStatus::Failed,
            input: Vec::new(),
            output: None,
            custom_status: None,
            error: Some("card declined".to_owned()),
            ..instance()
        };
        let json = serde_json::to_value(failed).unwrap();
        assert_eq!(json["runtimeStatus"], "Failed");
        assert_eq!(json["error"], "card declined");
        assert!(json["input"].is_null() && json["output"].is_null());
        assert!(json["customStatus"].is_null());
    }

    #[test]
    fn values_are_read_back_typed() {
        #[derive(Debug, PartialEq, serde::Deserialize)]
        struct Outcome {
            status: String,
        }
        let status = instance();
        assert_eq!(
            status.output_json::<Outcome>(),
            Ok(Some(Outcome {
                status: "shipped".to_owned()
            }))
        );
        assert_eq!(
            status.input_json::<serde_json::Value>(),
            Ok(serde_json::json!({"amount": 1200}))
        );
        let err = status.custom_status_json::<Outcome>().unwrap_err();
        assert_eq!(err.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            err.to_string()
                .starts_with("the instance's custom status is not the JSON expected"),
            "{err}"
        );
    }

    #[test]
    fn runtime_statuses_are_done_once_ended() {
        let done: Vec<_> = [
            RuntimeStatus::Pending,
            RuntimeStatus::Running,
            RuntimeStatus::ContinuedAsNew,
            RuntimeStatus::Completed,
            RuntimeStatus::Failed,
            RuntimeStatus::Terminated,
        ]
        .into_iter()
        .map(RuntimeStatus::is_done)
        .collect();
        assert_eq!(done, [false, false, false, true, true, true]);
    }

    #[test]
    fn client_errors_map_to_http_statuses() {
        let statuses: Vec<u16> = [
            ClientError::AccessDenied,
            ClientError::NotFound,
            ClientError::AlreadyExists,
            ClientError::Invalid("bad id".to_owned()),
            ClientError::Unavailable("disk".to_owned()),
        ]
        .iter()
        .map(|err| err.status_code().as_u16())
        .collect();
        assert_eq!(statuses, [403, 404, 409, 400, 503]);
    }
}
