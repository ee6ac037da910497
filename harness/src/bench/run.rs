//! The whole benchmark: every family in turn into one [`Report`], each compared path
//! measured side by side with its ceiling or peer (interleaved slices or alternating
//! APDUs), with the targets. A path whose tools are missing is recorded in
//! `skipped` instead of failing the run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use mynasim_simulator::command::SignMode;

use super::drive::{self, Mode, Op};
use super::report::{cores, Distribution, Measurement, Report, Series, Target};
use super::{peers, scaling, startup, timing};
use crate::keycache::DirKeyCache;
use crate::sandbox::{CardSource, Sandbox, SandboxOptions};
use crate::slot::TimingProfile;

/// What to measure and for how long.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The `mynasim` binary (cards, drivers, `serve`, `run`).
    pub mynasim: PathBuf,
    /// Seconds in all per compared pair (split in interleaved slices).
    pub seconds: f64,
    /// Alternating round trips per card through pcscd.
    pub rounds: usize,
    /// Only the in-process paths (no pcscd, no peers, no start-up through pcscd).
    pub in_process_only: bool,
    /// The seconds-long version: every path, tiny counts (figures only show it works).
    pub smoke: bool,
}

impl BenchOptions {
    fn slice(&self) -> Duration {
        Duration::from_secs_f64(self.seconds / 6.0)
    }

    fn in_process_counts(&self) -> Vec<usize> {
        if self.smoke {
            vec![1, 10]
        } else {
            vec![1, 10, 100, 1000]
        }
    }

    fn pcsc_counts(&self) -> Vec<usize> {
        if self.smoke {
            vec![1, 2]
        } else {
            vec![1, 2, 4, 8]
        }
    }
}

/// Runs every measurement.
pub fn measure(options: &BenchOptions) -> Result<Report> {
    let mut report = Report::new(options.smoke);
    let in_process_sign = in_process(options, &mut report)?;
    if !options.in_process_only {
        let floor = super::limits::tcp_ping_pong(options.rounds.max(100))?;
        let mut floor = floor;
        let tcp = Distribution::of("latency.tcp_loopback", "TCP loopback ping-pong (transport floor)", &mut floor);
        report.add(Measurement::info(
            "limits.tcp_loopback",
            "TCP loopback ping-pong of vpcd's frame sizes (7 B / 36 B), median rate",
            1e3 / tcp.median_ms(),
            "round trips/s",
        ));
        report.distributions.push(tcp);
        if let Err(e) = through_pcscd(options, &mut report, in_process_sign) {
            failed(&mut report, "through pcscd", &e);
        }
        if let Err(e) = pkcs11(options, &mut report) {
            failed(&mut report, "PKCS#11 peers", &e);
        }
        if let Err(e) = start_up(options, &mut report) {
            failed(&mut report, "start-up through pcscd", &e);
        }
        for profile in [TimingProfile::Contactless, TimingProfile::Contact] {
            match timing::profile(&options.mynasim, profile, if options.smoke { 2 } else { 10 }) {
                Ok(classes) => {
                    for c in classes {
                        let name = format!("timing.{}.{}", profile.name(), c.class.to_lowercase().replace(' ', "_"));
                        report.add(
                            Measurement::info(
                                &name,
                                &format!("{} delay added by `latency: {}`, measured through pcscd", c.class, profile.name()),
                                c.added_ms,
                                "ms",
                            )
                            .against("configured", c.configured_ms),
                        );
                    }
                }
                Err(e) => failed(&mut report, &format!("{} timing", profile.name()), &e),
            }
        }
    }
    Ok(report)
}

/// A path that could not finish: skipped when this machine lacks what it needs (no
/// pcscd, no vpcd driver), an error otherwise.
fn failed(report: &mut Report, what: &str, e: &anyhow::Error) {
    use crate::sandbox::SandboxError;
    let missing =
        e.chain().any(|c| matches!(c.downcast_ref::<SandboxError>(), Some(SandboxError::MissingTool(_) | SandboxError::MissingDriver)));
    if missing {
        report.skip(what, format!("{e:#}"));
    } else {
        report.error(what, format!("{e:#}"));
    }
}

