//! `wasmhost new [TEMPLATE] [NAME]`: flags, and on a terminal the questions for what they
//! leave out; then [`crate::lifecycle::new::create`].

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::app::ComponentId;
use crate::lifecycle::new::{self, NewOptions, SdkDependency, TEMPLATES};

/// Create a guest project from a template.
#[derive(Debug, clap::Args)]
pub struct NewCommand {
    /// The template: `http`, `kv`, `queue-worker` or `cron` (see `--list`). Asked for on a
    /// terminal if left out.
    pub template: Option<String>,

    /// The project's name, also its component id: kebab-case (`my-app`). Asked for on a
    /// terminal if left out.
    pub name: Option<String>,

    /// The directory to create. Default: `./<NAME>`.
    #[arg(long)]
    pub dir: Option<PathBuf>,

    /// The `wasmhost-sdk` to depend on, by path (written relative to the project). Default:
    /// the `guest-sdk/` of the wasmhost checkout this binary was built from, by relative path,
    /// if the project is inside that checkout; else a version requirement.
    #[arg(long, env = "WASMHOST_SDK_PATH")]
    pub sdk_path: Option<PathBuf>,

    /// List the templates and exit.
    #[arg(long)]
    pub list: bool,
}

impl NewCommand {
    /// Lists the templates, or asks for what is missing (on a terminal only), writes the
    /// project and prints what to do next.
    ///
    /// # Errors
    /// A missing template or name when stdin is not a terminal, a question that cannot be
    /// asked, and whatever [`new::create`] reports.
    pub fn run(self) -> Result<()> {
        if self.list {
            for template in TEMPLATES {
                println!("{:<13} {}", template.name, template.summary);
            }
            return Ok(());
        }
        let mut options = NewOptions {
            template: self.template,
            name: self.name,
            dir: self.dir,
            sdk_path: self.sdk_path,
        };
        if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() {
            ask(&mut options)?;
        }
        let created = new::create(&options)?;
        println!(
            "Created `{}` from template `{}`.",
            created.dir.display(),
            created.template.name
        );
        if let SdkDependency::Version(version) = &created.sdk {
            println!(
                "It depends on wasmhost-sdk {version} from crates.io; Cargo.toml says how to point it at a wasmhost checkout instead."
            );
        }
        println!("  cd {}", created.dir.display());
        println!("  wasmhost serve --build");
        println!("  {}", created.template.try_it);
        Ok(())
    }
}

/// Asks on the terminal for the template and the name, where `options` has none.
///
/// # Errors
/// The terminal cannot be read (or the user pressed Ctrl-C or Esc).
fn ask(options: &mut NewOptions) -> Result<()> {
    let theme = dialoguer::theme::ColorfulTheme::default();
    if options.template.is_none() {
        let items: Vec<String> = TEMPLATES
            .iter()
            .map(|t| format!("{:<13} {}", t.name, t.summary))
            .collect();
        let chosen = dialoguer::Select::with_theme(&theme)
            .with_prompt("Template")
            .items(&items)
            .default(0)
            .interact()
            .context("no template chosen")?;
        options.template = Some(TEMPLATES[chosen].name.to_owned());
    }
    if options.name.is_none() {
        let name: String = dialoguer::Input::with_theme(&theme)
            .with_prompt("Project name (kebab-case)")
            .validate_with(|name: &String| name.parse::<ComponentId>().map(drop))
            .interact_text()
            .context("no name given")?;
        options.name = Some(name);
    }
    Ok(())
}
