//! `mynasim`: serve virtual My Number cards to PC/SC programs, run scenarios against them,
//! inspect them, send APDUs. This file parses the arguments and dispatches to `cli/`.
//!
//! Exit codes: 0 success, 1 runtime failure (or a failed scenario), 2 bad input (profile,
//! scenario file, arguments).

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mynasim_harness::load::LoadError;
use mynasim_simulator::profile::ProfileError;

#[path = "../cli/mod.rs"]
mod cli;

#[derive(Parser)]
#[command(name = "mynasim", version, about = "A virtual Japanese My Number card for PC/SC, and a conformance harness")]
struct Cli {
    /// Log level or tracing filter (e.g. `info`, `debug`, `mynasim::apdu=debug` for the APDU transcript).
    #[arg(long, global = true, default_value = "info", env = "MYNASIM_LOG")]
    log: String,
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    Serve(cli::serve::Args),
    Ctl(cli::ctl::Args),
    Run(cli::run::Args),
    Inspect(cli::inspect::Args),
    Export(cli::export::Args),
    Bench(cli::bench::Args),
    /// List the PC/SC readers of the pcscd in PCSCLITE_CSOCK_NAME (or the system's), one
    /// line each: `present <reader>` or `empty <reader>`.
    PcscStatus,
    Apdu(cli::apdu::Args),
    /// The PC/SC driver of `bench` (started by `bench` itself).
    #[command(hide = true)]
    BenchDrive(cli::bench::DriveArgs),
    /// The PKCS#11 signing loop of `bench` (started by `bench` itself).
    #[command(hide = true)]
    BenchPkcs11(cli::bench::Pkcs11Args),
    /// Issue-to-first-APDU in a fresh process, for `bench` (started by `bench` itself).
    #[command(hide = true)]
    BenchFirstApdu,
    /// PID 1 of a private sandbox (started by the sandbox itself).
    #[command(hide = true)]
    SandboxInit {
        /// The sandbox folder.
        dir: std::path::PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) => {
            // The reader of our output went away (`| head`): nothing left to say.
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mynasim: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<cli::run::ScenariosFailed>().is_some()) {
                return ExitCode::from(1);
            }
            let bad_input = e.chain().any(|c| {
                c.downcast_ref::<ProfileError>().is_some()
                    || c.downcast_ref::<LoadError>().is_some_and(LoadError::is_bad_input)
                    || c.downcast_ref::<cli::run::BadScenarios>().is_some()
            });
            ExitCode::from(if bad_input { 2 } else { 1 })
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    let transcript = match &cli.command {
        Commands::Serve(args) => args.transcript.as_ref(),
        _ => None,
    };
    if !matches!(
        cli.command,
        Commands::PcscStatus | Commands::SandboxInit { .. } | Commands::BenchDrive(_) | Commands::BenchPkcs11(_) | Commands::BenchFirstApdu
    ) {
        cli::init_logging(&cli.log, transcript)?;
    }
    match cli.command {
        Commands::Serve(args) => cli::serve::run(args, &cli.log),
        Commands::Ctl(args) => cli::ctl::run(args),
        Commands::Run(args) => cli::run::run(args),
        Commands::Inspect(args) => cli::inspect::run(args),
        Commands::Export(args) => cli::export::run(args),
        Commands::Bench(args) => cli::bench::run(args),
        Commands::PcscStatus => cli::pcsc_status::run(),
        Commands::BenchDrive(args) => cli::bench::drive(args),
        Commands::BenchPkcs11(args) => cli::bench::pkcs11(args),
        Commands::BenchFirstApdu => cli::bench::first_apdu(),
        Commands::Apdu(args) => cli::apdu::run(args),
        Commands::SandboxInit { dir } => mynasim_harness::sandbox::init::run(&dir).map_err(anyhow::Error::msg),
    }
}
