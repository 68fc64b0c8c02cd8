//! Layer 7, `wasmhost new`: makes a guest project that builds and serves with no edits, from
//! templates embedded in the binary (`host/templates/`). Nothing here touches a running app.
//!
//! Each project has a `Cargo.toml` (its own workspace, so it builds wherever it is made),
//! `wasmhost.toml`, `src/lib.rs`, a README with the commands to build, serve and try it, and a
//! `.gitignore`. Its `wasmhost-sdk` dependency ([`SdkDependency`]) works for a teammate who
//! clones the project: a path relative to the project when the project is inside the checkout
//! of wasmhost whose SDK it uses, else a version requirement (with a commented `[patch]` that
//! points at the checkout this binary was built from). Placeholders in the templates:
//! `__NAME__` (the component id), `__CRATE__` (the crate name: `-` becomes `_`), `__SDK__`
//! (the dependency's value, and any comment lines after it), `__TEMPLATE__` and `__TRY__` (the
//! README's example request).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::app::ComponentId;

/// A template: its name, what it makes, its manifest and source, and a request to try.
#[derive(Debug)]
pub struct Template {
    /// Its name: `http`, `kv`, `queue-worker` or `cron`.
    pub name: &'static str,
    /// What it makes, in one line.
    pub summary: &'static str,
    manifest: &'static str,
    source: &'static str,
    /// A command that tries the served project.
    pub try_it: &'static str,
}

/// The template in `host/templates/<name>/`, with its summary and its request to try.
macro_rules! template {
    ($name:literal, $summary:literal, $try_it:literal) => {
        Template {
            name: $name,
            summary: $summary,
            manifest: include_str!(concat!("../../templates/", $name, "/wasmhost.toml")),
            source: include_str!(concat!("../../templates/", $name, "/lib.rs")),
            try_it: $try_it,
        }
    };
}

/// Every template, in the order `--list` shows them.
pub const TEMPLATES: &[Template] = &[
    template!(
        "http",
        "an HTTP component: GET /hello/:name answers a greeting",
        "curl localhost:3000/hello/you"
    ),
    template!(
        "kv",
        "an HTTP component with a key-value store: GET /count/:name counts",
        "curl localhost:3000/count/visits"
    ),
    template!(
        "queue-worker",
        "POST /jobs sends to a queue; a queue handler works through it",
        "curl -X POST localhost:3000/jobs --data 'job 1' && curl localhost:3000/jobs/last"
    ),
    template!(
        "cron",
        "a cron job every second, its run count on GET /ticks",
        "curl localhost:3000/ticks"
    ),
];

const CARGO_TOML: &str = include_str!("../../templates/common/Cargo.toml");
const README: &str = include_str!("../../templates/common/README.md");
const GITIGNORE: &str = include_str!("../../templates/common/gitignore");

/// The guest SDK of the repository this binary was built from.
fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
}

/// The version requirement a project outside a checkout depends on: this binary's
/// `major.minor`.
fn sdk_version() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut parts = version.split('.');
    match (parts.next(), parts.next()) {
        (Some(major), Some(minor)) => format!("{major}.{minor}"),
        _ => version.to_owned(),
    }
}

/// What to make: the template, the project's name, and where.
#[derive(Debug, Clone, Default)]
pub struct NewOptions {
    /// The template's name; none is an error naming what is missing.
    pub template: Option<String>,
    /// The project's name, also its component id (kebab-case); none is an error.
    pub name: Option<String>,
    /// The directory to create; none: `./<NAME>`.
    pub dir: Option<PathBuf>,
    /// The `wasmhost-sdk` to depend on, by path (made relative to the project); none: the
    /// checkout this binary was built from, if the project is inside it, else a version.
    pub sdk_path: Option<PathBuf>,
}

/// How a project depends on `wasmhost-sdk`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkDependency {
    /// By path, as written in `Cargo.toml`: relative to the project (`../guest-sdk`) where the
    /// project is inside the SDK's checkout or `--sdk-path` was given, else absolute.
    Path(String),
    /// By version requirement (`0.1`), from the registry.
    Version(String),
}

/// A project made by [`create`].
#[derive(Debug)]
pub struct Created {
    /// Its directory.
    pub dir: PathBuf,
    /// Its template.
    pub template: &'static Template,
    /// How it depends on the SDK.
    pub sdk: SdkDependency,
}

/// The template called `name`.
///
/// # Errors
/// No such template: the error lists them.
pub fn template(name: &str) -> Result<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name).with_context(|| {
        let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
        format!(
            "no template `{name}`; the templates are: {}",
            names.join(", ")
        )
    })
}

/// The error for what `options` lacks, if it lacks the template or the name: it says which,
/// and how to give them.
///
/// # Errors
/// The template or the name is missing.
pub fn check_complete(options: &NewOptions) -> Result<()> {
    let missing = match (&options.template, &options.name) {
        (Some(_), Some(_)) => return Ok(()),
        (None, None) => "a template and a name",
        (None, Some(_)) => "a template",
        (Some(_), None) => "a name",
    };
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
    bail!(
        "wasmhost new needs {missing}: wasmhost new <TEMPLATE> <NAME>, where TEMPLATE is one of {} and NAME is the project's name in kebab-case (`my-app`); on a terminal, it asks for them",
        names.join(", ")
    )
}

