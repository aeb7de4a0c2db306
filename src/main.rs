//! `sheetmesh`: parses arguments and dispatches to a component's `serve`.
//! Everything else lives in the component crates.

mod cli;
mod run;

use std::process::ExitCode;

use clap::{Parser, error::ErrorKind};
use sheetmesh_common::config::Env;

use cli::{Cli, Command};

/// See the `mimalloc` note in Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ExitCode::SUCCESS,
                // grpc_health_probe exits 1 on bad arguments; 2 means "cannot connect" there.
                _ if std::env::args().nth(1).as_deref() == Some("health-probe") => ExitCode::from(1),
                _ => ExitCode::from(2),
            };
        }
    };
    let env = Env::from_process();
    let runtime = match run::runtime(&env) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("sheetmesh: {error}");
            return ExitCode::from(2);
        }
    };
    let command = cli.command.unwrap_or(Command::Up);
    runtime.block_on(run::command(command, env))
}