/// In process: APDU cost, signing vs OpenSSL, scaling, memory, issue-to-first-APDU.
/// Returns the one-card P1=00 signing rate (the per-card reference through pcscd).
fn in_process(options: &BenchOptions, report: &mut Report) -> Result<f64> {
    let mut cache = DirKeyCache::default_location();
    let mut loaded = crate::load::load_card(None, &mut cache)?;
    let card = &mut loaded.card;
    // First, while the allocator has no freed memory to hand back out (RSS only grows).
    let count = *options.in_process_counts().last().unwrap_or(&10);
    let per_card = scaling::memory_per_card(card, count, b"1234")?;
    report.add(
        Measurement::info(
            "in_process.memory_per_card",
            &format!("resident memory per card beyond the first ({count} Card::duplicate, prepared)"),
            per_card / (1024.0 * 1024.0),
            "MiB",
        )
        .target(Target::AtMost(2.0)),
    );
    super::apdu_ns(card, 10_000);
    let ns = super::apdu_ns(card, if options.smoke { 20_000 } else { 1_000_000 });
    report.add(Measurement::info("in_process.apdu", "SELECT EF + READ BINARY in process, per APDU", ns, "ns"));
    super::prepare_for_signing(card, b"1234")?;
    let rates = super::signing_side_by_side(card, Duration::from_secs_f64(options.seconds))?;
    let raw = rates.modes.iter().find(|(m, _)| *m == SignMode::Pkcs1Raw).map_or(f64::NAN, |(_, r)| *r);
    report.add(
        Measurement::info("in_process.sign", "80 2A 00 97 (PKCS#1 over a DigestInfo) in process, one card, one core", raw, "signs/s")
            .target(Target::RatioAtLeast(0.90))
            .against("OpenSSL RSA-2048 one core", rates.ceiling),
    );
    for (mode, rate) in rates.modes.iter().filter(|(m, _)| *m != SignMode::Pkcs1Raw) {
        report.add(
            Measurement::info(
                &format!("in_process.sign.p1_{:02x}", mode.p1()),
                &format!("80 2A {:02X} ({mode:?}) in process", mode.p1()),
                *rate,
                "signs/s",
            )
            .against("OpenSSL RSA-2048 one core", rates.ceiling),
        );
    }
    let n = cores();
    let points = scaling::in_process(card, &options.in_process_counts(), n, options.slice(), 3, b"1234")?;
    for p in &points {
        report.add(
            Measurement::info(
                &format!("in_process.scaling.{}", p.cards),
                &format!("{} cards signing at once on {} threads, in process", p.cards, p.threads),
                p.signs_per_second,
                "signs/s",
            )
            .target(Target::RatioAtLeast(0.85))
            .against(&format!("{} x OpenSSL one core", p.threads), p.ceiling()),
        );
        report.add(
            Measurement::info(
                &format!("in_process.scaling.{}.vs_openssl_threads", p.cards),
                &format!("{} cards on {} threads against OpenSSL on as many threads at once (what the cores give now)", p.cards, p.threads),
                p.signs_per_second,
                "signs/s",
            )
            .against(&format!("OpenSSL on {} threads at once", p.threads), p.openssl_threads),
        );
    }
    report.series.push(Series {
        name: "scaling.in_process.sign".into(),
        label: "mynasim in process".into(),
        x: "cards".into(),
        y: "signs/s".into(),
        points: points.iter().map(|p| (p.cards as f64, p.signs_per_second)).collect(),
    });
    report.series.push(Series {
        name: "scaling.ceiling.sign".into(),
        label: "min(K, cores) x OpenSSL one core".into(),
        x: "cards".into(),
        y: "signs/s".into(),
        points: points.iter().map(|p| (p.cards as f64, p.ceiling())).collect(),
    });
    report.series.push(Series {
        name: "scaling.openssl_threads.sign".into(),
        label: "OpenSSL on min(K, cores) threads at once".into(),
        x: "cards".into(),
        y: "signs/s".into(),
        points: points.iter().map(|p| (p.cards as f64, p.openssl_threads)).collect(),
    });
    let keys = tempfile::Builder::new().prefix("mynasim-bench-keys-").tempdir()?;
    let cold_s = startup::fresh_process_to_first_apdu(&options.mynasim, keys.path())?;
    let mut warm: Vec<f64> = (0..if options.smoke { 1 } else { 5 })
        .map(|_| startup::fresh_process_to_first_apdu(&options.mynasim, keys.path()))
        .collect::<Result<_>>()?;
    warm.sort_by(f64::total_cmp);
    let duplicate_s = startup::in_process_to_first_apdu(keys.path())?;
    report.add(Measurement::info(
        "startup.in_process.cold",
        "issue (empty key cache: keys generated) to the first APDU answered, fresh process",
        cold_s * 1e3,
        "ms",
    ));
    report.add(
        Measurement::info(
            "startup.in_process.warm",
            "issue (warm key cache) to the first APDU answered, fresh process, median",
            super::report::quantile_sorted(&warm, 0.5) * 1e3,
            "ms",
        )
        .target(Target::AtMost(100.0)),
    );
    report.add(Measurement::info(
        "startup.in_process.duplicate",
        "load of a card this process issued before (issue cache: a duplicate) to the first APDU",
        duplicate_s * 1e3,
        "ms",
    ));
    Ok(raw)
}

