//! PID 1 of a sandbox (`mynasim sandbox-init DIR`): starts the card servers and pcscd as
//! its children and watches them, its standard input and nothing else.
//!
//! Being PID 1 of the sandbox's PID namespace is what makes the sandbox hard to orphan:
//! when this process ends, for whatever reason, the kernel kills every process in the
//! namespace. It ends when its standard input closes (the `Sandbox` that started it was
//! dropped, or its process died, even by SIGKILL), and when a child dies: then it first
//! prints `died NAME STATUS` so the parent can say which one and why.
//!
//! Standard input takes one command, `restart-pcscd` (answered `pcscd-restarted`); standard
//! output carries only those event lines; the children's output goes to standard error,
//! which the parent points at a log file or its terminal.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What to start, written by the parent into `DIR/init.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InitPlan {
    /// The `mynasim` binary.
    pub mynasim: PathBuf,
    /// The card servers, in slot order.
    pub cards: Vec<CardPlan>,
}

/// How one slot's card, or consecutive slots' cards, are served.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardPlan {
    /// One `mynasim serve` for `slots` consecutive slots, with these arguments (without
    /// `--vpcd` and `--ready-file`).
    Serve {
        /// Its arguments.
        args: Vec<String>,
        /// How many slots (one card each) it serves.
        slots: usize,
    },
    /// Another program (a peer's virtual card, e.g. vsmartcard's `vicc`): `{port}` in its
    /// arguments becomes the slot's vpcd port. It writes no ready file, so PID 1 writes it
    /// once the program has started; the sandbox then waits for pcscd to show the card.
    Program {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Extra environment.
        env: Vec<(String, String)>,
    },
}

/// The plan's file in the sandbox folder.
pub const PLAN_FILE: &str = "init.json";

/// The ready file of each slot in the sandbox folder, `{slot}` its number: written once
/// the card is connected to vpcd.
pub const READY_FILE: &str = "ready-{slot}";

enum Request {
    RestartPcscd,
    Quit,
}

/// Runs PID 1 until standard input closes or a child dies; the exit code tells which.
pub fn run(dir: &Path) -> Result<(), String> {
    let plan: InitPlan = std::fs::read_to_string(dir.join(PLAN_FILE))
        .map_err(|e| format!("cannot read {}: {e}", dir.join(PLAN_FILE).display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("bad {PLAN_FILE}: {e}")))?;
    let mut children: Vec<(String, Child)> = Vec::new();
    let mut n = 0;
    for card in &plan.cards {
        let ready = dir.join(format!("ready-{n}"));
        let (name, slots) = match card {
            CardPlan::Serve { slots, .. } if *slots > 1 => (format!("the server of cards {n}-{}", n + slots - 1), *slots),
            _ => (format!("card {n}"), 1),
        };
        let child = match card {
            CardPlan::Serve { args, .. } => Command::new(&plan.mynasim)
                .arg("serve")
                .arg("--vpcd")
                .arg(format!("127.0.0.1:{}", super::card_port(n)))
                .arg("--ready-file")
                .arg(dir.join(READY_FILE))
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start the card server: {e}"))?,
            CardPlan::Program { argv, env } => {
                let port = super::card_port(n).to_string();
                let argv: Vec<String> = argv.iter().map(|a| a.replace("{port}", &port)).collect();
                let (program, args) = argv.split_first().ok_or("an external card with no program")?;
                let child = Command::new(program)
                    .args(args)
                    .envs(env.iter().map(|(k, v)| (k, v)))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("cannot start {program}: {e}"))?;
                std::fs::write(&ready, format!("{}\n", child.id())).map_err(|e| format!("cannot write {}: {e}", ready.display()))?;
                child
            }
        };
        children.push((name, child));
        n += slots;
    }
    let mut pcscd = spawn_pcscd(dir)?;
    let (tx, commands) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("restart-pcscd") => {
                    let _ = tx.send(Request::RestartPcscd);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(Request::Quit);
    });
    loop {
        match commands.recv_timeout(Duration::from_millis(20)) {
            Ok(Request::Quit) => return Ok(()),
            Ok(Request::RestartPcscd) => {
                super::pcscd::stop(&mut pcscd);
                pcscd = spawn_pcscd(dir)?;
                event("pcscd-restarted");
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
        if let Ok(Some(status)) = pcscd.try_wait() {
            event(&format!("died pcscd {}", describe(status)));
            return Err("pcscd died".into());
        }
        for (name, child) in &mut children {
            if let Ok(Some(status)) = child.try_wait() {
                event(&format!("died {name} {}", describe(status)));
                return Err(format!("{name} died"));
            }
        }
    }
}

/// pcscd on the sandbox's reader configuration, its errors to the sandbox's log.
fn spawn_pcscd(dir: &Path) -> Result<Child, String> {
    super::pcscd::spawn(&dir.join("reader.conf.d"), Stdio::null(), Stdio::inherit())
}

fn event(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// `exit code 1`, `killed by signal 9 (SIGKILL)`.
pub fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("with exit code {code}"),
        (None, Some(signal)) => {
            let name = nix::sys::signal::Signal::try_from(signal).map(|s| s.as_str()).unwrap_or("?");
            format!("killed by signal {signal} ({name})")
        }
        (None, None) => "for an unknown reason".to_owned(),
    }
}
