//! Layer 2, startup step 2: the durable-workflow parts of the manifest (the model is in
//! `docs/workflows.md`): `[[trigger.workflow]]` (a workflow's orchestrator component and the
//! activities and sub-workflows it may call), `[[trigger.activity]]` (the component that runs
//! an activity), a component's `workflows` grant (the workflows it may start and drive through
//! `workflow-client`), and the orchestrators' sandbox: an orchestrator is replayed from its
//! history, so it is the component of no other trigger and has no capability grant.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;

use super::raw::{RawComponent, RawManifest, RawQueueTrigger};
use super::{Doc, ManifestError, ManifestErrorKind, ManifestErrors, keep, trigger_component};
use crate::app::{ActivityTrigger, WorkflowTrigger, is_label};

/// What [`check_workflow_triggers`] gives: the workflows and the activities, in manifest
/// order.
pub(super) type WorkflowTriggers = (Vec<WorkflowTrigger>, Vec<ActivityTrigger>);

/// An activity's `max_concurrency` when none is written.
const DEFAULT_ACTIVITY_CONCURRENCY: u32 = 16;

/// Checks `[[trigger.workflow]]` and `[[trigger.activity]]` (names, components, the lists of
/// what a workflow may call, `max_concurrency`), every component's `workflows` grant, and the
/// orchestrators' sandbox ([`check_orchestrators`]).
///
/// # Errors
/// Every trigger's first error, every grant's first error, and every sandbox breach.
pub(super) fn check_workflow_triggers(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
) -> Result<WorkflowTriggers, ManifestErrors> {
    let names = Names::new(raw);
    let mut errors = Vec::new();
    let workflows = (0..raw.trigger.workflow.len())
        .filter_map(|i| keep(&mut errors, check_workflow(doc, raw, index, &names, i)))
        .collect();
    let activities = (0..raw.trigger.activity.len())
        .filter_map(|i| keep(&mut errors, check_activity(doc, raw, index, &names, i)))
        .collect();
    for (key, component) in &raw.component {
        let field = format!("component.{}.workflows", key.get_ref());
        let defined = &names.defined_workflows;
        let grant = check_list(doc, field, "workflow", &component.workflows, defined);
        keep(&mut errors, grant);
    }
    check_orchestrators(doc, raw, index, &mut errors);
    if errors.is_empty() {
        Ok((workflows, activities))
    } else {
        Err(ManifestErrors(errors))
    }
}

/// The names of the workflows and activities: as written, in manifest order (for
/// [`check_name`]), and each once (what the lists may name).
struct Names<'r> {
    workflows: Vec<&'r Spanned<String>>,
    activities: Vec<&'r Spanned<String>>,
    defined_workflows: Vec<String>,
    defined_activities: Vec<String>,
}

impl<'r> Names<'r> {
    fn new(raw: &'r RawManifest) -> Self {
        let workflows: Vec<_> = raw.trigger.workflow.iter().map(|w| &w.name).collect();
        let activities: Vec<_> = raw.trigger.activity.iter().map(|a| &a.name).collect();
        Self {
            defined_workflows: distinct(&workflows),
            defined_activities: distinct(&activities),
            workflows,
            activities,
        }
    }
}

/// The texts of `names`, each once, in manifest order.
fn distinct(names: &[&Spanned<String>]) -> Vec<String> {
    let mut texts: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !texts.contains(name.get_ref()) {
            texts.push(name.get_ref().clone());
        }
    }
    texts
}

/// Checks `[[trigger.workflow]]` number `i`: its name, its orchestrator component, and the
/// activities and workflows it may call.
fn check_workflow(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    names: &Names<'_>,
    i: usize,
) -> Result<WorkflowTrigger, ManifestError> {
    let workflow = &raw.trigger.workflow[i];
    let field = |key| format!("trigger.workflow[{i}].{key}");
    Ok(WorkflowTrigger {
        name: check_name(doc, "workflow", i, &names.workflows)?,
        component: trigger_component(doc, raw, index, "workflow", i, &workflow.component)?,
        activities: check_list(
            doc,
            field("activities"),
            "activity",
            &workflow.activities,
            &names.defined_activities,
        )?,
        workflows: check_list(
            doc,
            field("workflows"),
            "workflow",
            &workflow.workflows,
            &names.defined_workflows,
        )?,
        location: doc.location(workflow.name.span()),
    })
}

/// Checks `[[trigger.activity]]` number `i`: its name, its component and `max_concurrency`
/// (1 to 1 000, default [`DEFAULT_ACTIVITY_CONCURRENCY`]).
fn check_activity(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    names: &Names<'_>,
    i: usize,
) -> Result<ActivityTrigger, ManifestError> {
    let activity = &raw.trigger.activity[i];
    let name = check_name(doc, "activity", i, &names.activities)?;
    let component = trigger_component(doc, raw, index, "activity", i, &activity.component)?;
    let max_concurrency = match &activity.max_concurrency {
        None => DEFAULT_ACTIVITY_CONCURRENCY,
        Some(value) if (1..=1000).contains(value.get_ref()) => *value.get_ref(),
        Some(value) => {
            return Err(doc.error(
                value.span(),
                ManifestErrorKind::TriggerSetting {
                    trigger: "activity",
                    index: i,
                    field: "max_concurrency",
                    message: "must be 1 to 1000",
                },
            ));
        }
    };
    Ok(ActivityTrigger {
        name,
        component,
        max_concurrency,
    })
}

