//! Layer 4, at load (startup step 4 of [`crate`]): the Spin interfaces that wasmhost does not
//! implement, linked as traps so that a Spin component which imports them, but never calls
//! them, loads and serves.
//!
//! A component built with the Spin SDK imports every interface of Spin's `platform` world
//! (`fermyon:spin/llm`, `redis`, `mqtt`, `postgres`, `mysql`, `sqlite`, `spin:postgres/*`,
//! `spin:sqlite/*`, the unversioned `fermyon:spin/*` of Spin 1.x, ...) whether it calls them
//! or not. wasmhost implements Spin's key-value and variables ([`IMPLEMENTED`], on the
//! key-value and config capabilities); for each other interface of a Spin namespace
//! (`fermyon:spin/...` and `spin:...`) a component imports, [`instantiate_pre`] defines every
//! function as a trap naming it (`fermyon:spin/llm@2.0.0#infer is not supported by wasmhost`)
//! and every resource as a host resource no call ever makes, in a clone of the one linker made
//! for that component alone. Any other import the linker lacks still fails the link, as
//! before.
//!
//! All of it happens once per component at load: the traps are in the component's
//! [`InstancePre`], and nothing is added to the per-request path. A component with no such
//! import is pre-instantiated on the one linker as it is, with no clone.

use anyhow::Result;
use wasmtime::component::types::{ComponentInstance, ComponentItem};
use wasmtime::component::{Component, InstancePre, Linker, LinkerInstance, ResourceType};

/// The Spin interfaces that wasmhost implements: `fermyon:spin/key-value@2.0.0` (on
/// [`crate::capability::key_value`]) and `fermyon:spin/variables@2.0.0` (on
/// [`crate::capability::config`]). [`crate::app_version::linker`] defines them.
pub const IMPLEMENTED: [&str; 2] = [
    "fermyon:spin/key-value@2.0.0",
    "fermyon:spin/variables@2.0.0",
];

/// Whether import `name` is in a Spin namespace: the `fermyon:spin` package (any version) or
/// any `spin:` package.
pub fn is_spin(name: &str) -> bool {
    name.starts_with("fermyon:spin/") || name.starts_with("spin:")
}

/// What a component that imports [`unsupported`] interfaces is told, once, at load (in the log)
/// and by `wasmhost check`.
pub const TRAPPED: &str = "imports Spin interfaces that wasmhost does not support: they are \
     linked as traps, so the component loads, and a call to one of them traps the instance";

/// The host type of every resource of a trapped interface: no call makes one, since every
/// function that could is a trap.
struct Unsupported;

/// The interfaces among `imports` (import names, in the component's order) that are in a Spin
/// namespace and not [`IMPLEMENTED`]: the ones [`instantiate_pre`] links as traps (or, for an
/// interface of types alone, such as `fermyon:spin/rdbms-types@2.0.0`, as an empty instance).
pub fn unsupported<'a>(imports: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    imports
        .into_iter()
        .filter(|name| is_spin(name) && !IMPLEMENTED.contains(name))
        .map(str::to_owned)
        .collect()
}

/// Pre-instantiates `component` with `linker` (which defines [`IMPLEMENTED`], as
/// [`crate::app_version::linker`] does), every [`unsupported`] Spin interface it imports
/// linked as traps; returns the pre-instantiated component and the trapped interfaces, those
/// with a function (most often none; with no unsupported import at all, `linker` is used as
/// it is).
///
/// # Errors
/// As [`Linker::instantiate_pre`]: an import that is neither in `linker` nor a Spin
/// interface, or one whose type does not match `linker`'s.
pub fn instantiate_pre<T: 'static>(
    linker: &Linker<T>,
    component: &Component,
) -> Result<(InstancePre<T>, Vec<String>)> {
    let engine = component.engine();
    let ty = component.component_type();
    let unsupported = unsupported(ty.imports(engine).map(|(name, _)| name));
    if unsupported.is_empty() {
        return Ok((linker.instantiate_pre(component)?, unsupported));
    }
    let mut linker = linker.clone();
    let mut trapped = Vec::new();
    for (name, import) in ty.imports(engine) {
        if let ComponentItem::ComponentInstance(instance) = import.ty
            && unsupported.iter().any(|u| u == name)
            && define_traps(&mut linker.instance(name)?, name, &instance, component)?
        {
            trapped.push(name.to_owned());
        }
    }
    Ok((linker.instantiate_pre(component)?, trapped))
}

