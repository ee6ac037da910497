//! The PC/SC driver: a child process (`mynasim bench-drive`) that talks to one sandbox's
//! pcscd. pcsc-lite binds a process to the first pcscd socket it uses, so measuring
//! several sandboxes at once takes one driver per sandbox; the parent starts them all,
//! waits until each says `ready` (cards connected and prepared), then writes `go` to
//! each, so they all measure over the same seconds.
//!
//! Two modes. Concurrent (`seconds`): one thread and one PC/SC context per reader, each
//! looping its operation; the throughput of the readers together. Alternating (`rounds`):
//! one thread sends to each reader in turn, so the readers' latencies are measured side
//! by side (reader i only every `every[i]` rounds, for a slow peer).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mynasim_simulator::command::SignMode;
use serde::{Deserialize, Serialize};

use super::{sign_apdu, verify_auth_apdu, READ_TOKEN, SELECT_JPKI, SELECT_TOKEN};

/// What a reader's loop sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// SELECT JPKI and EF 0006 once, then READ BINARY of 32 bytes (answer checked).
    Read,
    /// SELECT JPKI and VERIFY the auth PIN (1234) once, then `80 2A 00 97` (answer checked).
    Sign,
    /// The READ BINARY APDU, any answer accepted (the trivial card, a peer's card).
    Any,
}

impl Op {
    /// The APDUs that prepare the card, each answered `90 00`.
    fn preparation(self) -> Vec<Vec<u8>> {
        match self {
            Op::Read => vec![SELECT_JPKI.to_vec(), SELECT_TOKEN.to_vec()],
            Op::Sign => vec![SELECT_JPKI.to_vec(), verify_auth_apdu(b"1234")],
            Op::Any => vec![],
        }
    }

    /// The APDU measured, and the answer length it must have (`None`: any).
    fn measured(self) -> (Vec<u8>, Option<usize>) {
        match self {
            Op::Read => (READ_TOKEN.to_vec(), Some(34)),
            Op::Sign => (sign_apdu(SignMode::Pkcs1Raw), Some(258)),
            Op::Any => (READ_TOKEN.to_vec(), None),
        }
    }
}

/// What one reader did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReaderResult {
    /// The reader's name.
    pub reader: String,
    /// APDUs answered.
    pub count: u64,
    /// Seconds the loop ran.
    pub seconds: f64,
    /// Each round trip in milliseconds.
    pub samples_ms: Vec<f64>,
}

impl ReaderResult {
    /// APDUs per second.
    pub fn rate(&self) -> f64 {
        self.count as f64 / self.seconds.max(f64::MIN_POSITIVE)
    }
}

/// A driver's report, one JSON line on its standard output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DriveResult {
    /// Per reader, in the order asked.
    pub readers: Vec<ReaderResult>,
}

/// How the driver runs.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Every reader in its own thread for this long.
    Concurrent(Duration),
    /// One thread, this many rounds; reader i sends in rounds that are multiples of `every[i]`.
    Alternate {
        /// Rounds.
        rounds: usize,
        /// Per reader (missing = 1).
        every: Vec<usize>,
    },
}

struct Connected {
    name: String,
    card: pcsc::Card,
    apdu: Vec<u8>,
    expect: Option<usize>,
}

fn connect(ctx: &pcsc::Context, reader: &std::ffi::CStr, op: Op) -> Result<Connected> {
    let card =
        ctx.connect(reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY).with_context(|| format!("cannot connect to {reader:?}"))?;
    let mut buf = [0u8; 300];
    for apdu in op.preparation() {
        let answer = card.transmit(&apdu, &mut buf)?;
        if answer != [0x90, 0x00] {
            bail!("{reader:?} refused {apdu:02X?}: {answer:02X?}");
        }
    }
    let (apdu, expect) = op.measured();
    Ok(Connected { name: reader.to_string_lossy().into_owned(), card, apdu, expect })
}

impl Connected {
    fn once(&self, buf: &mut [u8]) -> Result<()> {
        let answer = self.card.transmit(&self.apdu, buf).with_context(|| format!("transmit to {}", self.name))?;
        if self.expect.is_some_and(|n| answer.len() != n) {
            bail!("{} answered {answer:02X?}", self.name);
        }
        Ok(())
    }
}

fn readers(ctx: &pcsc::Context, count: usize) -> Result<Vec<std::ffi::CString>> {
    let mut names = [0u8; 4096];
    let readers: Vec<std::ffi::CString> = ctx.list_readers(&mut names)?.map(|r| r.to_owned()).collect();
    if readers.len() < count {
        bail!("expected {count} readers, found {readers:?}");
    }
    Ok(readers.into_iter().take(count).collect())
}

