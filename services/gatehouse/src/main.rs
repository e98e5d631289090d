//! `gatehouse`: every part of the server in one binary, and the CLI that
//! platform teams script against.

mod admin;
mod cli;
mod config;
mod output;
mod serve;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ServeTarget};

/// Exit status of a bad configuration (EX_USAGE), printed before anything binds.
const EXIT_CONFIG: u8 = 64;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("gatehouse: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    let command = cli.command.unwrap_or(Command::Serve { target: ServeTarget::All, options: Box::default() });
    let result = match command {
        Command::Serve { target, options } => match options.validate().and_then(|c| c.for_target(target)) {
            Ok(config) => {
                gatehouse_runtime::telemetry::init(config.log_format);
                serve::run(target, config).await
            }
            Err(error) => return config_error(&error),
        },
        Command::Migrate { options } => match options.validate() {
            Ok(config) => {
                gatehouse_runtime::telemetry::init(config.log_format);
                serve::migrate(&config).await
            }
            Err(error) => return config_error(&error),
        },
        Command::User(command) => admin::user(command).await,
        Command::App(command) => admin::app(command).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gatehouse: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_error(error: &config::ConfigError) -> ExitCode {
    eprintln!("gatehouse: configuration: {error}");
    ExitCode::from(EXIT_CONFIG)
}