/// Defines every export of `instance` (import `interface` of `component`) in `linker`: each
/// function as a trap, each resource as [`Unsupported`]. Types need no definition. Returns
/// whether it defined a function.
fn define_traps<T: 'static>(
    linker: &mut LinkerInstance<'_, T>,
    interface: &str,
    instance: &ComponentInstance,
    component: &Component,
) -> Result<bool> {
    let mut functions = false;
    for (name, export) in instance.exports(component.engine()) {
        match export.ty {
            ComponentItem::ComponentFunc(_) => {
                let message = format!("{interface}#{name} is not supported by wasmhost");
                linker.func_new(name, move |_, _, _, _| {
                    Err(wasmtime::format_err!("{message}"))
                })?;
                functions = true;
            }
            ComponentItem::Resource(_) => {
                linker.resource(name, ResourceType::host::<Unsupported>(), |_, _| Ok(()))?;
            }
            _ => {}
        }
    }
    Ok(functions)
}

#[cfg(test)]
mod tests {
    use wasmtime::component::Component;
    use wasmtime::{Engine, Store};

    use super::*;

    #[test]
    fn only_unimplemented_spin_interfaces_are_unsupported() {
        let imports = [
            "wasi:cli/environment@0.2.6",
            "fermyon:spin/key-value@2.0.0",
            "fermyon:spin/variables@2.0.0",
            "fermyon:spin/llm@2.0.0",
            "fermyon:spin/sqlite",
            "spin:postgres/postgres@4.0.0",
            "wasi:keyvalue/store@0.2.0-draft2",
            "test:missing/gadget",
            "fermyon:spinach/x",
            "spinning:top/x",
        ];
        assert_eq!(
            unsupported(imports),
            [
                "fermyon:spin/llm@2.0.0",
                "fermyon:spin/sqlite",
                "spin:postgres/postgres@4.0.0",
            ]
        );
    }

    /// A component that imports `fermyon:spin/llm@2.0.0` (a function) and
    /// `spin:sqlite/sqlite@3.0.0` (a resource and its constructor) and exports `run`, which
    /// calls `infer`. The types are simplified: a trap takes any.
    const SPIN_GUEST: &str = r#"
        (component
          (import "spin:sqlite/sqlite@3.0.0" (instance
            (export "connection" (type (sub resource)))
            (export "[static]connection.open" (func (result (own 0))))
          ))
          (import "fermyon:spin/llm@2.0.0" (instance $llm
            (export "infer" (func (result u32)))
          ))
          (core func $infer (canon lower (func $llm "infer")))
          (core module $m
            (import "llm" "infer" (func $infer (result i32)))
            (func (export "run") (result i32) call $infer))
          (core instance $i (instantiate $m
            (with "llm" (instance (export "infer" (func $infer))))))
          (func (export "run") (result u32) (canon lift (core func $i "run")))
        )
    "#;

    fn component(engine: &Engine, wat: &str) -> Component {
        Component::new(engine, wat::parse_str(wat).unwrap()).unwrap()
    }

    #[test]
    fn a_spin_import_links_as_a_trap_that_names_the_function() {
        let engine = Engine::default();
        let linker = Linker::<()>::new(&engine);
        let (pre, trapped) = instantiate_pre(&linker, &component(&engine, SPIN_GUEST)).unwrap();
        assert_eq!(
            trapped,
            ["spin:sqlite/sqlite@3.0.0", "fermyon:spin/llm@2.0.0"]
        );

        let mut store = Store::new(&engine, ());
        let instance = pre.instantiate(&mut store).unwrap();
        let run = instance
            .get_typed_func::<(), (u32,)>(&mut store, "run")
            .unwrap();
        let err = run.call(&mut store, ()).unwrap_err();
        assert!(
            format!("{err:?}")
                .contains("fermyon:spin/llm@2.0.0#infer is not supported by wasmhost"),
            "{err:?}"
        );
    }

    #[test]
    fn another_unknown_import_still_fails_the_link() {
        let engine = Engine::default();
        let linker = Linker::<()>::new(&engine);
        let guest = SPIN_GUEST.replace("fermyon:spin/llm@2.0.0", "test:missing/gadget");
        let err = instantiate_pre(&linker, &component(&engine, &guest))
            .err()
            .expect("the link fails");
        assert!(
            format!("{err:#}").contains("test:missing/gadget"),
            "{err:#}"
        );
    }

    #[test]
    fn a_component_without_spin_imports_links_on_the_linker_as_it_is() {
        let engine = Engine::default();
        let linker = Linker::<()>::new(&engine);
        let guest = r#"(component (core module $m) (core instance (instantiate $m)))"#;
        let (_, trapped) = instantiate_pre(&linker, &component(&engine, guest)).unwrap();
        assert!(trapped.is_empty());
    }
}