/// Writes the project of `options`.
///
/// # Errors
/// A missing template or name, an unknown template (the error lists them), a name that is not
/// a component id, a directory that already exists, an `--sdk-path` that does not hold the
/// SDK, or a file that cannot be written.
pub fn create(options: &NewOptions) -> Result<Created> {
    check_complete(options)?;
    let (Some(template_name), Some(name)) = (&options.template, &options.name) else {
        unreachable!("checked above")
    };
    let template = template(template_name)?;
    let id: ComponentId = name.parse()?;
    let dir = options.dir.clone().unwrap_or_else(|| PathBuf::from(name));
    if dir.exists() {
        bail!(
            "`{}` already exists; choose another name or --dir",
            dir.display()
        );
    }
    let given = match &options.sdk_path {
        Some(path) => Some(
            path.canonicalize()
                .ok()
                .filter(|p| p.join("Cargo.toml").is_file())
                .with_context(|| {
                    format!(
                        "--sdk-path: the guest SDK is not at `{}`; give <a wasmhost checkout>/guest-sdk",
                        path.display()
                    )
                })?,
        ),
        None => None,
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    let project = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve `{}`", dir.display()))?;
    let sdk = sdk_dependency(&project, given.as_deref());
    let dependency = match &sdk {
        // A TOML string, escaped: a directory name may hold `"` or `\`.
        SdkDependency::Path(path) => format!("{{ path = {} }}", toml::Value::from(path.as_str())),
        SdkDependency::Version(version) => {
            let checkout = default_sdk_path().canonicalize().ok();
            let patch = checkout.map_or_else(
                || "<a wasmhost checkout>/guest-sdk".to_owned(),
                |path| path.display().to_string(),
            );
            format!(
                "\"{version}\"\n# To build against a checkout of wasmhost instead, add:\n# [patch.crates-io]\n# wasmhost-sdk = {{ path = {} }}",
                toml::Value::from(patch)
            )
        }
    };
    let render = |text: &str| {
        text.replace("__NAME__", id.as_str())
            .replace("__CRATE__", &id.as_str().replace('-', "_"))
            .replace("__SDK__", &dependency)
            .replace("__TEMPLATE__", template.name)
            .replace("__TRY__", template.try_it)
    };
    let files = [
        ("Cargo.toml", CARGO_TOML),
        ("wasmhost.toml", template.manifest),
        ("src/lib.rs", template.source),
        ("README.md", README),
        (".gitignore", GITIGNORE),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&path, render(text))
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(Created { dir, template, sdk })
}

/// How the project at `project` (absolute) depends on the SDK: on `given` (absolute) by a
/// relative path; else on this binary's checkout by a relative path if the project is inside
/// it; else by version.
fn sdk_dependency(project: &Path, given: Option<&Path>) -> SdkDependency {
    let sdk = match given {
        Some(sdk) => sdk.to_owned(),
        None => match default_sdk_path().canonicalize() {
            Ok(sdk) if sdk.parent().is_some_and(|root| project.starts_with(root)) => sdk,
            _ => return SdkDependency::Version(sdk_version()),
        },
    };
    SdkDependency::Path(relative(project, &sdk).unwrap_or_else(|| sdk.display().to_string()))
}

/// `to` as a path from directory `from`, both absolute, with `/` separators; none if either
/// is not valid UTF-8.
fn relative(from: &Path, to: &Path) -> Option<String> {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts = vec![".."; from.len() - shared];
    for part in &to[shared..] {
        parts.push(part.as_os_str().to_str()?);
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_paths_are_relative_to_the_project() {
        assert_eq!(
            relative(Path::new("/repo/apps/demo"), Path::new("/repo/guest-sdk")).unwrap(),
            "../../guest-sdk"
        );
        assert_eq!(
            sdk_dependency(
                Path::new("/elsewhere/demo"),
                Some(Path::new("/repo/guest-sdk"))
            ),
            SdkDependency::Path("../../repo/guest-sdk".to_owned())
        );
        assert_eq!(
            sdk_dependency(Path::new("/nowhere/near/demo"), None),
            SdkDependency::Version(sdk_version())
        );
    }

    #[test]
    fn missing_arguments_are_named() {
        let options = |template: Option<&str>, name: Option<&str>| NewOptions {
            template: template.map(str::to_owned),
            name: name.map(str::to_owned),
            ..NewOptions::default()
        };
        insta::assert_snapshot!(
            check_complete(&options(None, None))
                .unwrap_err()
                .to_string()
        );
        insta::assert_snapshot!(
            check_complete(&options(Some("http"), None))
                .unwrap_err()
                .to_string()
        );
        insta::assert_snapshot!(template("htp").unwrap_err().to_string());
    }
}
