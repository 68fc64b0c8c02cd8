//! `wasmhost keys create|list|revoke|rotate`: the keys of an app's `function` and `admin`
//! routes ([`crate::keys`]), in its key store. A serving node reads changes within
//! [`crate::keys::REFRESH`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::capability::backend::now_ms;
use crate::keys::{KeyRecord, KeyScope, KeyStore};

/// Manage the keys of an app's routes.
#[derive(Debug, clap::Args)]
pub struct KeysCommand {
    #[command(subcommand)]
    action: KeysAction,
    /// The runtime config whose `[keys]` says where the keys live (as `serve
    /// --runtime-config`); without one, `.wasmhost/keys` beside the manifest.
    #[arg(long, global = true, env = "WASMHOST_RUNTIME_CONFIG")]
    runtime_config: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum KeysAction {
    /// Make a key; it is printed once and never stored.
    Create {
        /// The manifest, or a directory holding `wasmhost.toml`.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// A key for the `function` routes of this component.
        #[arg(long, group = "scope")]
        component: Option<String>,
        /// A key for every `function` route of the app.
        #[arg(long, group = "scope")]
        app: bool,
        /// A key for every route, `admin` ones included.
        #[arg(long, group = "scope")]
        admin: bool,
        /// A name for people (shown by `list`, given to the guest in `wasmhost-key-name`).
        #[arg(long, default_value = "default")]
        name: String,
        /// The key stops working this many seconds from now; default: never.
        #[arg(long)]
        expires_in_secs: Option<u64>,
    },
    /// List the keys (never their secrets).
    List {
        /// The manifest, or a directory holding `wasmhost.toml`.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Remove a key: it stops working within seconds.
    Revoke {
        /// The key's id (16 hex digits, as `list` shows).
        id: String,
        /// The manifest, or a directory holding `wasmhost.toml`.
        #[arg(default_value = ".")]
        path: PathBuf,
    },
    /// Make a new key like an old one; the old one keeps working for the grace period.
    Rotate {
        /// The old key's id.
        id: String,
        /// The manifest, or a directory holding `wasmhost.toml`.
        #[arg(default_value = ".")]
        path: PathBuf,
        /// How long the old key keeps working, in seconds.
        #[arg(long)]
        grace_secs: u64,
    },
}

impl KeysCommand {
    /// Runs the action; prints a new key once, on stdout.
    ///
    /// # Errors
    /// A bad manifest, an unknown component or key id, a store that cannot be written.
    pub fn run(self) -> Result<()> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(self.act())
    }

    async fn act(self) -> Result<()> {
        let config = self.runtime_config.as_deref();
        match self.action {
            KeysAction::Create {
                path,
                component,
                app,
                admin,
                name,
                expires_in_secs,
            } => {
                let (store, loaded) = KeyStore::for_manifest(&path, config).await?;
                let scope = match (component, app, admin) {
                    (Some(id), _, _) => {
                        if !loaded.components.iter().any(|c| c.id.as_str() == id) {
                            bail!("{}: no component `{id}`", loaded.manifest_path.display());
                        }
                        KeyScope::Component(id)
                    }
                    (None, true, _) => KeyScope::App,
                    (None, false, true) => KeyScope::Admin,
                    (None, false, false) => bail!("give --component ID, --app or --admin"),
                };
                let expires = expires_in_secs.map(|secs| now_ms().saturating_add(secs * 1000));
                let (record, key) = store.create(&name, scope, expires).await?;
                println!("{key}");
                eprintln!(
                    "key `{}` ({}) for {}: shown once, keep it now",
                    record.id, record.name, record.scope
                );
            }
            KeysAction::List { path } => {
                let (store, _) = KeyStore::for_manifest(&path, config).await?;
                for record in store.list().await? {
                    println!("{}", line(&record));
                }
            }
            KeysAction::Revoke { id, path } => {
                let (store, _) = KeyStore::for_manifest(&path, config).await?;
                if !store.revoke(&id).await? {
                    bail!("no key `{id}`");
                }
                eprintln!("key `{id}` revoked");
            }
            KeysAction::Rotate {
                id,
                path,
                grace_secs,
            } => {
                let (store, _) = KeyStore::for_manifest(&path, config).await?;
                let (record, key) = store.rotate(&id, Duration::from_secs(grace_secs)).await?;
                println!("{key}");
                eprintln!(
                    "key `{}` replaces `{id}`, which works for {grace_secs} s more: shown once, keep it now",
                    record.id
                );
            }
        }
        Ok(())
    }
}

/// One key for `list`: id, name, scope, expiry and last use (ms since the Unix epoch, `-`
/// for none).
fn line(record: &KeyRecord) -> String {
    let ms = |at: Option<u64>| at.map_or("-".to_owned(), |at| at.to_string());
    format!(
        "{}\t{}\t{}\texpires={}\tlast_used={}",
        record.id,
        record.name,
        record.scope,
        ms(record.expires_ms),
        ms(record.last_used_ms)
    )
}
