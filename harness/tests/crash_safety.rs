//! A wrong PIN try is never lost to a crash: the test plays vpcd itself (the card connects
//! to it), sends a storm of wrong and right VERIFYs, and SIGKILLs the serving process at
//! random moments, often within microseconds of reading an answer. After every kill the
//! state file must parse and must never show more tries left than the client was told.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mynasim_simulator::pins::PinId;
use mynasim_simulator::state::PersistentState;

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
const WRONG: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, 0x30, 0x30, 0x30, 0x30];
const RIGHT: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];

fn send(stream: &mut TcpStream, payload: &[u8]) {
    let mut frame = (payload.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    stream.write_all(&frame).unwrap();
}

fn receive(stream: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut payload = vec![0; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut payload).unwrap();
    payload
}

fn transmit(stream: &mut TcpStream, apdu: &[u8]) -> Vec<u8> {
    send(stream, apdu);
    receive(stream)
}

/// The auth PIN's tries left in the state file; panics if the file does not parse.
fn tries_on_disk(state: &Path) -> u8 {
    let text = std::fs::read_to_string(state).unwrap();
    let parsed: PersistentState = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("corrupt state file:\n{text}\n{e}"));
    parsed.pins.iter().find(|p| p.pin == PinId::AuthPin).unwrap().record.remaining
}

fn serve(profile: &Path, port: u16, ready: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mynasim"))
        .args(["serve", "--vpcd", &format!("127.0.0.1:{port}"), "--ready-file"])
        .arg(ready)
        .arg(profile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// A small deterministic generator (the test must be reproducible from its seed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn a_killed_card_never_gives_a_try_back() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("card.yaml");
    let state = dir.path().join("state.yaml");
    std::fs::write(&profile, "seed: crash-safety\nstate_file: state.yaml\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut rng = Lcg(0x5eed);
    // What the client was last told (3 before anything happened).
    let mut told = 3u8;
    let started = Instant::now();
    let mut cycles = 0;
    while cycles < 200 && started.elapsed() < Duration::from_secs(300) {
        let ready = dir.path().join(format!("ready-{cycles}"));
        let mut child = serve(&profile, port, &ready);
        let (mut vpcd, _) = listener.accept().unwrap();
        vpcd.set_nodelay(true).unwrap();
        send(&mut vpcd, &[0x01]); // power on
        assert_eq!(transmit(&mut vpcd, SELECT_JPKI), [0x90, 0x00]);
        assert_eq!(transmit(&mut vpcd, SELECT_AUTH_PIN), [0x90, 0x00]);
        // A few VERIFYs; the last one may be cut by the kill at any point.
        let commands = 1 + rng.next() % 3;
        // A right PIN whose answer the kill cut: it may have reset the counter to 3.
        let mut unanswered_right = false;
        for n in 0..commands {
            let apdu = if told <= 1 { RIGHT } else { WRONG };
            let last = n + 1 == commands;
            send(&mut vpcd, apdu);
            match (last, rng.next() % 3) {
                // Kill before reading the answer (the command may or may not have run).
                (true, 0) => {
                    unanswered_right = apdu == RIGHT;
                    std::thread::sleep(Duration::from_micros(rng.next() % 300));
                    break;
                }
                // Kill the moment the answer is read.
                _ => {
                    let answer = receive(&mut vpcd);
                    told = match answer.as_slice() {
                        [0x90, 0x00] => 3,
                        [0x63, sw2] if sw2 & 0xF0 == 0xC0 => sw2 & 0x0F,
                        other => panic!("unexpected answer {other:02X?}"),
                    };
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let on_disk = tries_on_disk(&state);
        let allowed = if unanswered_right { 3 } else { told };
        assert!(on_disk <= allowed, "cycle {cycles}: the card said {told} tries left, the state file after a kill says {on_disk}");
        // The next cycle starts from what the disk says (the client learns it at its next VERIFY).
        told = on_disk;
        if told == 0 {
            // Never expected (a right PIN comes at 1), but start over rather than stop.
            std::fs::remove_file(&state).unwrap();
            told = 3;
        }
        cycles += 1;
    }
    assert!(cycles >= 200, "only {cycles} cycles ran in the time allowed");
}
