//! The web inspector through the whole stack: `mynasim serve --private --inspect` (pcscd +
//! vpcd in a sandbox, the inspector in the user-facing serve), its page in a real headless
//! Chromium (tests/browser), and a PC/SC client on the card with the `pcsc` crate:
//!
//! - a request without the token is refused (403, saying to open the printed URL);
//! - the page shows the card; clicking "lock" on the auth PIN locks it for the PC/SC
//!   client (VERIFY answers 69 84) and the page shows it LOCKED;
//! - the client's APDUs appear in the page's log, decoded (`SELECT 公的個人認証AP`), PIN
//!   bytes masked, and the log's search box filters them;
//! - an office reset with a new PIN and an injected status word, from the page, reach the
//!   client; so do "one try left", a latency, unlock, a warm reset and a power cycle (the
//!   verified PIN forgotten), a profile swap (a new holder, the old handle removed), and
//!   remove and insert.
//!
//! With `MYNASIM_UPDATE_SCREENSHOTS=1` the screenshot of the page goes to
//! docs/inspector.png (the README's); otherwise into the test's temporary folder.
//!
//! One test: pcsc-lite reads `PCSCLITE_CSOCK_NAME` once per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod browser;
mod pcsc_sandbox;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Instant;

use browser::Browser;
use pcsc_sandbox::ServePrivate;

const SELECT_JPKI: &[u8] = &[0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
const SELECT_AUTH_PIN: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18];
const VERIFY_1234: &[u8] = &[0x00, 0x20, 0x00, 0x80, 0x04, 0x31, 0x32, 0x33, 0x34];
const SELECT_AUTH_CERTIFICATE: &[u8] = &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A];
const READ_BINARY_HEADER: &[u8] = &[0x00, 0xB0, 0x00, 0x00, 0x04];

fn send(card: &pcsc::Card, apdu: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    card.transmit(apdu, &mut buf).map(<[u8]>::to_vec).unwrap()
}

