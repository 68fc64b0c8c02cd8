//! Keeps the guide in `docs/` from drifting away from the code. The manifest and runtime config
//! references must list every key the raw config types accept, and nothing else: the keys are
//! read from the `Raw*` structs' source with `syn` (serde renames honoured). The command-line
//! reference must name every long flag of every subcommand, read from clap's model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::CommandFactory;

fn repo_file(relative: &str) -> (PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    (path, text)
}

/// The structs of a `raw.rs`, by name: each field's TOML key and type.
fn raw_structs(source: &str) -> BTreeMap<String, Vec<(String, syn::Type)>> {
    let file = syn::parse_file(source).expect("raw.rs parses");
    let mut structs = BTreeMap::new();
    for item in file.items {
        let syn::Item::Struct(item) = item else {
            continue;
        };
        let fields = item
            .fields
            .iter()
            .map(|field| {
                let name = serde_rename(&field.attrs)
                    .unwrap_or_else(|| field.ident.as_ref().unwrap().to_string());
                (name, field.ty.clone())
            })
            .collect();
        structs.insert(item.ident.to_string(), fields);
    }
    structs
}

/// The `rename = ".."` of a field's `#[serde(..)]`, if any.
fn serde_rename(attrs: &[syn::Attribute]) -> Option<String> {
    let mut rename = None;
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("serde")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                rename = Some(meta.value()?.parse::<syn::LitStr>()?.value());
            } else if meta.input.peek(syn::Token![=]) {
                meta.value()?.parse::<syn::Expr>()?;
            }
            Ok(())
        })
        .expect("a serde attribute parses");
    }
    rename
}

/// A type's name and generic arguments: `BTreeMap<K, V>` → ("BTreeMap", [K, V]).
fn split(ty: &syn::Type) -> (String, Vec<syn::Type>) {
    let syn::Type::Path(path) = ty else {
        panic!("unexpected field type");
    };
    let last = path.path.segments.last().unwrap();
    let args = match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                syn::GenericArgument::Type(ty) => Some(ty.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    (last.ident.to_string(), args)
}

/// The dotted keys a config type accepts: the leaves (values) and the tables on the way.
#[derive(Default)]
struct Keys {
    leaves: BTreeSet<String>,
    tables: BTreeSet<String>,
}

/// Adds to `keys` every dotted key below `prefix` that type `ty` accepts: `Spanned`, `Option`
/// and `Vec` are looked through, a map is a table with a `<id>` (component) or `<name>`
/// segment, and a `Raw*` struct is a table of its fields; anything else is a leaf.
fn walk(
    structs: &BTreeMap<String, Vec<(String, syn::Type)>>,
    prefix: &str,
    ty: &syn::Type,
    keys: &mut Keys,
) {
    let (name, args) = split(ty);
    match name.as_str() {
        "Spanned" | "Option" | "Vec" => walk(structs, prefix, &args[0], keys),
        "BTreeMap" => {
            keys.tables.insert(prefix.to_owned());
            let segment = if prefix == "component" {
                "<id>"
            } else {
                "<name>"
            };
            walk(structs, &format!("{prefix}.{segment}"), &args[1], keys);
        }
        _ => match structs.get(&name) {
            Some(fields) => {
                keys.tables.insert(prefix.to_owned());
                for (field, ty) in fields {
                    let key = if prefix.is_empty() {
                        field.clone()
                    } else {
                        format!("{prefix}.{field}")
                    };
                    walk(structs, &key, ty, keys);
                }
            }
            None => {
                keys.leaves.insert(prefix.to_owned());
            }
        },
    }
}

/// The keys of a reference page: the first cell of each table row, when it is a single
/// backquoted key.
fn documented_keys(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(key, _)| key.to_owned())
        .filter(|key| !key.contains('`'))
        .collect()
}

