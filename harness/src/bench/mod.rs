//! The bench command's measurements: the in-process APDU and signing paths against their
//! ceilings, and the READ BINARY round trip through pcscd against a trivial card, each pair
//! measured side by side in one run (this machine is shared and noisy: compare ratios).
//! The criterion benchmarks in `benches/` measure the in-process paths in more depth.
//! Like the checks, these report to a person: errors are messages (`anyhow`).
//!
//! [`measure`] runs every family below into one [`report::Report`]: one file per family
//! ([`scaling`] in process, [`drive`] through pcscd, [`peers`], [`limits`], [`startup`],
//! [`timing`]), the JSON shape and verdicts in [`report`], the SVG charts in [`charts`].

pub mod charts;
pub mod drive;
pub mod limits;
pub mod peers;
pub mod report;
pub mod run;
pub mod scaling;
pub mod startup;
pub mod timing;

pub use run::{measure, BenchOptions};

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mynasim_simulator::command::SignMode;
use mynasim_simulator::Card;

use crate::sandbox::{CardSource, Sandbox, SandboxOptions};

/// SELECT JPKI AP.
pub const SELECT_JPKI: [u8; 15] = [0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// SELECT EF 0006 (token information).
pub const SELECT_TOKEN: [u8; 7] = [0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x06];
/// READ BINARY of the 32-byte token label.
pub const READ_TOKEN: [u8; 5] = [0x00, 0xB0, 0x00, 0x00, 0x20];

/// Median, 90th and 99th percentile and maximum of samples (nearest rank).
#[derive(Clone, Copy, Debug)]
pub struct Percentiles {
    /// Median.
    pub median: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The largest sample.
    pub max: Duration,
}

impl Percentiles {
    /// From unsorted samples (at least one).
    pub fn of(samples: &mut [Duration]) -> Percentiles {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Percentiles { median: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1.0) }
    }
}

/// Nanoseconds per APDU of SELECT EF + READ BINARY in process.
pub fn apdu_ns(card: &mut Card, rounds: u32) -> f64 {
    let mut response = Vec::with_capacity(300);
    card.process(&SELECT_JPKI, &mut response);
    let start = Instant::now();
    for _ in 0..rounds {
        card.process(&SELECT_TOKEN, &mut response);
        card.process(&READ_TOKEN, &mut response);
    }
    start.elapsed().as_nanos() as f64 / f64::from(rounds * 2)
}

/// Signing rates measured side by side: OpenSSL's own RSA-2048 PKCS#1 signing over the same
/// DigestInfo (the ceiling) and each COMPUTE DIGITAL SIGNATURE P1, in interleaved slices so
/// that the machine's noise falls on all of them alike.
pub struct SigningRates {
    /// OpenSSL in this process, signs per second.
    pub ceiling: f64,
    /// Each P1 mode with the auth key, signs per second.
    pub modes: Vec<(SignMode, f64)>,
}

#[derive(Default)]
struct Tally {
    count: u32,
    elapsed: Duration,
}

impl Tally {
    fn run(&mut self, slice: Duration, mut operation: impl FnMut() -> Result<()>) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < slice {
            operation()?;
            self.count += 1;
        }
        self.elapsed += start.elapsed();
        Ok(())
    }

    fn rate(&self) -> f64 {
        f64::from(self.count) / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// The SHA-256 DigestInfo every benchmark signs with P1 = 00 (51 bytes).
pub fn digest_info() -> Vec<u8> {
    let mut d = mynasim_simulator::pki::SHA256_DIGEST_INFO_PREFIX.to_vec();
    d.extend_from_slice(&[0x42; 32]);
    d
}

/// The `80 2A P1 97` APDU (auth key by SFI) for a mode, with data of the right shape.
pub fn sign_apdu(mode: SignMode) -> Vec<u8> {
    let data: Vec<u8> = match mode {
        SignMode::Pkcs1Raw => digest_info(),
        SignMode::Pkcs1PrehashedSha256 | SignMode::PssPrehashedSha256 => vec![0x42; 32],
        _ => b"message to sign".to_vec(),
    };
    let mut apdu = vec![0x80, 0x2A, mode.p1(), 0x97, data.len() as u8];
    apdu.extend_from_slice(&data);
    apdu.push(0);
    apdu
}

/// VERIFY of the auth PIN by SFI (`00 20 00 98`).
pub fn verify_auth_apdu(pin: &[u8]) -> Vec<u8> {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x98, pin.len() as u8];
    apdu.extend_from_slice(pin);
    apdu
}

