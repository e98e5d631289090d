//! `gatehouse`: every part of the server in one binary, and the CLI that
//! platform teams script against.

mod admin;
mod apply;
mod audit;
mod cli;
mod config;
mod failure;
mod operator;
mod output;
mod reference;
mod rpc;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, OutputFormat, ServeTarget};

/// mimalloc instead of glibc's malloc: a profile of the token endpoint under
/// load spent about 15 % of the CPU in glibc's allocator (small, short-lived
/// buffers of h2, prost and sqlx crossing threads); see tests/bench/README.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status of a bad configuration (EX_USAGE), printed before anything binds.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let output = output_of(&matches);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gatehouse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, output))
}

/// The `--output` of the subcommand that runs (errors are reported in it).
fn output_of(matches: &clap::ArgMatches) -> OutputFormat {
    let mut deepest = matches;
    while let Some((_, sub)) = deepest.subcommand() {
        deepest = sub;
    }
    deepest.try_get_one::<OutputFormat>("output").ok().flatten().copied().unwrap_or(OutputFormat::Table)
}

async fn run(cli: Cli, output: OutputFormat) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve { target: ServeTarget::All, options: Box::default() });
    let result = match command {
        Command::Serve { target, options } => match options.validate().and_then(|c| c.for_target(target)) {
            Ok(config) => {
                let telemetry = match telemetry(&config, target.name()) {
                    Ok(telemetry) => telemetry,
                    Err(error) => return config_error(&error.into()),
                };
                let result = serve::run(target, config).await;
                // Sends the spans still buffered; blocking, so off the workers.
                let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
                result
            }
            Err(error) => return config_error(&error),
        },
        Command::Migrate { options } => match options.validate() {
            Ok(config) => {
                let telemetry = match telemetry(&config, "migrate") {
                    Ok(telemetry) => telemetry,
                    Err(error) => return config_error(&error.into()),
                };
                let result = serve::migrate(&config).await;
                let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
                result
            }
            Err(error) => return config_error(&error),
        },
        Command::User(command) => admin::user(command).await,
        Command::App(command) => admin::app(command).await,
        Command::Pat(command) => admin::pat(command).await,
        Command::Token(command) => admin::token(command).await,
        Command::Session(command) => admin::session(command).await,
        Command::Apply { files, dry_run, prune, client } => apply::apply(&files, dry_run, prune, &client).await,
        Command::Export { owners, client } => apply::export(&owners, &client).await,
        Command::Keys(command) => admin::keys(command).await,
        Command::Resource(command) => admin::resource(command).await,
        Command::Registration(command) => admin::registration(command).await,
        Command::Credential(command) => operator::credential(command).await,
        Command::Audit(command) => audit::audit(command).await,
        Command::Policy => {
            print!("{}", gatehouse_runtime::access::policy::markdown());
            Ok(())
        }
        Command::Reference { what } => {
            print!(
                "{}",
                match what {
                    cli::ReferenceKind::Cli => reference::cli(),
                    cli::ReferenceKind::Config => reference::config(),
                }
            );
            Ok(())
        }
        Command::Completions { shell } => {
            print!("{}", reference::completions(shell));
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => failure::report(&error, output),
    }
}

/// Logging, and trace export when `GATEHOUSE_OTLP_ENDPOINT` is set.
fn telemetry(
    config: &config::ServeConfig,
    part: &str,
) -> Result<gatehouse_runtime::telemetry::Telemetry, config::ConfigError> {
    let otlp = config.otlp_endpoint.as_ref().map(|endpoint| gatehouse_runtime::telemetry::Otlp {
        endpoint: endpoint.clone(),
        service_name: format!("gatehouse-{part}"),
    });
    gatehouse_runtime::telemetry::init(config.log_format, otlp.as_ref())
        .map_err(|e| config::ConfigError { variable: "GATEHOUSE_OTLP_ENDPOINT", problem: e.to_string() })
}

/// Every bad setting, one line each.
fn config_error(errors: &config::ConfigErrors) -> ExitCode {
    for error in &errors.0 {
        eprintln!("gatehouse: configuration: {error}");
    }
    ExitCode::from(EXIT_CONFIG)
}
