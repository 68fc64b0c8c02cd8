//! Layer 7: `serve --watch`, what changes reload the app. The serve loop ([`super::serve()`])
//! reloads after each burst of changes this reports.

use std::time::Duration;

use anyhow::{Context, Result};

/// Directories `--watch` never looks into: build output, the host's own state, version
/// control and package caches (and every hidden directory).
fn ignored_by_watch(name: &std::ffi::OsStr) -> bool {
    name == "target" || name == "node_modules" || name.as_encoded_bytes().starts_with(b".")
}

/// What `--watch` watches: the directory of the manifest (its files), and every directory in
/// it, recursively, but those [`ignored_by_watch`] (so a project's `target/`, which a build
/// fills with thousands of files, costs no watch). Symlinks are not followed. It sends on its
/// channel after each burst of changes (debounced 300 ms) that made, wrote, renamed or removed
/// a file: reads (a build reading `Cargo.toml`, a reload reading the manifest) do not count.
pub struct Watch {
    debouncer: notify_debouncer_full::Debouncer<
        notify_debouncer_full::notify::RecommendedWatcher,
        notify_debouncer_full::RecommendedCache,
    >,
    dir: std::path::PathBuf,
    watched: std::collections::BTreeSet<std::path::PathBuf>,
}

impl Watch {
    /// Starts watching the directory of `manifest`, sending on `changed`.
    ///
    /// # Errors
    /// The platform's watcher cannot start, or a directory cannot be read or watched.
    pub fn start(
        manifest: &std::path::Path,
        changed: tokio::sync::mpsc::Sender<()>,
    ) -> Result<Self> {
        use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
        let dir = match manifest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => std::path::PathBuf::from("."),
        };
        let root = dir.clone();
        let mut debouncer = notify_debouncer_full::new_debouncer_opt(
            Duration::from_millis(300),
            None,
            move |events: notify_debouncer_full::DebounceEventResult| {
                let relevant = events.ok().and_then(|events| {
                    events.into_iter().find(|event| {
                        matches!(
                            event.kind,
                            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
                        ) && event.paths.iter().any(|path| {
                            let inside = path.strip_prefix(&root).unwrap_or(path);
                            !inside.components().any(|c| ignored_by_watch(c.as_os_str()))
                        })
                    })
                });
                if let Some(event) = relevant {
                    tracing::debug!(paths = ?event.paths, kind = ?event.kind, "changed");
                    let _ = changed.try_send(());
                }
            },
            notify_debouncer_full::RecommendedCache::new(),
            notify::Config::default().with_follow_symlinks(false),
        )
        .context("cannot start watching for changes")?;
        debouncer
            .watch(&dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch `{}`", dir.display()))?;
        let mut watch = Self {
            debouncer,
            dir,
            watched: std::collections::BTreeSet::new(),
        };
        watch.watch_new_directories()?;
        Ok(watch)
    }

    /// Watches each directory at the top of the project not watched yet (one made since the
    /// start shows as a change at the top, so this runs before each reload).
    ///
    /// # Errors
    /// The project's directory cannot be read, or a directory cannot be watched.
    pub fn watch_new_directories(&mut self) -> Result<()> {
        use notify_debouncer_full::notify::RecursiveMode;
        let cannot_watch = |path: &std::path::Path| format!("cannot watch `{}`", path.display());
        for entry in std::fs::read_dir(&self.dir).with_context(|| cannot_watch(&self.dir))? {
            let entry = entry.with_context(|| cannot_watch(&self.dir))?;
            let path = entry.path();
            if entry.file_type().is_ok_and(|kind| kind.is_dir())
                && !ignored_by_watch(&entry.file_name())
                && !self.watched.contains(&path)
            {
                self.debouncer
                    .watch(&path, RecursiveMode::Recursive)
                    .with_context(|| cannot_watch(&path))?;
                self.watched.insert(path);
            }
        }
        Ok(())
    }
}