/// Runs the driver: `ops[i]` on reader i of the pcscd in `PCSCLITE_CSOCK_NAME`. Prints
/// `ready` once prepared, waits for a line on `input`, measures, prints the result as JSON.
pub fn run(ops: &[Op], mode: &Mode, input: &mut dyn BufRead, output: &mut dyn Write) -> Result<()> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).context("cannot reach pcscd")?;
    let names = readers(&ctx, ops.len())?;
    let result = match mode {
        Mode::Alternate { rounds, every } => {
            let cards: Vec<Connected> = names.iter().zip(ops).map(|(r, op)| connect(&ctx, r, *op)).collect::<Result<_>>()?;
            go(input, output)?;
            let mut results: Vec<ReaderResult> =
                cards.iter().map(|c| ReaderResult { reader: c.name.clone(), ..ReaderResult::default() }).collect();
            let mut buf = [0u8; 300];
            for round in 0..*rounds {
                for (i, card) in cards.iter().enumerate() {
                    if round % every.get(i).copied().unwrap_or(1).max(1) != 0 {
                        continue;
                    }
                    let start = Instant::now();
                    card.once(&mut buf)?;
                    let took = start.elapsed();
                    let r = &mut results[i];
                    r.count += 1;
                    r.seconds += took.as_secs_f64();
                    r.samples_ms.push(took.as_secs_f64() * 1e3);
                }
            }
            DriveResult { readers: results }
        }
        Mode::Concurrent(duration) => {
            // One context per thread: pcsc-lite serialises calls within a context.
            let mut prepared = Vec::new();
            for (name, op) in names.iter().zip(ops) {
                let ctx = pcsc::Context::establish(pcsc::Scope::User).context("cannot reach pcscd")?;
                let card = connect(&ctx, name, *op)?;
                prepared.push((ctx, card));
            }
            go(input, output)?;
            let results: Vec<Result<ReaderResult>> = std::thread::scope(|scope| {
                let handles: Vec<_> = prepared
                    .iter()
                    .map(|(_ctx, card)| {
                        scope.spawn(move || -> Result<ReaderResult> {
                            let mut buf = [0u8; 300];
                            let start = Instant::now();
                            let mut samples_ms = Vec::new();
                            while start.elapsed() < *duration {
                                let one = Instant::now();
                                card.once(&mut buf)?;
                                samples_ms.push(one.elapsed().as_secs_f64() * 1e3);
                            }
                            Ok(ReaderResult {
                                reader: card.name.clone(),
                                count: samples_ms.len() as u64,
                                seconds: start.elapsed().as_secs_f64(),
                                samples_ms,
                            })
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| bail!("a driver thread panicked"))).collect()
            });
            DriveResult { readers: results.into_iter().collect::<Result<_>>()? }
        }
    };
    writeln!(output, "{}", serde_json::to_string(&result)?)?;
    output.flush()?;
    Ok(())
}

fn go(input: &mut dyn BufRead, output: &mut dyn Write) -> Result<()> {
    writeln!(output, "ready")?;
    output.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    Ok(())
}

/// A driver child process, started and waiting for `go`.
pub struct Driver {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
}

impl Driver {
    /// Starts `mynasim bench-drive` on the pcscd at `socket` and waits for its `ready`.
    pub fn start(mynasim: &std::path::Path, socket: &std::path::Path, ops: &[Op], mode: &Mode) -> Result<Driver> {
        let mut command = std::process::Command::new(mynasim);
        command.arg("bench-drive").env("PCSCLITE_CSOCK_NAME", socket);
        for op in ops {
            command.arg("--op").arg(clap::ValueEnum::to_possible_value(op).map(|v| v.get_name().to_owned()).unwrap_or_default());
        }
        match mode {
            Mode::Concurrent(d) => command.arg("--seconds").arg(d.as_secs_f64().to_string()),
            Mode::Alternate { rounds, every } => {
                command.arg("--rounds").arg(rounds.to_string());
                for e in every {
                    command.arg("--every").arg(e.to_string());
                }
                &mut command
            }
        };
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .context("cannot start mynasim bench-drive")?;
        let stdout = std::io::BufReader::new(child.stdout.take().context("no driver output")?);
        let mut driver = Driver { child, stdout };
        let line = driver.line()?;
        if line.trim() != "ready" {
            bail!("the driver said {line:?} instead of ready");
        }
        Ok(driver)
    }

    fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            let status = self.child.wait()?;
            bail!("the driver ended ({status}) without a result");
        }
        Ok(line)
    }

    /// Tells it to start.
    pub fn go(&mut self) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("driver input closed")?;
        stdin.write_all(b"go\n")?;
        stdin.flush()?;
        Ok(())
    }

    /// Waits for its result.
    pub fn finish(mut self) -> Result<DriveResult> {
        let line = self.line()?;
        let _ = self.child.wait();
        serde_json::from_str(&line).with_context(|| format!("bad driver output {line:?}"))
    }
}

/// Runs drivers on several sandboxes at once: each gets its ops, all start together.
pub fn together(mynasim: &std::path::Path, jobs: &[(&std::path::Path, Vec<Op>)], mode: &Mode) -> Result<Vec<DriveResult>> {
    let mut drivers: Vec<Driver> = jobs.iter().map(|(socket, ops)| Driver::start(mynasim, socket, ops, mode)).collect::<Result<_>>()?;
    for d in &mut drivers {
        d.go()?;
    }
    drivers.into_iter().map(Driver::finish).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_results_round_trip_through_json() {
        let r = DriveResult {
            readers: vec![ReaderResult { reader: "Virtual PCD 00 00".into(), count: 10, seconds: 2.0, samples_ms: vec![0.1] }],
        };
        let back: DriveResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.readers[0].rate(), 5.0);
    }

    #[test]
    fn checked_ops_prepare_the_card_and_any_sends_straight_away() {
        assert_eq!(Op::Read.preparation().len(), 2);
        assert_eq!(Op::Sign.measured().1, Some(258));
        assert!(Op::Any.preparation().is_empty());
        assert_eq!(Op::Any.measured().1, None);
    }
}
