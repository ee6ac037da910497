//! The web inspector (`mynasim serve --inspect`): one page on 127.0.0.1 showing every card
//! live (presence, PIN counters, the current application and EF, faults, certificates),
//! the APDU stream decoded, and buttons for the control operations.
//!
//! It is a client of the [control socket](crate::control), not part of the card server:
//! in private mode the cards' serve runs in a network namespace whose 127.0.0.1 is not the
//! user's, so the inspector runs in the user-facing `serve` process and reaches the cards
//! through the socket path it knows. Every HTTP request is checked by [`access`] (the
//! token `serve` prints, the `Host` header), then:
//!
//! | route | answer |
//! |---|---|
//! | `GET /` | the page ([`page`]: HTML with its CSS and JS, all embedded in the binary) |
//! | `POST /api` | the body is one control request object; the answer is its reply ([`api`]) |
//! | `GET /events` | Server-Sent Events: each control event line as `data: JSON` ([`stream`]) |
//!
//! # The HTTP server
//!
//! [`tiny_http`]: synchronous and thread-based like the rest of the harness (no async
//! runtime in the binary for one local page), five small dependencies, and widely used
//! (rouille is built on it). Its responses with no known length are chunked through an
//! 8 KiB buffer, which would hold Server-Sent Events back; [`tiny_http::Request::into_writer`]
//! hands over the connection instead, and [`stream`] writes the event stream on it
//! itself, flushing each event. (hyper or axum would need tokio; astra, a synchronous
//! front to hyper, brings hyper's whole stack for the same three routes.)

pub mod access;
pub mod api;
pub mod page;
pub mod stream;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use tiny_http::{Header, Method, Request, Response};

use access::{path_of, Access, AccessToken};

/// The largest `POST /api` body taken (a snapshot to restore is the largest request).
const MAX_BODY: u64 = 1 << 20;

/// Why the inspector cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InspectorError {
    /// The address is not this machine's own.
    #[error(
        "the inspector controls the cards and has no login beyond its token, so it listens on this machine only: give a loopback address such as 127.0.0.1:8080, not {0} (from another machine, use an SSH tunnel: ssh -L 8080:127.0.0.1:8080)"
    )]
    NotLoopback(SocketAddr),
    /// The address cannot be listened on.
    #[error(
        "cannot listen on {addr} for the inspector: {source} (give another port with --inspect=127.0.0.1:PORT, or none for a free one)"
    )]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The operating system gave no random bytes for the token.
    #[error("cannot make the inspector's access token: {0}")]
    Random(#[from] rand_core::Error),
    /// The HTTP server did not start.
    #[error("cannot start the inspector's HTTP server: {0}")]
    Server(String),
}

/// What every request handler needs.
#[derive(Debug)]
struct Shared {
    access: Access,
    /// The control socket of the cards.
    control: PathBuf,
}

/// A running inspector; it stops when dropped.
pub struct Inspector {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    token: AccessToken,
    thread: Option<JoinHandle<()>>,
}

impl Inspector {
    /// Listens at `addr` (a loopback address; port 0 picks a free one) and serves the
    /// cards behind the control socket `control`, each request on a thread of its own.
    pub fn start(addr: SocketAddr, control: &Path) -> Result<Inspector, InspectorError> {
        if !addr.ip().is_loopback() {
            return Err(InspectorError::NotLoopback(addr));
        }
        let listener = TcpListener::bind(addr).map_err(|source| InspectorError::Bind { addr, source })?;
        let addr = listener.local_addr().map_err(|source| InspectorError::Bind { addr, source })?;
        let token = AccessToken::generate()?;
        let server = Arc::new(tiny_http::Server::from_listener(listener, None).map_err(|e| InspectorError::Server(e.to_string()))?);
        let shared = Arc::new(Shared { access: Access::new(addr, token.clone()), control: control.to_path_buf() });
        let accepting = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            for request in accepting.incoming_requests() {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || handle(&shared, request));
            }
        });
        Ok(Inspector { server, addr, token, thread: Some(thread) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to open: the page, with the access token.
    pub fn url(&self) -> String {
        format!("http://{}/?token={}", self.addr, self.token.as_str())
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The value of a request's header `name`.
fn header<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request.headers().iter().find(|h| h.field.equiv(name)).map(|h| h.value.as_str())
}

/// Checks access, then answers by route.
fn handle(shared: &Shared, mut request: Request) {
    let checked = shared.access.check(header(&request, "Host"), request.url(), header(&request, "Authorization"));
    if let Err(refusal) = checked {
        tracing::debug!("inspector: refused {} {}: {refusal}", request.method(), path_of(request.url()));
        return respond(request, 403, "text/plain; charset=utf-8", format!("{refusal}\n"), &[]);
    }
    let path = path_of(request.url()).to_owned();
    match (request.method(), path.as_str()) {
        (Method::Get, "/") => {
            let page = match page::Page::new() {
                Ok(page) => page,
                Err(e) => return respond(request, 500, "text/plain; charset=utf-8", format!("cannot make a CSP nonce: {e}\n"), &[]),
            };
            respond(request, 200, "text/html; charset=utf-8", page.html, &[("Content-Security-Policy", &page.csp)]);
        }
        (Method::Post, "/api") => {
            let mut body = Vec::new();
            let read = request.as_reader().take(MAX_BODY).read_to_end(&mut body);
            let (status, reply) = match read {
                Ok(_) => api::answer(&shared.control, &body),
                Err(e) => api::refused(400, format!("cannot read the request body: {e}")),
            };
            let json = serde_json::to_string(&reply).unwrap_or_else(|e| format!("{{\"ok\":false,\"error\":\"internal: {e}\"}}"));
            respond(request, status, "application/json", json, &[]);
        }
        (Method::Get, "/events") => stream::serve(&shared.control, request),
        (_, "/" | "/api" | "/events") => {
            let allowed = if path == "/api" { "POST" } else { "GET" };
            respond(request, 405, "text/plain; charset=utf-8", format!("{path} answers {allowed} only\n"), &[("Allow", allowed)]);
        }
        _ => respond(request, 404, "text/plain; charset=utf-8", format!("no {path} here: the inspector has /, /api and /events\n"), &[]),
    }
}

/// The headers of every answer: nothing cached, sniffed, framed or referred.
const COMMON_HEADERS: &[(&str, &str)] = &[
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
];

/// Sends an answer (a client gone by now is no error of ours).
fn respond(request: Request, status: u16, content_type: &str, body: impl Into<Vec<u8>>, extra: &[(&str, &str)]) {
    let mut response = Response::from_data(body.into()).with_status_code(status);
    let headers = [("Content-Type", content_type)].into_iter().chain(COMMON_HEADERS.iter().copied()).chain(extra.iter().copied());
    for (field, value) in headers {
        // Every field and value here is ASCII, which is all `from_bytes` refuses.
        if let Ok(header) = Header::from_bytes(field.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    if let Err(e) = request.respond(response) {
        tracing::debug!("inspector: answer not sent: {e}");
    }
}
