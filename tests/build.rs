//! The one step that builds every guest component for `wasm32-wasip2` (release): the example
//! apps in `apps/` and the test components in `tests/guests/`, each a cargo workspace of its
//! own, into the shared `target/guests/` directory. Each artifact's path is exported as
//! `WASMHOST_GUEST_<NAME>`, so a test naming a component that was not built fails to compile.
//! A member is named by its directory in the workspace; a nested one (`orders/workflow`) is
//! the crate named by its path with `-` (`orders-workflow`, `WASMHOST_GUEST_ORDERS_WORKFLOW`).
//! The few guests in [`WASIP1`] are built for `wasm32-wasip1` too (a core module, as Spin's
//! older templates build), exported as `WASMHOST_GUEST_<NAME>_WASIP1`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest workspaces and their members (crate names).
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "apps",
        &[
            "hello",
            "echo",
            "kv-counter",
            "weather-proxy",
            "shortener",
            "uploads",
            "orders",
            "orders/workflow",
            "orders/activities",
        ],
    ),
    (
        "tests/guests",
        &[
            "trap",
            "plain-wasip2",
            "async-upper",
            "kv-probe",
            "config-probe",
            "http-probe",
            "cron-probe",
            "log-probe",
            "queue-probe",
            "hostile",
            "missing-import",
            "raw-hostile",
            "spin-hello",
            "spin-kv-counter",
            "spin-variables",
            "spin-outbound",
            "spin-files",
            "blob-probe",
            "blob-events",
            "wf-chain",
            "wf-activities",
            "wf-fanout",
            "wf-timer",
            "wf-event",
            "wf-saga",
            "wf-sandbox",
            "wf-loop",
            "wf-trap",
            "wf-http-import",
            "wf-order-v1",
            "wf-order-v2",
            "wf-client",
        ],
    ),
];

/// Library crates of the guest workspaces (not components): watched, not exported.
const LIBRARIES: &[&str] = &["apps/orders/model", "tests/guests/wf-common"];

/// Guests (workspace, crate) also built for `wasm32-wasip1`: core modules, not components.
const WASIP1: &[(&str, &str)] = &[("tests/guests", "spin-hello")];

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .parent()
        .expect("tests/ is inside the repository")
        .to_owned();
    let target_dir = root.join("target/guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());

    for (workspace, members) in WORKSPACES {
        let dir = root.join(workspace);
        watch(&dir.join("Cargo.toml"));
        for member in *members {
            watch(&dir.join(member).join("src"));
            watch(&dir.join(member).join("Cargo.toml"));
        }
        build(&cargo, &dir, &target_dir, "wasm32-wasip2", None);
        for member in *members {
            export(&target_dir, "wasm32-wasip2", member, "");
        }
    }
    for (workspace, member) in WASIP1 {
        let dir = root.join(workspace);
        build(&cargo, &dir, &target_dir, "wasm32-wasip1", Some(member));
        export(&target_dir, "wasm32-wasip1", member, "_WASIP1");
    }
    for shared in [
        "guest-sdk/src",
        "guest-sdk/macro/src",
        "guest-sdk/Cargo.toml",
        "wit",
    ] {
        watch(&root.join(shared));
    }
    for library in LIBRARIES {
        watch(&root.join(library).join("src"));
        watch(&root.join(library).join("Cargo.toml"));
    }
}

/// Runs `cargo build --release --target <target>` in the workspace `dir` (only `package`'s
/// crate if given), into `target_dir`.
///
/// # Panics
/// If cargo cannot run or the build fails.
fn build(cargo: &str, dir: &Path, target_dir: &Path, target: &str, package: Option<&str>) {
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", target, "--target-dir"])
        .arg(target_dir)
        .current_dir(dir)
        // Flags meant for this (native) build must not leak into the guest build.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_PROFILE_RELEASE_DEBUG");
    if let Some(package) = package {
        command.args(["--package", package]);
    }
    let status = command
        .status()
        .unwrap_or_else(|err| panic!("cannot run `{cargo} build` in {}: {err}", dir.display()));
    assert!(
        status.success(),
        "building the guest components in {} for {target} failed ({status}); is the target \
         installed? run `rustup target add {target}`",
        dir.display()
    );
}

/// Exports the path of `member`'s `target` build as `WASMHOST_GUEST_<MEMBER><suffix>`.
///
/// # Panics
/// If the file is missing.
fn export(target_dir: &Path, target: &str, member: &str, suffix: &str) {
    let file = member.replace(['-', '/'], "_");
    let wasm = target_dir.join(format!("{target}/release/{file}.wasm"));
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    let var = file.to_ascii_uppercase();
    println!(
        "cargo:rustc-env=WASMHOST_GUEST_{var}{suffix}={}",
        wasm.display()
    );
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}
