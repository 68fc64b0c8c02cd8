//! `wasmhost serve [PATH]`: the flags of serving an app; [`crate::lifecycle::serve()`] loads,
//! serves, reloads and drains it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use super::LogFormat;
use crate::admin::AdminToken;
use crate::lifecycle::{self, LoadOptions, Seed, ServeOptions};
use crate::limits::Limits;
use crate::runtime_config::DEFAULT_KEY_VALUE_STORE;
use crate::tls::TlsFiles;

/// Serve an app.
#[derive(Debug, clap::Args)]
pub struct ServeCommand {
    /// The manifest, or a directory holding `wasmhost.toml`.
    #[arg(default_value = ".", env = "WASMHOST_APP")]
    pub path: PathBuf,

    /// Address of the public HTTP listener, `HOST:PORT`: an IP address or a host name
    /// (`localhost:3000`, resolved once at start; the first address it resolves to is used).
    /// Port 0 picks a free port; the bound address is printed as `Serving http://ADDR`
    /// (`https://` with `--tls-cert`).
    #[arg(long, default_value = "127.0.0.1:3000", env = "WASMHOST_LISTEN", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// Address of the admin listener (health, readiness, Prometheus metrics, and with the
    /// admin token the topic ingress and the queue and cron endpoints), `HOST:PORT` as
    /// `--listen`. Off unless given; keep it on loopback or a private network.
    #[arg(long, env = "WASMHOST_ADMIN_LISTEN", value_parser = parse_listen)]
    pub admin_listen: Option<SocketAddr>,

    /// No access log: without it, each request on the public listener gets one line in the
    /// text log (`GET /path 200 3.1ms component=hello`). The JSON log never has these lines.
    #[arg(long, env = "WASMHOST_NO_ACCESS_LOG")]
    pub no_access_log: bool,

    /// TLS on the listeners (boxed: the other subcommands need not carry its four paths).
    #[command(flatten)]
    pub tls: Box<TlsArgs>,

    /// A file holding the bearer token the admin write endpoints (topic ingress, queues, cron)
    /// require
    /// (`Authorization: Bearer <token>`). Without it, `WASMHOST_ADMIN_TOKEN` holds the token;
    /// without either, the write endpoints answer 403. Health, readiness and metrics need none.
    #[arg(long, env = "WASMHOST_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// Directory of the compile cache. Default: `.wasmhost/cache` next to the manifest.
    #[arg(long, env = "WASMHOST_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Run `wasmhost build` on the app before serving it (and before each reload).
    #[arg(long)]
    pub build: bool,

    /// Watch the manifest's directory: on a change (debounced), rebuild and reload the app.
    /// In-flight requests finish on the old version, new ones go to the new one; a failed
    /// build or a bad manifest keeps the old version serving. SIGHUP does the same without
    /// `--watch` (rebuilding only with `--build`).
    #[arg(long)]
    pub watch: bool,

    /// The runtime config: where each key-value store lives (sled or Redis). Without one,
    /// every store is a sled tree under `.wasmhost/kv` next to the manifest.
    #[arg(long, env = "WASMHOST_RUNTIME_CONFIG")]
    pub runtime_config: Option<PathBuf>,

    /// Set a key before serving, for development: `STORE:KEY=VALUE`, or `KEY=VALUE` for the
    /// `default` store. Repeatable.
    #[arg(long = "key-value", value_name = "STORE:KEY=VALUE", value_parser = parse_seed)]
    pub key_value: Vec<Seed>,

    /// The host's limits.
    #[command(flatten)]
    pub limits: LimitArgs,

    /// Set an application variable declared in `[variables]`: `NAME=VALUE`. Repeatable. Wins
    /// over the environment variable `WASMHOST_VAR_<NAME>`, which wins over the default.
    /// Checked after parsing, so that no error message ever shows the value.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
}

