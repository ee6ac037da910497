//! PC/SC clients against one card in a private pcscd, in this process (pcsc-lite binds a
//! process to one pcscd: each test of this file runs in a process of its own under
//! nextest): pcscd restarted under a looping client, and several clients at once, with and
//! without transactions.

#![allow(clippy::unwrap_used)]

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mynasim_harness::sandbox::{Sandbox, SandboxOptions};

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
const ASK_TRIES: &[u8] = &[0x00, 0x20, 0x00, 0x80];
const WRONG_PIN: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, 0x30, 0x30, 0x30, 0x30];

fn reader() -> CString {
    CString::new("Virtual PCD 00 00").unwrap()
}

fn sandbox() -> Sandbox {
    let sandbox = Sandbox::start(&SandboxOptions::new(env!("CARGO_BIN_EXE_mynasim"))).unwrap();
    // Before the first PC/SC call of this process.
    std::env::set_var("PCSCLITE_CSOCK_NAME", sandbox.socket());
    sandbox
}

fn connect() -> Result<pcsc::Card, pcsc::Error> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
    ctx.connect(&reader(), pcsc::ShareMode::Shared, pcsc::Protocols::ANY)
}

fn transmit(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE];
    card.transmit(apdu, &mut buf).map(<[u8]>::to_vec)
}

#[test]
fn pcscd_restarted_20_times_under_a_looping_client() {
    let mut sandbox = sandbox();
    let card = connect().unwrap();
    for apdu in [SELECT_JPKI, SELECT_AUTH_PIN] {
        assert_eq!(transmit(&card, apdu).unwrap(), [0x90, 0x00]);
    }
    assert_eq!(transmit(&card, WRONG_PIN).unwrap(), [0x63, 0xC2]);
    drop(card);
    // The client: asks for the auth PIN's tries in a loop, reconnecting after errors.
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let slowest = Arc::new(Mutex::new(Duration::ZERO));
    let client = {
        let (stop, answers, errors, slowest) = (stop.clone(), answers.clone(), errors.clone(), slowest.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let started = Instant::now();
                let result = connect().and_then(|card| {
                    transmit(&card, SELECT_JPKI)?;
                    transmit(&card, SELECT_AUTH_PIN)?;
                    transmit(&card, ASK_TRIES)
                });
                let took = started.elapsed();
                let mut s = slowest.lock().unwrap();
                *s = (*s).max(took);
                drop(s);
                match result {
                    Ok(answer) => answers.lock().unwrap().push(answer),
                    Err(_) => {
                        errors.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        })
    };
    let started = Instant::now();
    for round in 0..20 {
        let before = answers.lock().unwrap().len();
        let restart = Instant::now();
        sandbox.restart_pcscd(Duration::from_secs(30)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(restart.elapsed() < Duration::from_secs(30));
        // The client gets through again after each restart, and the card kept its state.
        let deadline = Instant::now() + Duration::from_secs(10);
        while answers.lock().unwrap().len() <= before {
            assert!(Instant::now() < deadline, "round {round}: the client got no answer within 10 s of the restart");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    stop.store(true, Ordering::SeqCst);
    client.join().unwrap();
    let answers = answers.lock().unwrap();
    assert!(answers.iter().all(|a| a == &[0x63, 0xC2]), "every answer says 2 tries left: {answers:02X?}");
    let slowest = *slowest.lock().unwrap();
    assert!(slowest < Duration::from_secs(10), "a client call hung for {slowest:?}");
    eprintln!(
        "20 restarts in {:.1} s; {} answers, {} errors (during restarts), slowest call {slowest:?}",
        started.elapsed().as_secs_f64(),
        answers.len(),
        errors.load(Ordering::SeqCst)
    );
}

/// Each client selects its own EF (the auth certificate or the auth CA certificate) and
/// reads its first bytes, many times. Returns how many reads came back with the other
/// EF's bytes (another client's selection), and panics on anything but a well-formed answer.
fn clients(count: usize, transactions: bool) -> usize {
    let files: [(&[u8], Vec<u8>); 2] = {
        let card = connect().unwrap();
        transmit(&card, SELECT_JPKI).unwrap();
        let read = |fid: &'static [u8]| {
            assert_eq!(transmit(&card, fid).unwrap(), [0x90, 0x00]);
            transmit(&card, &[0x00, 0xB0, 0x00, 0x00, 0x20]).unwrap()
        };
        const AUTH: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A];
        const AUTH_CA: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0B];
        let files = [(AUTH, read(AUTH)), (AUTH_CA, read(AUTH_CA))];
        // Dropping a handle resets the card under every other client: leave it as it is.
        assert!(card.disconnect(pcsc::Disposition::LeaveCard).is_ok());
        files
    };
    assert_ne!(files[0].1, files[1].1);
    let crossed = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for n in 0..count {
            let (files, crossed) = (&files, &crossed);
            scope.spawn(move || {
                let mut card = connect().unwrap();
                let (mine, other) = (&files[n % 2], &files[(n + 1) % 2]);
                for _ in 0..50 {
                    let read = if transactions {
                        let tx = card.transaction().unwrap();
                        select_and_read(&tx, mine.0)
                    } else {
                        select_and_read(&card, mine.0)
                    };
                    if read == mine.1 {
                        continue;
                    }
                    // Without a transaction another client may have selected its EF in between
                    // (one card, one current EF, as on a real card), or the JPKI AP again.
                    assert!(!transactions, "inside a transaction a read came back as {read:02X?}");
                    assert!(read == other.1 || read == [0x69, 0x86], "a read came back as {read:02X?}");
                    crossed.fetch_add(1, Ordering::SeqCst);
                }
                assert!(card.disconnect(pcsc::Disposition::LeaveCard).is_ok());
            });
        }
    });
    crossed.into_inner()
}

/// SELECT JPKI, SELECT `ef`, READ BINARY 32 bytes; the read's answer.
fn select_and_read(card: &pcsc::Card, ef: &[u8]) -> Vec<u8> {
    assert_eq!(transmit(card, SELECT_JPKI).unwrap(), [0x90, 0x00]);
    assert_eq!(transmit(card, ef).unwrap(), [0x90, 0x00]);
    transmit(card, &[0x00, 0xB0, 0x00, 0x00, 0x20]).unwrap()
}

#[test]
fn two_and_eight_clients_with_and_without_transactions() {
    let _sandbox = sandbox();
    for count in [2, 8] {
        let started = Instant::now();
        assert_eq!(clients(count, true), 0, "{count} clients with transactions");
        let crossed = clients(count, false);
        eprintln!(
            "{count} clients: {crossed} of {} reads without transactions saw another client's selection; {:.1} s",
            count * 50,
            started.elapsed().as_secs_f64()
        );
    }
}
