//! The one step that builds every guest component for `wasm32-wasip2` (release): the example
//! apps in `apps/` and the test components in `tests/guests/`, each a cargo workspace of its
//! own, into the shared `target/guests/` directory. Each artifact's path is exported as
//! `WASMHOST_GUEST_<NAME>`, so a test naming a component that was not built fails to compile.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Guest workspaces and their members (crate names).
const WORKSPACES: &[(&str, &[&str])] = &[
    (
        "apps",
        &["hello", "echo", "kv-counter", "weather-proxy", "shortener"],
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
        ],
    ),
];

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
        let status = Command::new(&cargo)
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--target-dir",
            ])
            .arg(&target_dir)
            .current_dir(&dir)
            // Flags meant for this (native) build must not leak into the guest build.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_PROFILE_RELEASE_DEBUG")
            .status()
            .unwrap_or_else(|err| panic!("cannot run `{cargo} build` in {}: {err}", dir.display()));
        assert!(
            status.success(),
            "building the guest components in {} failed ({status}); is the target installed? \
             run `rustup target add wasm32-wasip2`",
            dir.display()
        );
        for member in *members {
            let file = member.replace('-', "_");
            let wasm = target_dir.join(format!("wasm32-wasip2/release/{file}.wasm"));
            assert!(wasm.is_file(), "{} was not built", wasm.display());
            let var = member.replace('-', "_").to_ascii_uppercase();
            println!("cargo:rustc-env=WASMHOST_GUEST_{var}={}", wasm.display());
        }
    }
    for shared in [
        "guest-sdk/src",
        "guest-sdk/macro/src",
        "guest-sdk/Cargo.toml",
        "wit",
    ] {
        watch(&root.join(shared));
    }
}

fn watch(path: &Path) {
    println!("cargo:rerun-if-changed={}", path.display());
}
