//! Spin's guest interfaces against wasmhost's one linker ([`wasmhost::app_version::linker`]):
//! components that import what the Spin SDK 5.2 imports, made from the WIT vendored in
//! `wit/spin/` (a dummy core module for a test world, wrapped as a component), link with
//! exactly the interfaces wasmhost does not implement trapped; an unknown non-Spin import still
//! fails the link.

use std::path::Path;

use wasmhost::app_version::linker;
use wasmhost::capability::spin;
use wasmtime::Engine;
use wasmtime::component::Component;
use wit_parser::Resolve;

mod support;
use support::{app_world, encode, engine};

/// Every interface a Spin SDK 5.2 component may import from Spin's namespaces and the WASI
/// drafts Spin uses, each with whether wasmhost implements it. (The interfaces of types alone
/// they use, `fermyon:spin/rdbms-types@2.0.0` and `fermyon:spin/http-types`, are imported
/// too: linked empty, they are not reported as trapped.)
const SPIN_IMPORTS: &[(&str, bool)] = &[
    ("fermyon:spin/key-value@2.0.0", true),
    ("fermyon:spin/variables@2.0.0", true),
    ("wasi:keyvalue/store@0.2.0-draft2", true),
    ("wasi:keyvalue/atomics@0.2.0-draft2", true),
    ("wasi:keyvalue/batch@0.2.0-draft2", true),
    ("wasi:config/store@0.2.0-draft-2024-09-27", true),
    ("fermyon:spin/llm@2.0.0", false),
    ("fermyon:spin/redis@2.0.0", false),
    ("fermyon:spin/mqtt@2.0.0", false),
    ("fermyon:spin/postgres@2.0.0", false),
    ("fermyon:spin/mysql@2.0.0", false),
    ("fermyon:spin/sqlite@2.0.0", false),
    ("spin:postgres/postgres@3.0.0", false),
    ("spin:postgres/postgres@4.0.0", false),
    ("spin:sqlite/sqlite@3.0.0", false),
    ("fermyon:spin/key-value", false),
    ("fermyon:spin/config", false),
    ("fermyon:spin/http", false),
];

/// A component whose world imports `imports` (interfaces of `wit/spin/`'s packages, or of
/// `extra`, more WIT packages), compiled by `engine`.
fn component(engine: &Engine, imports: &[&str], extra: &str) -> Component {
    let mut resolve = Resolve::default();
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit/spin");
    resolve.push_dir(&wit).expect("wit/spin parses");
    if !extra.is_empty() {
        resolve
            .push_str("extra.wit", extra)
            .expect("the extra WIT parses");
    }
    let world = app_world(&mut resolve, imports);
    encode(engine, &resolve, world, true)
}

#[test]
fn every_spin_import_links_and_only_the_unimplemented_ones_trap() {
    let engine = engine();
    let names: Vec<&str> = SPIN_IMPORTS.iter().map(|(name, _)| *name).collect();
    let component = component(&engine, &names, "");
    let (_, trapped) = spin::instantiate_pre(&linker(&engine).unwrap(), &component).unwrap();
    let expected: Vec<&str> = SPIN_IMPORTS
        .iter()
        .filter(|(_, implemented)| !implemented)
        .map(|(name, _)| *name)
        .collect();
    let mut trapped: Vec<&str> = trapped.iter().map(String::as_str).collect();
    trapped.sort_unstable();
    let mut expected = expected;
    expected.sort_unstable();
    assert_eq!(trapped, expected);
}

#[test]
fn the_implemented_spin_interfaces_link_without_a_trap() {
    let engine = engine();
    let implemented: Vec<&str> = SPIN_IMPORTS
        .iter()
        .filter(|(_, implemented)| *implemented)
        .map(|(name, _)| *name)
        .collect();
    let component = component(&engine, &implemented, "");
    let (_, trapped) = spin::instantiate_pre(&linker(&engine).unwrap(), &component).unwrap();
    assert!(trapped.is_empty(), "{trapped:?}");
}

#[test]
fn an_unknown_import_beside_spin_ones_still_fails_the_link() {
    let engine = engine();
    let gadget = "package test:missing;\ninterface gadget {\n  poke: func() -> u32;\n}\n";
    let component = component(
        &engine,
        &["fermyon:spin/llm@2.0.0", "test:missing/gadget"],
        gadget,
    );
    let err = spin::instantiate_pre(&linker(&engine).unwrap(), &component)
        .err()
        .expect("the link fails");
    assert!(
        format!("{err:#}").contains("test:missing/gadget"),
        "{err:#}"
    );
}
