//! `POST /api`: one control request over HTTP.
//!
//! The body is a request object of the [control protocol](crate::control::protocol)
//! (`{"op":"lock","card":"default","pin":"auth"}`, an `id` is echoed); the answer is the
//! protocol's reply object. Each request opens a control connection of its own: a unix
//! socket and one hello line, far below what a click notices.
//!
//! | HTTP status | when |
//! |---|---|
//! | 200 | the control server answered (`ok` says whether it did what was asked) |
//! | 400 | the body is not a request (`watch` included: the event stream is `GET /events`) |
//! | 502 | the control socket does not answer (the cards' serve is gone) |

use std::path::Path;

use crate::control::client::{ClientError, ControlClient};
use crate::control::protocol::{Reply, Request};
use crate::control::server::{parse_request, reply};

/// A reply refusing the request, with its HTTP status.
pub fn refused(status: u16, error: String) -> (u16, Reply) {
    (status, reply(None, Err(error)))
}

/// Carries one request body to the control socket `control`; the HTTP status and reply.
pub fn answer(control: &Path, body: &[u8]) -> (u16, Reply) {
    let Ok(text) = std::str::from_utf8(body) else {
        return refused(400, "the body is not UTF-8 text: send one JSON request object, e.g. {\"op\":\"status\"}".into());
    };
    let (id, request) = match parse_request(text) {
        Ok(parsed) => parsed,
        Err(refusal) => return (400, refusal),
    };
    let request = match request {
        Request::Watch => {
            return (
                400,
                reply(id, Err("`watch` turns a connection into the event stream: open GET /events (an EventSource) instead".into())),
            )
        }
        // The page sends the path as typed: relative to where `serve` was started, as for
        // `mynasim ctl swap`.
        Request::Swap { card, profile } => match std::fs::canonicalize(&profile) {
            Ok(path) => Request::Swap { card, profile: path.display().to_string() },
            Err(e) => return (200, reply(id, Err(format!("cannot find profile {profile}: {e}")))),
        },
        request => request,
    };
    let outcome = ControlClient::connect(control).and_then(|mut client| client.request(&request));
    match outcome {
        Ok(result) => (200, reply(id, Ok(result))),
        Err(ClientError::Refused(error)) => (200, reply(id, Err(error))),
        Err(e) => (502, reply(id, Err(format!("the cards' control socket did not answer: {e}")))),
    }
}
