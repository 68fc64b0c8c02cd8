# Sourced by the load scripts of benches/ (from the repository's root): builds what they run
# and writes the one-component apps they serve.

# Builds the release host (plus any extra cargo arguments, such as `--example native_hello`)
# and every guest component (the wasmhost-tests build script builds them).
build_host_and_guests() {
    cargo build --release -q -p wasmhost --bin wasmhost "$@"
    cargo build -q -p wasmhost-tests
}

# The path of test guest NAME (a crate name with `_`), built by build_host_and_guests.
guest_wasm() {
    echo "$PWD/target/guests/wasm32-wasip2/release/$1.wasm"
}

# write_app FILE APP ROUTE COMPONENT WASM: a manifest serving component WASM on ROUTE.
write_app() {
    cat >"$1" <<TOML
manifest_version = 1
[application]
name = "$2"
[[trigger.http]]
route = "$3"
component = "$4"
[component.$4]
source = "$5"
TOML
}
