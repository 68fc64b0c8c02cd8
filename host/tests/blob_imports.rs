//! `wasi:blobstore@0.2.0-draft` against wasmhost's one linker ([`wasmhost::app_version::linker`]):
//! a component made from the proposal's WIT exactly as published (its `wasi:io` is 0.2.1,
//! vendored byte for byte in `tests/wit/blobstore-upstream/`) links, as does one made from the
//! `wit/` wasmhost vendors (`wasi:io` 0.2.12); a blobstore version the host does not implement
//! fails the link, naming the import. Components are a dummy core module for a test world,
//! wrapped as a component, checked with [`Linker::instantiate_pre`].
//!
//! Why the upstream component links: wasmtime looks an import up by its exact name, then by a
//! semver key: `wasi:io/streams@0.2.1` by `wasi:io/streams@0.2`, which the host's
//! `wasi:io/streams@0.2.12` also answers. A pre-release version has no such key, so
//! `wasi:blobstore/…@0.2.0-draft` is found by its exact name only.

use std::path::{Path, PathBuf};

use wasmhost::app_version::linker;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wit_parser::{PackageId, Resolve, WorldId};

mod support;
use support::{app_world, encode, engine};

/// The blobstore interface a guest imports (its `container` and `types` come with it).
const BLOBSTORE: &str = "wasi:blobstore/blobstore@0.2.0-draft";

fn path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A component of `world` of `resolve`, compiled by `engine`.
fn component(engine: &Engine, resolve: &Resolve, world: WorldId) -> Component {
    encode(engine, resolve, world, true)
}

/// The names of the instances `component` imports, sorted.
fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    let mut names: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    names.sort_unstable();
    names
}

/// The proposal's own WIT at `v0.2.0-draft`, with its `wasi:io@0.2.1`.
fn upstream() -> Resolve {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(path("tests/wit/blobstore-upstream"))
        .expect("the upstream blobstore WIT parses");
    resolve
}

/// wasmhost's vendored `wit/` (`wasmhost:host`, and `wit/deps/`), and the id of `wasmhost:host`.
fn vendored() -> (Resolve, PackageId) {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(path("../wit"))
        .expect("the vendored WIT parses");
    (resolve, package)
}

#[test]
fn a_guest_of_the_upstream_blobstore_wit_links() {
    let engine = engine();
    let mut resolve = upstream();
    let world = app_world(&mut resolve, &[BLOBSTORE]);
    let component = component(&engine, &resolve, world);
    assert_eq!(
        imports(&engine, &component),
        [
            "wasi:blobstore/blobstore@0.2.0-draft",
            "wasi:blobstore/container@0.2.0-draft",
            "wasi:blobstore/types@0.2.0-draft",
            "wasi:io/error@0.2.1",
            "wasi:io/poll@0.2.1",
            "wasi:io/streams@0.2.1",
        ]
    );
    linker(&engine)
        .unwrap()
        .instantiate_pre(&component)
        .expect("the upstream guest links");
}

/// A real guest also imports `wasi:io` for its own WASI (std's stdio, `wasi:http`), often at
/// another 0.2 patch than the blobstore's. wit-component merges semver-compatible imports into
/// the highest version by default, so such a component imports `wasi:io@0.2.12` alone; made
/// without that merge, it imports both versions, and both are the host's one `wasi:io`.
#[test]
fn a_guest_of_the_upstream_blobstore_wit_and_another_wasi_io_links() {
    let engine = engine();
    let mut resolve = upstream();
    resolve
        .push_file(path("../wit/deps/io.wit"))
        .expect("wasi:io@0.2.12 parses");
    let world = app_world(&mut resolve, &[BLOBSTORE, "wasi:io/streams@0.2.12"]);
    let linker = linker(&engine).unwrap();
    for (merge, expected) in [
        (true, &["wasi:io/streams@0.2.12"][..]),
        (
            false,
            &["wasi:io/streams@0.2.1", "wasi:io/streams@0.2.12"][..],
        ),
    ] {
        let component = encode(&engine, &resolve, world, merge);
        let streams: Vec<String> = imports(&engine, &component)
            .into_iter()
            .filter(|name| name.starts_with("wasi:io/streams@"))
            .collect();
        assert_eq!(streams, expected, "merge: {merge}");
        linker
            .instantiate_pre(&component)
            .unwrap_or_else(|err| panic!("merge {merge}: {err:#}"));
    }
}

#[test]
fn a_guest_of_the_vendored_blobstore_wit_links() {
    let engine = engine();
    let (mut resolve, _) = vendored();
    let world = app_world(&mut resolve, &[BLOBSTORE]);
    let component = component(&engine, &resolve, world);
    assert_eq!(
        imports(&engine, &component),
        [
            "wasi:blobstore/blobstore@0.2.0-draft",
            "wasi:blobstore/container@0.2.0-draft",
            "wasi:blobstore/types@0.2.0-draft",
            "wasi:io/error@0.2.12",
            "wasi:io/poll@0.2.12",
            "wasi:io/streams@0.2.12",
        ]
    );
    linker(&engine)
        .unwrap()
        .instantiate_pre(&component)
        .expect("the vendored guest links");
}

#[test]
fn a_guest_of_the_http_component_world_links() {
    let engine = engine();
    let (resolve, package) = vendored();
    let world = resolve
        .select_world(&[package], Some("http-component"))
        .unwrap();
    let component = component(&engine, &resolve, world);
    assert!(imports(&engine, &component).iter().any(|n| n == BLOBSTORE));
    linker(&engine)
        .unwrap()
        .instantiate_pre(&component)
        .expect("the http-component guest links");
}

/// A blobstore version other than `0.2.0-draft`: a later one, a sibling pre-release, and the
/// 0.2 releases a pre-release is not semver-compatible with.
#[test]
fn a_guest_of_another_blobstore_version_fails_the_link_naming_it() {
    let engine = engine();
    let linker: Linker<_> = linker(&engine).unwrap();
    for version in ["0.3.0", "0.2.0-draft2", "0.2.0", "0.2.1"] {
        let mut resolve = Resolve::default();
        resolve
            .push_str(
                "blobstore.wit",
                &format!(
                    "package wasi:blobstore@{version};\n\
                     interface blobstore {{\n  \
                       container-exists: func(name: string) -> result<bool, string>;\n\
                     }}\n"
                ),
            )
            .expect("the other blobstore parses");
        let name = format!("wasi:blobstore/blobstore@{version}");
        let world = app_world(&mut resolve, &[&name]);
        let component = component(&engine, &resolve, world);
        let err = linker
            .instantiate_pre(&component)
            .err()
            .unwrap_or_else(|| panic!("{name} links"));
        let message = format!("{err:#}");
        assert!(message.contains(&name), "{name}: {message}");
    }
}
