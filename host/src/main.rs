//! The `wasmhost` binary: parses the command line, sets up logging to stderr (and OTLP span
//! export, if asked), runs the subcommand, flushes the spans, and prints the whole cause chain
//! of any error before exiting with status 1.

use std::io::IsTerminal;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};
use wasmhost::cli::{Cli, LogFormat};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = cli.log_filter(std::env::var("RUST_LOG").ok());
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
        LogFormat::Json => logs.json().with_current_span(false).boxed(),
    };
    let (spans, provider) = match cli
        .otlp_endpoint
        .as_deref()
        .map(wasmhost::trace::otlp_layer)
    {
        None => (None, None),
        Some(Ok((layer, provider))) => (Some(layer), Some(provider)),
        Some(Err(err)) => return fail(&err),
    };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();

    let result = cli.run();
    if let Some(provider) = provider
        && let Err(err) = provider.shutdown()
    {
        eprintln!("warning: not every span was exported: {err}");
    }
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

/// Prints `err` and its causes (each of several errors, in turn); exit status 1.
fn fail(err: &anyhow::Error) -> std::process::ExitCode {
    let several = err.downcast_ref::<wasmhost::lifecycle::Errors>();
    for err in several.map_or(std::slice::from_ref(err), |errors| &errors.0) {
        eprintln!("error: {err}");
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    }
    std::process::ExitCode::FAILURE
}
