//! `GET /events`: the control event stream as Server-Sent Events.
//!
//! Each browser's stream is a `watch` connection of its own to the control socket; each
//! event line becomes one `data: JSON` message, and a `: keep-alive` comment goes out
//! every [`KEEP_ALIVE`] when nothing happens. Writing is how a browser that went away is
//! noticed (a keep-alive at the latest): then the watch connection is closed, and the
//! control server stops building events for it.
//!
//! Two threads per stream: one reads the watch connection (blocking, so no line is ever
//! cut by a timeout), one writes to the browser and owns the timing; closing the watch
//! socket ends the reader.

use std::io::Write;
use std::net::Shutdown;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tiny_http::Request;

use crate::control::client::ControlClient;

/// How often an idle stream sends a comment (proxies and the browser keep it open; a
/// browser gone is noticed at the next write).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// How many event lines wait for a slow browser before the reader waits too (then the
/// control server's own queue fills, and it says what was dropped).
const BACKLOG: usize = 256;

/// The response head, written by hand: tiny_http would chunk a body of unknown length
/// through a buffer that holds events back. `Connection: close` ends the body with the
/// connection; the browser's EventSource reconnects by itself after `retry` ms.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
Content-Type: text/event-stream; charset=utf-8\r\n\
Cache-Control: no-store\r\n\
X-Content-Type-Options: nosniff\r\n\
Connection: close\r\n\
\r\n\
retry: 1000\n\n";

/// Streams the events of the control socket `control` to the browser that sent
/// `request`, until either side goes.
pub fn serve(control: &Path, request: Request) {
    let events = match ControlClient::connect(control).and_then(ControlClient::watch) {
        Ok(events) => events,
        Err(e) => {
            return super::respond(
                request,
                502,
                "text/plain; charset=utf-8",
                format!("the cards' control socket did not answer: {e}\n"),
                &[],
            )
        }
    };
    let watch_socket = match events.socket().try_clone() {
        Ok(socket) => socket,
        Err(e) => return tracing::debug!("inspector: cannot share the watch socket: {e}"),
    };
    let (tx, rx) = mpsc::sync_channel::<String>(BACKLOG);
    let reader = std::thread::spawn(move || {
        let mut events = events;
        while let Ok(Some(line)) = events.next_line() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut browser = request.into_writer();
    if let Err(e) = forward(&mut *browser, rx) {
        tracing::debug!("inspector: event stream ended: {e}");
    }
    // Closing the watch connection ends the reader (and the server's watcher).
    let _ = watch_socket.shutdown(Shutdown::Both);
    let _ = reader.join();
}

/// Writes the head, then each line as an event, until the reader ends (`Ok`) or the
/// browser is gone (`Err`). Takes the receiver so that it is gone on return: a reader
/// waiting for room then stops.
fn forward(browser: &mut dyn Write, lines: mpsc::Receiver<String>) -> std::io::Result<()> {
    browser.write_all(HEAD)?;
    browser.flush()?;
    loop {
        match lines.recv_timeout(KEEP_ALIVE) {
            Ok(line) => write!(browser, "data: {line}\n\n")?,
            Err(RecvTimeoutError::Timeout) => browser.write_all(b": keep-alive\n\n")?,
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
        browser.flush()?;
    }
}