fn sandbox(options: &BenchOptions, cards: Vec<CardSource>) -> Result<Sandbox> {
    let mut o = SandboxOptions::new(&options.mynasim);
    o.cards = cards;
    o.serve_args = vec!["--log".into(), "warn".into()];
    Ok(Sandbox::start(&o)?)
}

/// Through pcscd + vpcd: one client alternating card / trivial card / vicc, signing, and
/// K cards at once over several sandboxes.
fn through_pcscd(options: &BenchOptions, report: &mut Report, in_process_sign: f64) -> Result<()> {
    let exe = &options.mynasim;
    // Card and trivial card alternating, one client.
    let pair = sandbox(options, vec![CardSource::Profile(None), CardSource::Null])?;
    let rounds = options.rounds;
    let mut result = drive::Driver::start(exe, &pair.socket(), &[Op::Read, Op::Any], &Mode::Alternate { rounds, every: vec![] })?;
    result.go()?;
    let mut result = result.finish()?;
    let card = Distribution::of("latency.pcsc.mynasim", "mynasim READ BINARY via pcscd", &mut result.readers[0].samples_ms);
    let null = Distribution::of("latency.pcsc.null", "trivial 90 00 card via pcscd (stack floor)", &mut result.readers[1].samples_ms);
    report.add(
        Measurement::info(
            "pcsc.read_binary",
            "READ BINARY round trip through pcscd, one client, median rate",
            1e3 / card.median_ms(),
            "APDU/s",
        )
        .target(Target::RatioAtLeast(0.95))
        .against("trivial 90 00 card, alternating", 1e3 / null.median_ms()),
    );
    let card_median = card.median_ms();
    let null_rate = 1e3 / null.median_ms();
    report.distributions.push(card);
    report.distributions.push(null);
    // The same with one watcher on the control socket's event stream (`ctl watch`): what
    // watching costs. The measurement above ran with the endpoint open and nobody watching.
    let watched = watched_read_binary(options, &pair)?;
    report.add(
        Measurement::info(
            "control.watched_read_binary",
            &format!("READ BINARY through pcscd with one control watcher receiving every event ({} events), median rate", watched.events),
            watched.watched_rate,
            "APDU/s",
        )
        .against("the same, nobody watching, interleaved", watched.unwatched_rate),
    );
    // Signing through pcscd against the same signing in process, interleaved slices.
    let slice = Duration::from_secs_f64((options.seconds / 3.0).max(0.2));
    let mut local = scaling::duplicates(&crate::load::load_card(None, &mut DirKeyCache::default_location())?.card, 1, b"1234")?;
    let (mut through, mut inside, mut samples) = (0.0, 0.0, Vec::new());
    for _ in 0..3 {
        let mut r = drive::together(exe, &[(pair.socket().as_path(), vec![Op::Sign])], &Mode::Concurrent(slice))?;
        through += r[0].readers[0].rate();
        samples.append(&mut r[0].readers[0].samples_ms);
        inside += scaling::sign_concurrently(&mut local, 1, slice)?;
    }
    let sign = Distribution::of("latency.pcsc.sign", "mynasim 80 2A via pcscd", &mut samples);
    report.add(
        Measurement::info("pcsc.sign", "80 2A 00 97 through pcscd, one card", through / 3.0, "signs/s")
            .target(Target::RatioAtLeast(0.80))
            .against("in process, one card, interleaved", inside / 3.0),
    );
    report.distributions.push(sign);
    drop(pair);
    // vicc beside mynasim in one pcscd, alternating (vicc every 10th round: it is slow).
    let shim = tempfile::Builder::new().prefix("mynasim-vicc-").tempdir()?;
    match peers::vicc_card(shim.path())? {
        None => report.skip("vicc", "vsmartcard-vpicc is not installed (apt-get install vsmartcard-vpicc python3-pycryptodome)"),
        Some(vicc) => {
            let beside = sandbox(options, vec![CardSource::Profile(None), vicc])?;
            let rounds = if options.smoke { 20 } else { 1000 };
            let mut d = drive::Driver::start(exe, &beside.socket(), &[Op::Read, Op::Any], &Mode::Alternate { rounds, every: vec![1, 10] })?;
            d.go()?;
            let mut r = d.finish()?;
            let ours = Distribution::of("latency.pcsc.mynasim_beside_vicc", "mynasim beside vicc", &mut r.readers[0].samples_ms);
            let theirs = Distribution::of("latency.pcsc.vicc", "vicc (vsmartcard, Python)", &mut r.readers[1].samples_ms);
            report.add(
                Measurement::info(
                    "peers.vicc",
                    "mynasim READ BINARY via pcscd against vicc's answer to it, same pcscd, median rate",
                    1e3 / ours.median_ms(),
                    "APDU/s",
                )
                .target(Target::RatioAtLeast(500.0))
                .against("vicc -t iso7816", 1e3 / theirs.median_ms()),
            );
            report.add(
                Measurement::info(
                    "peers.vicc.floor",
                    "the trivial 90 00 card via pcscd against vicc: the most any card reaches on this stack here",
                    null_rate,
                    "APDU/s",
                )
                .against("vicc -t iso7816", 1e3 / theirs.median_ms()),
            );
            report.distributions.push(theirs);
            let _ = ours;
        }
    }
    let _ = (card_median, in_process_sign);
    scaling_through_pcscd(options, report)
}