/// Checks the `name` of `[[trigger.<trigger>]]` number `i`, given the names of every trigger
/// of its kind in manifest order: a label ([`is_label`]) that no earlier one has.
fn check_name(
    doc: &Doc<'_>,
    trigger: &'static str,
    i: usize,
    names: &[&Spanned<String>],
) -> Result<String, ManifestError> {
    let name = names[i];
    let text = name.get_ref();
    let kind = if !is_label(text) {
        ManifestErrorKind::Name {
            field: format!("trigger.{trigger}[{i}].name"),
            what: trigger,
            name: text.clone(),
        }
    } else if let Some(first) = names[..i].iter().find(|n| n.get_ref() == text) {
        ManifestErrorKind::DuplicateName {
            trigger,
            index: i,
            name: text.clone(),
            first: Box::new(doc.location(first.span())),
        }
    } else {
        return Ok(text.clone());
    };
    Err(doc.error(name.span(), kind))
}

/// Checks the list `field` of `what` names (`activity` or `workflow`): each one of
/// `defined`, none twice. Returns the names, in order.
fn check_list(
    doc: &Doc<'_>,
    field: String,
    what: &'static str,
    list: &[Spanned<String>],
    defined: &[String],
) -> Result<Vec<String>, ManifestError> {
    let mut names: Vec<String> = Vec::with_capacity(list.len());
    for item in list {
        let name = item.get_ref();
        let kind = if !defined.contains(name) {
            ManifestErrorKind::UndefinedName {
                field,
                what,
                name: name.clone(),
                defined: defined.into(),
            }
        } else if names.contains(name) {
            ManifestErrorKind::ListedTwice {
                field,
                name: name.clone(),
            }
        } else {
            names.push(name.clone());
            continue;
        };
        return Err(doc.error(item.span(), kind));
    }
    Ok(names)
}

/// The orchestrators' sandbox: a defined component that a `[[trigger.workflow]]` names is the
/// component of no other trigger (`http`, `cron`, `queue`, `topic`, `blob`, `activity`) and
/// has no capability grant ([`grants`]); its `limits` and `build` are its own. Adds one error
/// per such trigger and per such grant to `errors`.
fn check_orchestrators(
    doc: &Doc<'_>,
    raw: &RawManifest,
    index: &HashMap<String, usize>,
    errors: &mut Vec<ManifestError>,
) {
    // Each orchestrator component, and the first workflow it runs.
    let mut orchestrators: HashMap<&str, &str> = HashMap::new();
    for workflow in &raw.trigger.workflow {
        let component = workflow.component.get_ref().as_str();
        if index.contains_key(component) {
            orchestrators
                .entry(component)
                .or_insert(workflow.name.get_ref());
        }
    }
    if orchestrators.is_empty() {
        return;
    }

    let t = &raw.trigger;
    let others: [(&'static str, Vec<Option<&Spanned<String>>>); 6] = [
        (
            "http",
            t.http.iter().map(|h| h.component.as_ref()).collect(),
        ),
        ("cron", t.cron.iter().map(|c| Some(&c.component)).collect()),
        ("queue", queue_components(&t.queue)),
        ("topic", queue_components(&t.topic)),
        ("blob", queue_components(&t.blob)),
        (
            "activity",
            t.activity.iter().map(|a| Some(&a.component)).collect(),
        ),
    ];
    for (trigger, components) in others {
        for (i, component) in components.into_iter().enumerate() {
            let Some(component) = component else {
                continue;
            };
            if let Some(workflow) = orchestrators.get(component.get_ref().as_str()) {
                errors.push(doc.error(
                    component.span(),
                    ManifestErrorKind::OrchestratorTrigger {
                        trigger,
                        index: i,
                        component: component.get_ref().clone(),
                        workflow: (*workflow).to_owned(),
                    },
                ));
            }
        }
    }

    for (key, component) in &raw.component {
        let Some(workflow) = orchestrators.get(key.get_ref().as_str()) else {
            continue;
        };
        for (field, span) in grants(component) {
            errors.push(doc.error(
                span,
                ManifestErrorKind::OrchestratorGrant {
                    component: key.get_ref().clone(),
                    field,
                    workflow: (*workflow).to_owned(),
                },
            ));
        }
    }
}

/// The `component` of each queue, topic or blob trigger of `triggers`, by index.
fn queue_components(triggers: &[Spanned<RawQueueTrigger>]) -> Vec<Option<&Spanned<String>>> {
    triggers
        .iter()
        .map(|trigger| Some(&trigger.get_ref().component))
        .collect()
}

/// The capability grants `component` writes, each with the span of its first entry (of the
/// table, for `outbound_http`), in the order they are written: what an orchestrator may not
/// have. An empty list grants nothing and is not one.
fn grants(component: &RawComponent) -> Vec<(&'static str, Range<usize>)> {
    let first = |list: &[Spanned<String>]| list.first().map(Spanned::span);
    let mut grants = [
        ("key_value_stores", first(&component.key_value_stores)),
        ("queues", first(&component.queues)),
        ("topics", first(&component.topics)),
        ("blob_containers", first(&component.blob_containers)),
        ("workflows", first(&component.workflows)),
        (
            "allowed_outbound_hosts",
            first(&component.allowed_outbound_hosts),
        ),
        (
            "outbound_http",
            component.outbound_http.as_ref().map(Spanned::span),
        ),
        (
            "environment",
            component.environment.keys().next().map(Spanned::span),
        ),
        ("files", component.files.first().map(Spanned::span)),
        (
            "variables",
            component.variables.keys().next().map(Spanned::span),
        ),
    ]
    .into_iter()
    .filter_map(|(field, span)| Some((field, span?)))
    .collect::<Vec<_>>();
    grants.sort_by_key(|(_, span)| span.start);
    grants
}