/// Compares the keys `root` accepts (from `raw`) with those `page` documents: every accepted
/// leaf must be documented, and every documented key must be accepted (a leaf or a table).
fn check_reference(raw: &str, root: &str, page: &str) {
    let (_, source) = repo_file(raw);
    let structs = raw_structs(&source);
    let mut accepted = Keys::default();
    let root_type: syn::Type = syn::parse_str(root).unwrap();
    walk(&structs, "", &root_type, &mut accepted);
    let (path, text) = repo_file(page);
    let documented = documented_keys(&text);
    let undocumented: Vec<_> = accepted.leaves.difference(&documented).collect();
    let unknown: Vec<_> = documented
        .iter()
        .filter(|key| !accepted.leaves.contains(*key) && !accepted.tables.contains(*key))
        .collect();
    assert!(
        undocumented.is_empty() && unknown.is_empty(),
        "{} is out of date.\nKeys {raw} accepts but the page does not document: \
         {undocumented:?}\nKeys the page documents that {raw} does not accept: {unknown:?}",
        path.display()
    );
}

#[test]
fn the_manifest_reference_documents_every_key_and_no_other() {
    check_reference(
        "host/src/manifest/raw.rs",
        "RawManifest",
        "docs/reference/manifest.md",
    );
}

#[test]
fn the_manifest_reference_example_is_a_valid_manifest() {
    let (path, page) = repo_file("docs/reference/manifest.md");
    let example = page
        .split("## A complete example")
        .nth(1)
        .and_then(|rest| rest.split("```toml\n").nth(1))
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_else(|| panic!("{}: no `## A complete example` TOML block", path.display()));
    let app = wasmhost::manifest::parse(&path.with_file_name("wasmhost.toml"), example)
        .unwrap_or_else(|err| panic!("{}: the example does not parse: {err}", path.display()));
    assert_eq!(app.components.len(), 3);
    assert_eq!(
        (
            app.http_triggers.len(),
            app.cron_triggers.len(),
            app.queue_triggers.len(),
            app.blob_triggers.len(),
            app.workflow_triggers.len(),
            app.activity_triggers.len()
        ),
        (1, 1, 3, 1, 1, 1),
        "one route, one schedule, one queue, one topic subscription, one blob trigger, one \
         workflow and one activity"
    );
}

#[test]
fn the_runtime_config_reference_documents_every_key_and_no_other() {
    check_reference(
        "host/src/runtime_config/raw.rs",
        "RawRuntimeConfig",
        "docs/reference/runtime-config.md",
    );
}

#[test]
fn the_command_line_reference_names_every_flag() {
    let (path, text) = repo_file("docs/reference/cli.md");
    let cli = wasmhost::cli::Cli::command();
    let mut missing = Vec::new();
    let mut commands = vec![("wasmhost".to_owned(), &cli)];
    while let Some((name, command)) = commands.pop() {
        if !text.contains(&name) {
            missing.push(name.clone());
        }
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long()
                && !["help", "version"].contains(&long)
                && !text.contains(&format!("--{long}"))
            {
                missing.push(format!("{name} --{long}"));
            }
        }
        for sub in command.get_subcommands() {
            commands.push((format!("{name} {}", sub.get_name()), sub));
        }
    }
    assert!(
        missing.is_empty(),
        "{} does not name: {missing:?}",
        path.display()
    );
}

#[test]
fn the_key_finder_sees_a_known_key_and_a_renamed_one() {
    let (_, source) = repo_file("host/src/runtime_config/raw.rs");
    let structs = raw_structs(&source);
    let mut keys = Keys::default();
    walk(
        &structs,
        "",
        &syn::parse_str("RawRuntimeConfig").unwrap(),
        &mut keys,
    );
    let keys = keys.leaves;
    assert!(keys.contains("key_value_store.<name>.type"), "{keys:?}");
    assert!(
        keys.contains("queue.<name>.visibility_timeout_ms"),
        "{keys:?}"
    );
    assert!(!keys.contains("key_value_store.<name>.kind"), "{keys:?}");
}
