//! What the linker tests (`spin_imports`, `blob_imports`) share: small components made from WIT
//! (wit-component's dummy core module for a test world, wrapped as a component) and an engine
//! to compile them.

// Each test file uses part of this module.
#![allow(dead_code)]

use wasmtime::component::Component;
use wasmtime::{Config, Engine};
use wit_component::{ComponentEncoder, StringEncoding, dummy_module, embed_component_metadata};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve, WorldId};

/// An engine with the component model.
pub fn engine() -> Engine {
    Engine::new(Config::new().wasm_component_model(true)).unwrap()
}

/// Adds the test package `test:app` with world `app` importing `imports` to `resolve`.
pub fn app_world(resolve: &mut Resolve, imports: &[&str]) -> WorldId {
    let world: String = imports
        .iter()
        .map(|name| format!("import {name};\n"))
        .collect();
    let package = resolve
        .push_str(
            "app.wit",
            &format!("package test:app;\nworld app {{\n{world}}}\n"),
        )
        .expect("the test world parses");
    resolve.select_world(&[package], Some("app")).unwrap()
}

/// A component of `world` of `resolve`, compiled by `engine`; with `merge`, imports of one
/// package at semver-compatible versions are merged into the highest (wit-component's
/// default), else each version is imported as it is.
pub fn encode(engine: &Engine, resolve: &Resolve, world: WorldId, merge: bool) -> Component {
    let mangling = ManglingAndAbi::Legacy(LiftLowerAbi::Sync);
    let mut module = dummy_module(resolve, world, mangling);
    embed_component_metadata(&mut module, resolve, world, StringEncoding::UTF8).unwrap();
    let bytes = ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .merge_imports_based_on_semver(merge)
        .validate(true)
        .encode()
        .unwrap();
    Component::new(engine, bytes).unwrap()
}