/// Measures [`SigningRates`] over about `duration` per contender (card ready for signing).
pub fn signing_side_by_side(card: &mut Card, duration: Duration) -> Result<SigningRates> {
    const SLICES: u32 = 10;
    let slice = duration / SLICES;
    let rsa = openssl::rsa::Rsa::generate(2048)?;
    let digest_info = digest_info();
    let mut signature = vec![0u8; 256];
    let apdus: Vec<(SignMode, Vec<u8>)> = SignMode::ALL.iter().map(|m| (*m, sign_apdu(*m))).collect();
    let mut ceiling = Tally::default();
    let mut modes: Vec<Tally> = apdus.iter().map(|_| Tally::default()).collect();
    let mut response = Vec::with_capacity(300);
    for _ in 0..SLICES {
        ceiling.run(slice, || {
            rsa.private_encrypt(&digest_info, &mut signature, openssl::rsa::Padding::PKCS1)?;
            Ok(())
        })?;
        for ((mode, apdu), tally) in apdus.iter().zip(modes.iter_mut()) {
            tally.run(slice, || {
                card.process(apdu, &mut response);
                if response.len() != 258 {
                    bail!("signing with P1 {:02X} failed: {:02X?}", mode.p1(), &response[response.len().saturating_sub(2)..]);
                }
                Ok(())
            })?;
        }
    }
    Ok(SigningRates { ceiling: ceiling.rate(), modes: apdus.iter().zip(&modes).map(|((m, _), t)| (*m, t.rate())).collect() })
}

/// `openssl speed -seconds N rsa2048`'s sign/s (runs the OpenSSL command; N whole seconds).
pub fn openssl_speed_signs_per_second(seconds: u32) -> Result<f64> {
    let output = std::process::Command::new("openssl")
        .args(["speed", "-seconds", &seconds.max(1).to_string(), "rsa2048"])
        .output()
        .context("cannot run `openssl speed` (install openssl)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    // "rsa 2048 bits 0.000695s 0.000020s   1438.0  50612.0": sign/s is the 5th number column.
    text.lines()
        .find(|l| l.starts_with("rsa 2048 bits"))
        .and_then(|l| l.split_whitespace().nth(5))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("cannot read `openssl speed` output:\n{text}"))
}

/// Prepares a card for signing: JPKI selected, auth PIN verified.
pub fn prepare_for_signing(card: &mut Card, auth_pin: &[u8]) -> Result<()> {
    for apdu in [&SELECT_JPKI[..], &verify_auth_apdu(auth_pin)] {
        let response = card.transmit(apdu);
        if response != [0x90, 0x00] {
            bail!("preparing the card failed: {response:02X?}");
        }
    }
    Ok(())
}

/// Round trips through a private pcscd: READ BINARY on the card and on a null card,
/// alternating, then COMPUTE DIGITAL SIGNATURE on the card.
pub struct PcscResult {
    /// READ BINARY on the mynasim card.
    pub card: Percentiles,
    /// The same APDU to the trivial `90 00` card.
    pub null: Percentiles,
    /// `80 2A 00 97` (a SHA-256 DigestInfo, auth key) on the mynasim card.
    pub sign: Percentiles,
}

/// Measures `rounds` READ BINARY round trips per card through a fresh private pcscd.
/// `socket_fix` false serves both cards without TCP_NODELAY/TCP_QUICKACK.
pub fn through_pcscd(mynasim: &std::path::Path, rounds: usize, socket_fix: bool) -> Result<PcscResult> {
    let mut options = SandboxOptions::new(mynasim);
    options.cards = vec![CardSource::Profile(None), CardSource::Null];
    if !socket_fix {
        options.serve_args.push("--no-socket-fix".into());
    }
    let sandbox = Sandbox::start(&options)?;
    // pcsc-lite reads the socket name once per process: this process measures one sandbox.
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    let ctx = pcsc::Context::establish(pcsc::Scope::User).context("cannot reach the sandbox's pcscd")?;
    let mut names = [0u8; 2048];
    let readers: Vec<std::ffi::CString> = ctx.list_readers(&mut names)?.map(|r| r.to_owned()).collect();
    if readers.len() < 2 {
        bail!("expected two readers, found {readers:?}");
    }
    let card = ctx.connect(&readers[0], pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    let null = ctx.connect(&readers[1], pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    let mut buf = [0u8; 300];
    for apdu in [&SELECT_JPKI[..], &SELECT_TOKEN[..]] {
        let response = card.transmit(apdu, &mut buf)?;
        if response != [0x90, 0x00] {
            bail!("the card refused {apdu:02X?}: {response:02X?}");
        }
    }
    let mut card_samples = Vec::with_capacity(rounds);
    let mut null_samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let response = card.transmit(&READ_TOKEN, &mut buf)?;
        card_samples.push(start.elapsed());
        if response.len() != 34 {
            bail!("unexpected READ BINARY answer {response:02X?}");
        }
        let start = Instant::now();
        null.transmit(&READ_TOKEN, &mut buf)?;
        null_samples.push(start.elapsed());
    }
    if card.transmit(&verify_auth_apdu(b"1234"), &mut buf)? != [0x90, 0x00] {
        bail!("the default card refused its auth PIN");
    }
    let sign = sign_apdu(SignMode::Pkcs1Raw);
    let mut sign_samples = Vec::with_capacity(rounds / 10 + 1);
    for _ in 0..rounds / 10 + 1 {
        let start = Instant::now();
        let response = card.transmit(&sign, &mut buf)?;
        sign_samples.push(start.elapsed());
        if response.len() != 258 {
            bail!("signing through pcscd failed: {response:02X?}");
        }
    }
    Ok(PcscResult {
        card: Percentiles::of(&mut card_samples),
        null: Percentiles::of(&mut null_samples),
        sign: Percentiles::of(&mut sign_samples),
    })
}