/// The host's limits, as flags: `serve` runs with them and `check` checks the app against
/// them (a component's `[component.<id>.limits]` may only be lower than the host's).
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Linear memory per instance, in MiB: `memory.grow` past it fails. A component's
    /// `[component.<id>.limits] memory_mb` may only be lower.
    #[arg(long, default_value_t = 128, env = "WASMHOST_MAX_MEMORY_MB", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_memory_mb: u64,

    /// CPU time one invocation may run, in ms (counted in 10 ms epoch ticks): past it the guest
    /// is interrupted and the request answers 504. A component's `cpu_ms` overrides it.
    #[arg(long, default_value_t = 1000, env = "WASMHOST_CPU_LIMIT_MS", value_parser = clap::value_parser!(u64).range(10..))]
    pub cpu_limit_ms: u64,

    /// Wall-clock time one invocation may take, in ms, body streaming and outbound calls
    /// included: past it the instance is dropped and the request answers 504 (a body already
    /// under way is cut). A component's `timeout_ms` overrides it.
    #[arg(long, default_value_t = 30_000, env = "WASMHOST_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_ms: u64,

    /// Requests one component may handle at once; past it, 503 with `Retry-After: 1` at once.
    /// A component's `max_concurrent_requests` overrides it.
    #[arg(long, default_value_t = 100, env = "WASMHOST_MAX_CONCURRENT_REQUESTS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_requests: u32,

    /// Component instances alive at once in the whole process (the pooling allocator's total).
    #[arg(long, default_value_t = 1000, env = "WASMHOST_MAX_INSTANCES", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,

    /// The largest request body, in bytes; a larger one answers 413.
    #[arg(long, default_value_t = 10 << 20, env = "WASMHOST_MAX_BODY_BYTES")]
    pub max_body_bytes: u64,

    /// Header fields one HTTP/1.1 request may have; more answers 431.
    #[arg(long, default_value_t = 100, env = "WASMHOST_MAX_HEADERS")]
    pub max_headers: usize,

    /// The largest request head, in bytes (at least 8192 for HTTP/1.1); larger answers 431.
    #[arg(long, default_value_t = 64 << 10, env = "WASMHOST_MAX_HEADER_BYTES")]
    pub max_header_bytes: usize,

    /// How long a client may take to send a request head, in ms; then it gets 408 and the
    /// connection is closed (slowloris).
    #[arg(long, default_value_t = 10_000, env = "WASMHOST_HEADER_READ_TIMEOUT_MS", value_parser = clap::value_parser!(u64).range(1..))]
    pub header_read_timeout_ms: u64,

    /// On SIGTERM or SIGINT, how long to let requests and handler calls in flight finish, in
    /// ms; then they are dropped (queue messages stay unacknowledged and come again).
    #[arg(long, default_value_t = 10_000, env = "WASMHOST_DRAIN_TIMEOUT_MS")]
    pub drain_timeout_ms: u64,

    /// Connections each listener keeps open at once; one more is closed at once and counted
    /// (`wasmhost_connections_refused_total`). Keep the open-file limit (`ulimit -n`) above it.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..), env = "WASMHOST_MAX_CONNECTIONS")]
    pub max_connections: u32,

    /// How long a connection (HTTP/1.1 keep-alive or HTTP/2) may go without a new request
    /// before it is closed gracefully, after its responses in flight.
    #[arg(long, default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(1..), env = "WASMHOST_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: u64,
}

impl LimitArgs {
    /// The host's limits, from the flags.
    pub fn limits(&self) -> Limits {
        Limits {
            max_instances: self.max_instances,
            memory_bytes: usize::try_from(self.max_memory_mb << 20).unwrap_or(usize::MAX),
            cpu: Duration::from_millis(self.cpu_limit_ms),
            timeout: Duration::from_millis(self.timeout_ms),
            max_concurrent_requests: self.max_concurrent_requests,
            max_body_bytes: self.max_body_bytes,
            max_headers: self.max_headers,
            max_header_bytes: self.max_header_bytes,
            header_read_timeout: Duration::from_millis(self.header_read_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            max_connections: self.max_connections as usize,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
        }
    }
}

/// The TLS flags of `serve`: a PEM certificate chain and key per listener, both or neither.
#[derive(Debug, clap::Args)]
pub struct TlsArgs {
    /// PEM file of the public listener's TLS certificate chain, leaf first. With `--tls-key`
    /// the listener serves HTTPS only (HTTP/2 and HTTP/1.1, chosen by ALPN) and prints
    /// `Serving https://ADDR`. SIGHUP reads both files again: new connections get the new
    /// certificate; a bad file keeps the old one (and is logged).
    #[arg(
        long,
        value_name = "FILE",
        env = "WASMHOST_TLS_CERT",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM file of the private key of `--tls-cert` (PKCS #8, PKCS #1 or SEC 1).
    #[arg(
        long,
        value_name = "FILE",
        env = "WASMHOST_TLS_KEY",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,

    /// PEM file of the admin listener's TLS certificate chain, as `--tls-cert` is for the
    /// public one; with `--admin-tls-key`.
    #[arg(
        long,
        value_name = "FILE",
        env = "WASMHOST_ADMIN_TLS_CERT",
        requires_all = ["admin_tls_key", "admin_listen"]
    )]
    pub admin_tls_cert: Option<PathBuf>,

    /// PEM file of the private key of `--admin-tls-cert`.
    #[arg(
        long,
        value_name = "FILE",
        env = "WASMHOST_ADMIN_TLS_KEY",
        requires = "admin_tls_cert"
    )]
    pub admin_tls_key: Option<PathBuf>,
}

impl TlsArgs {
    /// The public listener's files and the admin listener's.
    fn files(self) -> (Option<TlsFiles>, Option<TlsFiles>) {
        // clap requires both files of a pair or neither.
        let pair =
            |cert: Option<PathBuf>, key| cert.zip(key).map(|(cert, key)| TlsFiles { cert, key });
        (
            pair(self.tls_cert, self.tls_key),
            pair(self.admin_tls_cert, self.admin_tls_key),
        )
    }
}

