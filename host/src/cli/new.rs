//! `wasmhost new <TEMPLATE> <NAME>`: scaffolds a guest project that builds and serves with no
//! edits, from templates embedded in the binary (`host/templates/`).
//!
//! Each project has a `Cargo.toml` (its own workspace, so it builds wherever it is made; the
//! guest SDK by path), `wasmhost.toml`, `src/lib.rs`, a README with the commands to build,
//! serve and try it, and a `.gitignore`. Placeholders in the templates: `__NAME__` (the
//! component id), `__CRATE__` (the crate name: `-` becomes `_`), `__SDK_PATH__`,
//! `__TEMPLATE__` and `__TRY__` (the README's example request).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::app::ComponentId;

/// A template: its name, what it makes, its manifest and source, and a request to try.
struct Template {
    name: &'static str,
    summary: &'static str,
    manifest: &'static str,
    source: &'static str,
    try_it: &'static str,
}

const TEMPLATES: &[Template] = &[
    Template {
        name: "http",
        summary: "an HTTP component: GET /hello/:name answers a greeting",
        manifest: include_str!("../../templates/http/wasmhost.toml"),
        source: include_str!("../../templates/http/lib.rs"),
        try_it: "curl localhost:3000/hello/you",
    },
    Template {
        name: "kv",
        summary: "an HTTP component with a key-value store: GET /count/:name counts",
        manifest: include_str!("../../templates/kv/wasmhost.toml"),
        source: include_str!("../../templates/kv/lib.rs"),
        try_it: "curl localhost:3000/count/visits",
    },
    Template {
        name: "queue-worker",
        summary: "POST /jobs sends to a queue; a queue handler works through it",
        manifest: include_str!("../../templates/queue-worker/wasmhost.toml"),
        source: include_str!("../../templates/queue-worker/lib.rs"),
        try_it: "curl -X POST localhost:3000/jobs --data 'job 1' && curl localhost:3000/jobs/last",
    },
    Template {
        name: "cron",
        summary: "a cron job every second, its run count on GET /ticks",
        manifest: include_str!("../../templates/cron/wasmhost.toml"),
        source: include_str!("../../templates/cron/lib.rs"),
        try_it: "curl localhost:3000/ticks",
    },
];

const CARGO_TOML: &str = include_str!("../../templates/common/Cargo.toml");
const README: &str = include_str!("../../templates/common/README.md");
const GITIGNORE: &str = include_str!("../../templates/common/gitignore");

/// The guest SDK of the repository this binary was built from.
fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../guest-sdk")
}

/// Create a guest project from a template.
#[derive(Debug, clap::Args)]
pub struct NewCommand {
    /// The template: `http`, `kv`, `queue-worker` or `cron` (see `--list`).
    #[arg(required_unless_present = "list")]
    pub template: Option<String>,

    /// The project's name, also its component id: kebab-case (`my-app`).
    #[arg(required_unless_present = "list")]
    pub name: Option<String>,

    /// The directory to create. Default: `./<NAME>`.
    #[arg(long)]
    pub dir: Option<PathBuf>,

    /// The `wasmhost-sdk` to depend on, by path. Default: the `guest-sdk/` of the repository
    /// this binary was built from.
    #[arg(long, env = "WASMHOST_SDK_PATH")]
    pub sdk_path: Option<PathBuf>,

    /// List the templates and exit.
    #[arg(long)]
    pub list: bool,
}

impl NewCommand {
    /// Lists the templates, or writes the project and prints what to do next.
    ///
    /// # Errors
    /// An unknown template (the error lists them), a name that is not a component id, a
    /// directory that already exists, an SDK path that does not hold the SDK, or a file that
    /// cannot be written.
    pub fn run(self) -> Result<()> {
        if self.list {
            for template in TEMPLATES {
                println!("{:<13} {}", template.name, template.summary);
            }
            return Ok(());
        }
        let (Some(template), Some(name)) = (&self.template, &self.name) else {
            anyhow::bail!("give a template and a name: wasmhost new <TEMPLATE> <NAME>");
        };
        let template = TEMPLATES
            .iter()
            .find(|t| t.name == template)
            .with_context(|| {
                let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
                format!(
                    "no template `{template}`; the templates are: {}",
                    names.join(", ")
                )
            })?;
        let id: ComponentId = name.parse()?;
        let dir = self.dir.clone().unwrap_or_else(|| PathBuf::from(name));
        if dir.exists() {
            anyhow::bail!(
                "`{}` already exists; choose another name or --dir",
                dir.display()
            );
        }
        let sdk = self.sdk_path.clone().unwrap_or_else(default_sdk_path);
        let sdk = sdk
            .canonicalize()
            .ok()
            .filter(|p| p.join("Cargo.toml").is_file())
            .with_context(|| {
                format!(
                    "the guest SDK is not at `{}`; pass --sdk-path <this repository>/guest-sdk",
                    sdk.display()
                )
            })?;
        let render = |text: &str| {
            text.replace("__NAME__", id.as_str())
                .replace("__CRATE__", &id.as_str().replace('-', "_"))
                .replace("__SDK_PATH__", &sdk.display().to_string())
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
        println!(
            "Created `{}` from template `{}`.",
            dir.display(),
            template.name
        );
        println!("  cd {}", dir.display());
        println!("  wasmhost serve --build");
        println!("  {}", template.try_it);
        Ok(())
    }
}