/// READ BINARY through pcscd with one watcher draining the card's event stream, and
/// without, in interleaved slices (median rates), and how many events the watcher got.
struct Watched {
    watched_rate: f64,
    unwatched_rate: f64,
    events: u64,
}

/// A `ctl watch`-like client counting the event lines it receives, on a thread.
struct Watcher {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl Watcher {
    fn start(socket: &Path) -> Result<Watcher> {
        use std::sync::atomic::Ordering;
        let mut stream = crate::control::client::ControlClient::connect(socket)?.watch()?;
        stream.socket().set_read_timeout(Some(Duration::from_millis(50)))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut events = 0;
            while !flag.load(Ordering::Relaxed) {
                match stream.next_line() {
                    Ok(Some(_)) => events += 1,
                    Ok(None) => break,
                    Err(_) => {} // the read timeout: look at `stop` again
                }
            }
            events
        });
        Ok(Watcher { stop, thread })
    }

    /// Disconnects once the server's last drain has arrived; the events received.
    fn stop(self) -> u64 {
        std::thread::sleep(Duration::from_millis(100));
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

fn watched_read_binary(options: &BenchOptions, pair: &Sandbox) -> Result<Watched> {
    let socket = pair.control_socket().context("the bench sandbox has no control socket")?;
    let rounds = (options.rounds / 3).max(20);
    let mode = Mode::Alternate { rounds, every: vec![] };
    let drive = || -> Result<Vec<f64>> {
        let mut d = drive::Driver::start(&options.mynasim, &pair.socket(), &[Op::Read, Op::Any], &mode)?;
        d.go()?;
        Ok(std::mem::take(&mut d.finish()?.readers[0].samples_ms))
    };
    let (mut watched, mut unwatched, mut events) = (Vec::new(), Vec::new(), 0);
    for _ in 0..3 {
        unwatched.append(&mut drive()?);
        let watcher = Watcher::start(&socket)?;
        let samples = drive();
        let received = watcher.stop();
        watched.append(&mut samples?);
        if received < rounds as u64 {
            anyhow::bail!("the watcher received {received} events for {rounds} APDUs");
        }
        events += received;
        // The server drops the closed watcher within its 200 ms poll.
        std::thread::sleep(Duration::from_millis(400));
    }
    let watched = Distribution::of("latency.pcsc.mynasim_watched", "mynasim READ BINARY via pcscd, one watcher", &mut watched);
    let unwatched = Distribution::of("latency.pcsc.mynasim_unwatched", "the same, nobody watching", &mut unwatched);
    Ok(Watched { watched_rate: 1e3 / watched.median_ms(), unwatched_rate: 1e3 / unwatched.median_ms(), events })
}

/// K cards at once: ceil(K/2) sandboxes (vpcd serves two slots per pcscd), one driver
/// process per sandbox, one thread per card; the trivial card likewise.
/// Each K is measured in three interleaved rounds of: the cards reading, the trivial cards
/// answering, the cards signing, and K cards signing in process on `min(K, cores)` threads
/// (the per-card reference, measured beside it).
fn scaling_through_pcscd(options: &BenchOptions, report: &mut Report) -> Result<()> {
    let counts = options.pcsc_counts();
    let max = counts.iter().copied().max().unwrap_or(1);
    let pairs = max.div_ceil(2);
    let cards: Vec<Sandbox> = (0..pairs).map(|_| sandbox(options, vec![CardSource::Profile(None); 2])).collect::<Result<_>>()?;
    let nulls: Vec<Sandbox> = (0..pairs).map(|_| sandbox(options, vec![CardSource::Null; 2])).collect::<Result<_>>()?;
    let slice = Duration::from_secs_f64((options.seconds / 3.0).max(0.2));
    let total = |sandboxes: &[Sandbox], k: usize, op: Op| -> Result<f64> {
        let jobs: Vec<(PathBuf, Vec<Op>)> =
            sandboxes.iter().enumerate().take(k.div_ceil(2)).map(|(i, s)| (s.socket(), vec![op; (k - 2 * i).min(2)])).collect();
        let jobs: Vec<(&Path, Vec<Op>)> = jobs.iter().map(|(p, o)| (p.as_path(), o.clone())).collect();
        let results = drive::together(&options.mynasim, &jobs, &Mode::Concurrent(slice))?;
        Ok(results.iter().flat_map(|r| &r.readers).map(drive::ReaderResult::rate).sum())
    };
    let n = cores();
    let base = crate::load::load_card(None, &mut DirKeyCache::default_location())?.card;
    let (mut read, mut null, mut sign, mut local) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for &k in &counts {
        let mut in_process = scaling::duplicates(&base, k, b"1234")?;
        let (mut r, mut z, mut s, mut l) = (0.0, 0.0, 0.0, 0.0);
        for _ in 0..3 {
            r += total(&cards, k, Op::Read)? / 3.0;
            z += total(&nulls, k, Op::Any)? / 3.0;
            s += total(&cards, k, Op::Sign)? / 3.0;
            l += scaling::sign_concurrently(&mut in_process, n, slice)? / 3.0;
        }
        report.add(
            Measurement::info(
                &format!("pcsc.scaling.read_binary.{k}"),
                &format!("READ BINARY, {k} cards at once through pcscd"),
                r,
                "APDU/s",
            )
            .against(&format!("{k} trivial cards at once"), z),
        );
        report.add(
            Measurement::info(&format!("pcsc.scaling.sign.{k}"), &format!("80 2A, {k} cards at once through pcscd"), s, "signs/s")
                .against(&format!("{k} cards in process on min({k}, cores) threads"), l),
        );
        read.push((k as f64, r));
        null.push((k as f64, z));
        sign.push((k as f64, s));
        local.push((k as f64, l));
    }
    let series = |name: &str, label: &str, y: &str, points: Vec<(f64, f64)>| Series {
        name: name.into(),
        label: label.into(),
        x: "cards".into(),
        y: y.into(),
        points,
    };
    report.series.push(series("scaling.pcsc.read_binary", "mynasim READ BINARY via pcscd", "APDU/s", read));
    report.series.push(series("scaling.pcsc.null", "trivial 90 00 card via pcscd (floor)", "APDU/s", null));
    report.series.push(series("scaling.pcsc.sign", "mynasim 80 2A via pcscd", "signs/s", sign));
    report.series.push(series("scaling.pcsc.sign_in_process", "the same K cards in process (beside it)", "signs/s", local));
    Ok(())
}

/// SoftHSM2 against mynasim through OpenSC, the same cryptoki loop, interleaved.
fn pkcs11(options: &BenchOptions, report: &mut Report) -> Result<()> {
    if !Path::new(peers::OPENSC_MODULE).exists() {
        report.skip("PKCS#11", "OpenSC's module is not installed (apt-get install opensc-pkcs11)");
        return Ok(());
    }
    let Some(token) = peers::SoftHsmToken::create()? else {
        report.skip("SoftHSM2", "softhsm2 is not installed (apt-get install softhsm2)");
        return Ok(());
    };
    let card = sandbox(options, vec![CardSource::Profile(None)])?;
    let slice = Duration::from_secs_f64((options.seconds / 3.0).max(0.2));
    let (mut soft, mut ours) = (peers::Pkcs11Result::default(), peers::Pkcs11Result::default());
    for _ in 0..3 {
        let s =
            peers::pkcs11_child(&options.mynasim, peers::SOFTHSM_MODULE, "1234", slice, &[("SOFTHSM2_CONF", token.conf().as_os_str())])?;
        let o = peers::pkcs11_child(
            &options.mynasim,
            peers::OPENSC_MODULE,
            "1234",
            slice,
            &[("PCSCLITE_CSOCK_NAME", card.socket().as_os_str())],
        )?;
        for (sum, one) in [(&mut soft, s), (&mut ours, o)] {
            sum.count += one.count;
            sum.seconds += one.seconds;
            sum.samples_ms.extend(one.samples_ms);
            sum.setup_seconds = sum.setup_seconds.max(one.setup_seconds);
        }
    }
    report.add(
        Measurement::info(
            "peers.pkcs11",
            "C_Sign CKM_SHA256_RSA_PKCS through OpenSC's PKCS#11 module, pcscd and mynasim",
            ours.rate(),
            "signs/s",
        )
        .target(Target::RatioAtLeast(0.80))
        .against("SoftHSM2 C_Sign, same loop", soft.rate()),
    );
    report.add(Measurement::info(
        "peers.pkcs11.login.opensc",
        "C_Initialize to logged-in session with the key found, OpenSC + mynasim",
        ours.setup_seconds * 1e3,
        "ms",
    ));
    report.add(Measurement::info(
        "peers.pkcs11.login.softhsm",
        "C_Initialize to logged-in session with the key found, SoftHSM2",
        soft.setup_seconds * 1e3,
        "ms",
    ));
    report.distributions.push(Distribution::of("latency.pkcs11.opensc", "C_Sign: OpenSC + pcscd + mynasim", &mut ours.samples_ms));
    report.distributions.push(Distribution::of("latency.pkcs11.softhsm", "C_Sign: SoftHSM2", &mut soft.samples_ms));
    Ok(())
}

/// `serve --private` to the first APDU, cold and warm; `mynasim run` to its first step.
fn start_up(options: &BenchOptions, report: &mut Report) -> Result<()> {
    let cache = tempfile::Builder::new().prefix("mynasim-bench-keys-").tempdir().context("no temp folder")?;
    let cold = startup::serve_to_first_apdu(&options.mynasim, cache.path())?;
    let mut warm: Vec<f64> = (0..if options.smoke { 1 } else { 5 })
        .map(|_| startup::serve_to_first_apdu(&options.mynasim, cache.path()))
        .collect::<Result<_>>()?;
    warm.sort_by(f64::total_cmp);
    report.add(Measurement::info(
        "startup.serve_private.cold",
        "mynasim serve --private (empty key cache) to the first APDU answered through pcscd",
        cold * 1e3,
        "ms",
    ));
    report.add(
        Measurement::info(
            "startup.serve_private.warm",
            "mynasim serve --private (warm key cache) to the first APDU answered, median",
            super::report::quantile_sorted(&warm, 0.5) * 1e3,
            "ms",
        )
        .target(Target::AtMost(600.0)),
    );
    let first = startup::run_to_first_step(&options.mynasim)?;
    report.add(Measurement::info("startup.run_first_step", "mynasim run (a pcscd scenario) to its first step", first * 1e3, "ms"));
    Ok(())
}