/// Every `--var NAME=VALUE` of `args`, split.
///
/// # Errors
/// One that is not `NAME=VALUE` with a valid name; the error names the variable, never the
/// value.
pub(super) fn parse_vars(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|arg| parse_var(arg).map(|(name, value)| (name.to_owned(), value.to_owned())))
        .collect()
}

/// Splits `NAME=VALUE` for `--var`. The error names the variable, never the value.
fn parse_var(arg: &str) -> Result<(&str, &str)> {
    let Some((name, value)) = arg.split_once('=') else {
        anyhow::bail!("--var expects NAME=VALUE");
    };
    if !crate::variables::is_variable_name(name) {
        anyhow::bail!(
            "--var: `{name}` is not a variable name (a lowercase letter, then lowercase letters, digits or `_`)"
        );
    }
    Ok((name, value))
}

/// Parses `HOST:PORT` for `--listen` and `--admin-listen`: an IP address and port, or a host
/// name and port, resolved now (the first address it resolves to).
fn parse_listen(arg: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = arg.parse() {
        return Ok(addr);
    }
    let shape = "expected HOST:PORT, such as `127.0.0.1:3000`, `localhost:3000` or `[::1]:3000`";
    if arg
        .rsplit_once(':')
        .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
    {
        return Err(shape.to_owned());
    }
    let mut addrs = std::net::ToSocketAddrs::to_socket_addrs(arg)
        .map_err(|err| format!("cannot resolve `{arg}`: {err}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("`{arg}` resolves to no address"))
}

/// Parses `STORE:KEY=VALUE` or `KEY=VALUE` (store `default`). The key is what lies between the
/// first `:` and the first `=`; a key holding `:` needs the `STORE:` form.
fn parse_seed(arg: &str) -> Result<Seed, String> {
    let (target, value) = arg
        .split_once('=')
        .ok_or("expected STORE:KEY=VALUE or KEY=VALUE")?;
    let (store, key) = target
        .split_once(':')
        .unwrap_or((DEFAULT_KEY_VALUE_STORE, target));
    if key.is_empty() {
        return Err("the key is empty".to_owned());
    }
    if !crate::app::is_label(store) {
        return Err(format!(
            "`{store}` is not a store label (1 to 64 ASCII letters, digits, `-` or `_`)"
        ));
    }
    Ok(Seed {
        store: store.to_owned(),
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

impl ServeCommand {
    /// Loads, optionally builds, and serves the app until SIGINT or SIGTERM, then drains what
    /// is in flight for up to `--drain-timeout-ms`.
    ///
    /// Logs in `log_format`: the access log is only ever in the text format.
    ///
    /// # Errors
    /// A `--var` that is not `NAME=VALUE`, and whatever [`lifecycle::serve()`] reports.
    pub fn run(self, log_format: LogFormat) -> Result<()> {
        let vars = parse_vars(&self.vars)?;
        let load = LoadOptions {
            limits: self.limits.limits(),
            path: self.path,
            runtime_config: self.runtime_config,
            cache_dir: self.cache_dir,
            build: self.build,
            watch: self.watch,
            vars,
            seeds: self.key_value,
        };
        let (tls, admin_tls) = self.tls.files();
        lifecycle::serve(ServeOptions {
            load,
            listen: self.listen,
            tls,
            admin_listen: self.admin_listen,
            admin_tls,
            admin_token: AdminToken::resolve(self.admin_token_file.as_deref())?,
            access_log: log_format == LogFormat::Text && !self.no_access_log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_listen, parse_seed};

    #[test]
    fn listen_takes_an_ip_address_or_a_host_name() {
        assert_eq!(
            parse_listen("127.0.0.1:0").unwrap(),
            "127.0.0.1:0".parse().unwrap()
        );
        assert_eq!(
            parse_listen("[::1]:80").unwrap(),
            "[::1]:80".parse().unwrap()
        );
        assert!(parse_listen("localhost:3000").unwrap().ip().is_loopback());
        insta::assert_snapshot!(parse_listen("localhost").unwrap_err());
        insta::assert_snapshot!(
            "listen_bad_port",
            parse_listen("localhost:http").unwrap_err()
        );
    }

    #[test]
    fn seeds_name_a_store_or_default() {
        let seed = parse_seed("sessions:user:1=a=b").unwrap();
        assert_eq!(
            (seed.store.as_str(), seed.key.as_str(), seed.value.as_str()),
            ("sessions", "user:1", "a=b")
        );
        let seed = parse_seed("greeting=hello").unwrap();
        assert_eq!(
            (seed.store.as_str(), seed.key.as_str(), seed.value.as_str()),
            ("default", "greeting", "hello")
        );
        assert_eq!(parse_seed("empty=").unwrap().value, "");
        assert!(parse_seed("no-equals").is_err());
        assert!(parse_seed("default:=x").is_err());
        assert!(
            parse_seed("bad store:k=v")
                .unwrap_err()
                .contains("not a store label")
        );
    }
}
