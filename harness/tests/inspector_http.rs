//! The inspector's HTTP side in process: a control server over the default card (no
//! pcscd), the inspector in front of it, and plain HTTP requests from a `TcpStream`:
//! nothing without the token or under another host name, the page with its policy, a
//! control request through `POST /api`, and the event stream, whose watch connection
//! closes when the browser goes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mynasim_harness::control::server::{ControlServer, Controller};
use mynasim_harness::inspector::{stream::KEEP_ALIVE, Inspector};
use mynasim_harness::keycache::DirKeyCache;
use mynasim_harness::load::load_card;

struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// One request on a fresh connection, `Connection: close`, read to the end.
fn http(inspector: &Inspector, method: &str, target: &str, host: &str, headers: &[&str], body: &str) -> Answer {
    let mut stream = TcpStream::connect(inspector.addr()).unwrap();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    Answer { status, head: head.to_owned(), body: body.to_owned() }
}

#[test]
fn the_inspector_answers_only_with_its_token_and_bridges_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let card = load_card(None, &mut DirKeyCache::default_location()).unwrap();
    let controller = Arc::new(Controller::new(vec![(card, None)]));
    let server = ControlServer::start(Arc::clone(&controller), &dir.path().join("control.sock")).unwrap();
    let inspector = Inspector::start("127.0.0.1:0".parse().unwrap(), server.path()).unwrap();
    let url = inspector.url();
    let target = url.strip_prefix(&format!("http://{}", inspector.addr())).unwrap();
    let token = target.strip_prefix("/?token=").unwrap();
    let host = inspector.addr().to_string();
    let bearer = format!("Authorization: Bearer {token}");

    // No token, a wrong one, or another host name (DNS rebinding): refused, saying what to do.
    for (target, host) in [("/", host.as_str()), ("/api", &host), ("/events", &host), ("/?token=0123", &host), (target, "rebound.example")]
    {
        let answer = http(&inspector, "GET", target, host, &[], "");
        assert_eq!(answer.status, 403, "{target} at {host}: {}", answer.head);
        assert!(answer.body.contains("open the URL `mynasim serve --inspect` printed"), "{}", answer.body);
        assert!(!answer.body.contains(token));
    }
    let answer = http(&inspector, "POST", "/api", &host, &[], r#"{"op":"lock","pin":"auth"}"#);
    assert_eq!(answer.status, 403);
    assert!(!controller.status().cards[0].state.pins[0].blocked, "nothing done without the token");

    // The page, with its inline script allowed by this answer's nonce only.
    let page = http(&inspector, "GET", target, &format!("localhost:{}", inspector.addr().port()), &[], "");
    assert_eq!(page.status, 200);
    assert!(
        page.head.contains("Content-Type: text/html")
            && page.head.contains("Content-Security-Policy: default-src 'none'; script-src 'nonce-")
    );
    assert!(page.body.contains("<title>mynasim inspector</title>"));

    // A control request through POST /api: the protocol's reply; the card changed.
    let answer = http(&inspector, "POST", "/api", &host, &[&bearer], r#"{"id":"a","op":"lock","pin":"auth"}"#);
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, r#"{"id":"a","ok":true,"result":{"card":"default","done":"auth PIN locked (0 of 3 tries left)"}}"#)
    );
    assert!(controller.status().cards[0].state.pins[0].blocked);
    let answer = http(&inspector, "POST", "/api", &host, &[&bearer], r#"{"op":"lock","pin":"nope"}"#);
    assert_eq!(answer.status, 400);
    assert!(answer.body.contains(r#""ok":false"#) && answer.body.contains("unknown variant `nope`"), "{}", answer.body);
    assert_eq!(http(&inspector, "POST", "/api", &host, &[&bearer], r#"{"op":"watch"}"#).status, 400);
    assert_eq!(http(&inspector, "GET", "/api", &host, &[&bearer], "").status, 405);
    assert_eq!(http(&inspector, "GET", "/favicon.ico", &host, &[&bearer], "").status, 404);

    // The event stream: each control event as `data:`, as it happens.
    let mut events = TcpStream::connect(inspector.addr()).unwrap();
    write!(events, "GET /events?token={token} HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
    events.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut lines = BufReader::new(events.try_clone().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "HTTP/1.1 200 OK");
    assert!(lines.by_ref().map(Result::unwrap).take_while(|l| !l.is_empty()).any(|l| l.starts_with("Content-Type: text/event-stream")));
    assert_eq!(http(&inspector, "POST", "/api", &host, &[&bearer], r#"{"op":"unlock","pin":"auth"}"#).status, 200);
    let control = lines.by_ref().map(Result::unwrap).find(|l| l.starts_with("data: ") && l.contains(r#""event":"control""#)).unwrap();
    assert!(control.contains("auth PIN unlocked"), "{control}");
    assert!(controller.events().is_watched());

    // The browser goes: its watch connection is closed by the next keep-alive at the latest
    // (the hub notices at the next event).
    drop(lines);
    drop(events);
    let deadline = Instant::now() + 3 * KEEP_ALIVE;
    while controller.events().is_watched() {
        assert!(Instant::now() < deadline, "the watch connection outlived the browser");
        std::thread::sleep(Duration::from_millis(250));
        controller.handle(serde_json::from_str(r#"{"op":"unlock","pin":"sign"}"#).unwrap()).unwrap();
    }
}