/// The first line of the answer to a GET of `target` on a fresh connection.
fn status_line(addr: &str, target: &str, headers: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[test]
fn the_inspector_locks_a_pin_for_a_pcsc_client_and_shows_its_apdus() -> anyhow::Result<()> {
    let started = Instant::now();
    let runtime = tempfile::tempdir()?;
    let serve = ServePrivate::start(&["--inspect"], &[("XDG_RUNTIME_DIR", runtime.path())], Stdio::null());
    let url = serve.inspector_url.clone().expect("serve printed the inspector's URL");
    let (addr, token) = url.strip_prefix("http://").and_then(|u| u.split_once("/?token=")).expect("http://ADDR/?token=TOKEN");
    assert!(addr.starts_with("127.0.0.1:") && token.len() == 32, "{url}");

    // Nothing without the token.
    let (status, body) = status_line(addr, "/", "");
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    assert!(body.contains("open the URL `mynasim serve --inspect` printed"), "{body}");
    assert_eq!(status_line(addr, "/", "Authorization: Bearer 00000000000000000000000000000000\r\n").0, "HTTP/1.1 403 Forbidden");

    // The page shows the card, with its event stream live.
    let browser = Browser::start()?;
    let loading = Instant::now();
    browser.goto(&url)?;
    let card = r#".card[data-card="default"]"#;
    browser.wait_for(&format!(r#"{card} [data-pin-row="auth"]"#))?;
    browser.wait_until("the event stream", browser::WAIT_TIMEOUT, |b| Ok(b.find("#connection")?.text()? == "live"))?;
    eprintln!("page shown with its card and live in {:?}", loading.elapsed());
    let timing = browser.execute(
        "const t = performance.getEntriesByType('navigation')[0]; return [t.responseEnd - t.startTime, t.loadEventEnd - t.startTime];",
        vec![],
    )?;
    eprintln!("navigation timing (ms): response end, load event end: {timing}");
    assert_eq!(browser.find(&format!(r#"{card} [data-pin-row="auth"] [data-field="tries"]"#))?.text()?, "3/3");
    assert!(browser.find(&format!(r#"{card} [data-cert="auth"]"#))?.text()?.contains("valid"));

    // Lock the auth PIN from the page: the PC/SC client's VERIFY is refused.
    std::env::set_var("PCSCLITE_CSOCK_NAME", &serve.pcscd_socket);
    let context = pcsc::Context::establish(pcsc::Scope::User)?;
    let mut names = [0u8; 2048];
    let reader = context.list_readers(&mut names)?.next().unwrap().to_owned();
    let client = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    browser.click(&format!(r#"{card} button[data-action="lock"][data-pin="auth"]"#))?;
    browser.wait_for(&format!(r#"{card} [data-pin-row="auth"] .locked"#))?;
    browser.wait_for_text("auth PIN locked (0 of 3 tries left)")?;
    assert_eq!(send(&client, SELECT_JPKI), [0x90, 0x00]);
    assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
    assert_eq!(send(&client, VERIFY_1234), [0x69, 0x84], "VERIFY of a PIN the page locked");
    assert_eq!(send(&client, SELECT_AUTH_CERTIFICATE), [0x90, 0x00]);
    assert_eq!(send(&client, READ_BINARY_HEADER).len(), 6);

    // The client's APDUs in the page's log, decoded, the PIN masked, the selection shown.
    let rows = "#apdu-rows tr.apdu";
    browser.wait_until("5 APDUs in the log", browser::WAIT_TIMEOUT, |b| Ok(b.find_all(rows)?.len() >= 5))?;
    browser.wait_for_text("SELECT 公的個人認証AP")?;
    let log = browser.find("#apdu-log")?.text()?;
    assert!(log.contains("0020008004********") && !log.contains("0020008004313233"), "PIN bytes masked:\n{log}");
    assert!(log.contains("69 84"), "{log}");
    browser.wait_until("the selection", browser::WAIT_TIMEOUT, |b| {
        Ok(b.find(&format!(r#"{card} [data-field="selection"]"#))?.text()?.contains("EF 000A"))
    })?;

    let screenshot = if std::env::var_os("MYNASIM_UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/inspector.png")
    } else {
        runtime.path().join("inspector.png")
    };
    browser.screenshot(&screenshot)?;
    eprintln!("screenshot: {}", screenshot.display());

    // The search box filters the log.
    browser.type_into("#log-search", "VERIFY")?;
    browser.wait_until("the log filtered", browser::WAIT_TIMEOUT, |b| {
        let shown: Vec<_> = b.find_all(rows)?.into_iter().filter(|r| r.text().is_ok_and(|t| !t.is_empty())).collect();
        Ok(shown.len() == 1)
    })?;

    // The office reset with a new PIN (the page asks for it; the answer is given here), then
    // a status word injected for the next command: both reach the client.
    browser.execute("window.prompt = () => '5678';", vec![])?;
    browser.click(&format!(r#"{card} button[data-action="office_reset"][data-pin="auth"]"#))?;
    browser.wait_until("the auth PIN back to 3/3", browser::WAIT_TIMEOUT, |b| {
        Ok(b.find(&format!(r#"{card} [data-pin-row="auth"] [data-field="tries"]"#))?.text()? == "3/3")
    })?;
    assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
    assert_eq!(send(&client, &[0x00, 0x20, 0x00, 0x80, 0x04, b'5', b'6', b'7', b'8']), [0x90, 0x00], "the new PIN verifies");
    browser.type_into(&format!(r#"{card} [data-input="sw"]"#), "6F00")?;
    browser.click(&format!(r#"{card} button[data-action="sw"]"#))?;
    browser.wait_for(&format!(r#"{card} [data-field="faults"] .badge"#))?;
    assert_eq!(send(&client, SELECT_JPKI), [0x6F, 0x00], "the injected status word");
    assert_eq!(send(&client, SELECT_JPKI), [0x90, 0x00], "once only");

    // One try left, then a latency on READ BINARY, from the page.
    browser.click(&format!(r#"{card} button[data-action="one_try"][data-pin="auth"]"#))?;
    browser.wait_until("the auth PIN at 1/3", browser::WAIT_TIMEOUT, |b| {
        Ok(b.find(&format!(r#"{card} [data-pin-row="auth"] [data-field="tries"]"#))?.text()? == "1/3")
    })?;
    assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
    assert_eq!(send(&client, &VERIFY_1234[..4]), [0x63, 0xC1], "the tries query after \"one try left\"");
    browser.type_into(&format!(r#"{card} [data-input="ins"]"#), "B0")?;
    browser.click(&format!(r#"{card} button[data-action="latency"]"#))?;
    browser.wait_for_text("latency 300ms on INS B0")?;
    assert_eq!(send(&client, SELECT_AUTH_CERTIFICATE), [0x90, 0x00]);
    let read = Instant::now();
    assert_eq!(send(&client, READ_BINARY_HEADER).len(), 6);
    assert!(read.elapsed() >= std::time::Duration::from_millis(300), "READ BINARY took {:?}", read.elapsed());
    browser.click(&format!(r#"{card} button[data-action="clear_faults"]"#))?;
    browser.wait_until("no faults", browser::WAIT_TIMEOUT, |b| {
        Ok(b.find_all(&format!(r#"{card} [data-field="faults"] .badge"#))?.is_empty())
    })?;

    // Lock, then unlock from the page: the PIN has all its tries again.
    let auth_row = format!(r#"{card} [data-pin-row="auth"]"#);
    browser.click(&format!(r#"{card} button[data-action="lock"][data-pin="auth"]"#))?;
    browser.wait_for(&format!("{auth_row} .locked"))?;
    browser.click(&format!(r#"{card} button[data-action="unlock"][data-pin="auth"]"#))?;
    browser.wait_until("the auth PIN unlocked at 3/3", browser::WAIT_TIMEOUT, |b| {
        Ok(b.find_all(&format!("{auth_row} .locked"))?.is_empty()
            && b.find(&format!(r#"{auth_row} [data-field="tries"]"#))?.text()? == "3/3")
    })?;
    assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
    assert_eq!(send(&client, &VERIFY_1234[..4]), [0x63, 0xC3], "the tries query after unlock");

    // A warm reset and a power cycle from the page, which pcscd does not see: each time the
    // verified PIN is forgotten and the card is back at its MF level, under the same handle.
    let verify_5678 = [0x00, 0x20, 0x00, 0x80, 0x04, b'5', b'6', b'7', b'8'];
    for action in ["reset", "power_cycle"] {
        assert_eq!(send(&client, SELECT_JPKI), [0x90, 0x00]);
        assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
        assert_eq!(send(&client, &verify_5678), [0x90, 0x00]);
        browser.wait_for(&format!("{auth_row} .verified"))?;
        browser.click(&format!(r#"{card} button[data-action="{action}"]"#))?;
        browser.wait_until(&format!("the verified flag gone after {action}"), browser::WAIT_TIMEOUT, |b| {
            Ok(b.find_all(&format!("{auth_row} .verified"))?.is_empty())
        })?;
        assert_ne!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00], "after {action}, the JPKI AP is no longer selected");
    }

    // Swap in another profile from the page: the client's card is pulled (pcscd sees the
    // reader empty for a moment), and the new holder's card comes back in its place.
    let bob = runtime.path().join("bob.yaml");
    std::fs::write(&bob, "holder:\n  name: \"番号　次郎\"\n")?;
    browser.type_into(&format!(r#"{card} [data-input="profile"]"#), &bob.display().to_string())?;
    browser.click(&format!(r#"{card} button[data-action="swap"]"#))?;
    browser.wait_for_text("番号　次郎")?;
    assert_eq!(client.transmit(SELECT_JPKI, &mut [0u8; 258]).unwrap_err(), pcsc::Error::RemovedCard);
    pcsc_sandbox::wait_presence(&context, &reader, true);
    let client = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    assert_eq!(send(&client, SELECT_JPKI), [0x90, 0x00], "the swapped-in card answers");
    assert_eq!(send(&client, SELECT_AUTH_PIN), [0x90, 0x00]);
    assert_eq!(send(&client, &verify_5678), [0x63, 0xC2], "the new card has its own PIN");

    // Remove and insert from the page: pcscd sees the reader empty, then the card back.
    browser.click(&format!(r#"{card} button[data-action="remove"]"#))?;
    pcsc_sandbox::wait_presence(&context, &reader, false);
    assert_eq!(client.transmit(SELECT_JPKI, &mut [0u8; 258]).unwrap_err(), pcsc::Error::RemovedCard);
    browser.click(&format!(r#"{card} button[data-action="insert"]"#))?;
    pcsc_sandbox::wait_presence(&context, &reader, true);
    let client = context.connect(&reader, pcsc::ShareMode::Shared, pcsc::Protocols::ANY)?;
    assert_eq!(send(&client, SELECT_JPKI), [0x90, 0x00], "the card is back");
    eprintln!("whole test: {:?}", started.elapsed());
    Ok(())
}
