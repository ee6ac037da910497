//! Every shipped scenario (`scenarios/**/*.yaml`, profiles aside) as one test, so that
//! `cargo nextest run` lists, filters, retries, reports and shards them
//! (`--partition count:K/N`). Each test runs `mynasim run FILE`: the scenario in its own
//! private pcscd, exactly as users run it. `MYNASIM_SCENARIOS=DIR` runs the scenarios of
//! another folder (your own suite) the same way.

use std::path::{Path, PathBuf};
use std::process::Command;

use libtest_mimic::{Arguments, Failed, Trial};

fn scenarios_dir() -> PathBuf {
    match std::env::var_os("MYNASIM_SCENARIOS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios"),
    }
}

/// `lockouts/auth-pin-three-wrong` for `scenarios/lockouts/auth-pin-three-wrong.yaml`.
fn test_name(file: &Path) -> String {
    let relative = file.strip_prefix(scenarios_dir()).unwrap_or(file);
    relative.with_extension("").display().to_string()
}

fn run_scenario(file: &Path) -> Result<(), Failed> {
    let output = Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .arg("run")
        .arg(file)
        .output()
        .map_err(|e| Failed::from(format!("cannot run mynasim: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Failed::from(format!(
        "mynasim run {} exited with {}\n{}{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

fn main() {
    let args = Arguments::from_args();
    let files = match mynasim_harness::scenario::discover(&[scenarios_dir()]) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let trials = files
        .into_iter()
        .map(|file| {
            let name = test_name(&file);
            Trial::test(name, move || run_scenario(&file))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
