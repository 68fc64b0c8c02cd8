//! `wasmhost blob ls|get|put|rm`: flags, then [`crate::lifecycle::blob::BlobContainer`].

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::lifecycle::blob::BlobContainer;

/// List, read, write and delete the objects of an app's blob containers.
#[derive(Debug, clap::Args)]
pub struct BlobCommand {
    /// What to do.
    #[command(subcommand)]
    pub action: BlobAction,

    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(long, global = true, default_value = ".", env = "WASMHOST_APP")]
    pub app: PathBuf,

    /// The runtime config: where each container lives. Without one, every container is local
    /// files under `.wasmhost/blobs` next to the manifest.
    #[arg(long, global = true, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,
}

/// The blob subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum BlobAction {
    /// Print the objects of a container, sorted by name: size in bytes, then name.
    Ls {
        /// The container.
        container: String,
        /// Only the objects whose name starts with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Write an object's bytes to stdout, or to a file.
    Get {
        /// The container.
        container: String,
        /// The object.
        name: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Make an object of a file's bytes (`-` for stdin), replacing it if it exists.
    Put {
        /// The container.
        container: String,
        /// The object.
        name: String,
        /// The file.
        file: PathBuf,
    },
    /// Delete an object.
    Rm {
        /// The container.
        container: String,
        /// The object.
        name: String,
    },
}

impl BlobCommand {
    /// Opens the container and does the action.
    ///
    /// # Errors
    /// A bad manifest, runtime config, container or object name, no such object (for `get`),
    /// an unreadable file, a backend failure.
    pub fn run(self) -> Result<()> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the tokio runtime")?
            .block_on(self.action.run(&self.app, self.runtime_config.as_deref()))
    }
}

impl BlobAction {
    async fn run(
        self,
        app: &std::path::Path,
        runtime_config: Option<&std::path::Path>,
    ) -> Result<()> {
        let container = match &self {
            Self::Ls { container, .. }
            | Self::Get { container, .. }
            | Self::Put { container, .. }
            | Self::Rm { container, .. } => container.clone(),
        };
        let open = BlobContainer::open(app, runtime_config, &container).await?;
        match self {
            Self::Ls { prefix, .. } => {
                for object in open.list(&prefix).await? {
                    println!("{}\t{}", object.size, object.name);
                }
            }
            Self::Get { name, output, .. } => {
                let mut object = open.get(&name).await?;
                match output {
                    Some(path) => {
                        let mut file = tokio::fs::File::create(&path)
                            .await
                            .with_context(|| format!("cannot create `{}`", path.display()))?;
                        tokio::io::copy(&mut object, &mut file).await?;
                    }
                    None => {
                        tokio::io::copy(&mut object, &mut tokio::io::stdout()).await?;
                    }
                }
            }
            Self::Put { name, file, .. } => {
                let object = if file.as_os_str() == "-" {
                    open.put(&name, &mut tokio::io::stdin()).await?
                } else {
                    let mut input = tokio::fs::File::open(&file)
                        .await
                        .with_context(|| format!("cannot read `{}`", file.display()))?;
                    open.put(&name, &mut input).await?
                };
                println!("{}\t{}", object.size, object.name);
            }
            Self::Rm { name, .. } => {
                if !open.remove(&name).await? {
                    eprintln!("object `{name}` did not exist in container `{container}`");
                }
            }
        }
        Ok(())
    }
}
