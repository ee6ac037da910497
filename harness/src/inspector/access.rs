//! Who may use the inspector: whoever holds the access token, through an address of this
//! machine.
//!
//! The token is 128 random bits from the operating system, in hex. It travels in the URL
//! `serve` prints (`?token=`), or in an `Authorization: Bearer` header, and is compared in
//! constant time. The `Host` header must name the address the inspector listens on (or
//! `localhost` with its port): a page of another site whose name was made to resolve to
//! 127.0.0.1 (DNS rebinding) sends its own name there, and is refused before the token is
//! even looked at.

use std::fmt;
use std::net::SocketAddr;

use rand_core::{OsRng, RngCore};
use subtle::ConstantTimeEq;

/// How many random bytes a token has (128 bits).
const TOKEN_BYTES: usize = 16;

/// The secret that opens the inspector.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// A fresh token from the operating system's random source.
    pub fn generate() -> Result<AccessToken, rand_core::Error> {
        random_hex::<TOKEN_BYTES>().map(AccessToken)
    }

    /// The token as it goes into a URL or a header (hex).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        // The length is no secret (always 32 hex digits); the contents are compared whole.
        self.0.len() == candidate.len() && bool::from(self.0.as_bytes().ct_eq(candidate.as_bytes()))
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

/// `N` bytes from the operating system's random source, in hex (tokens, CSP nonces).
pub fn random_hex<const N: usize>() -> Result<String, rand_core::Error> {
    let mut bytes = [0u8; N];
    OsRng.try_fill_bytes(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Why a request was refused before it reached a route.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The `Host` header is missing or names another host.
    #[error(
        "this inspector answers only at http://{expected}/ (the request named host {got:?}); open the URL `mynasim serve --inspect` printed"
    )]
    WrongHost {
        /// The address it listens on.
        expected: SocketAddr,
        /// The `Host` header sent, if any.
        got: Option<String>,
    },
    /// No token, or not this one.
    #[error("no valid access token: open the URL `mynasim serve --inspect` printed (it carries ?token=...)")]
    NoToken,
}

/// The rules for one inspector: its address and its token.
#[derive(Clone, Debug)]
pub struct Access {
    addr: SocketAddr,
    token: AccessToken,
}

impl Access {
    /// The rules of an inspector listening at `addr` (a loopback address).
    pub fn new(addr: SocketAddr, token: AccessToken) -> Access {
        Access { addr, token }
    }

    /// The token.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// Checks a request's `Host` header, URL (path and query) and `Authorization` header.
    pub fn check(&self, host: Option<&str>, url: &str, authorization: Option<&str>) -> Result<(), Refusal> {
        if !host.is_some_and(|h| self.is_own_host(h)) {
            return Err(Refusal::WrongHost { expected: self.addr, got: host.map(str::to_owned) });
        }
        let from_query = query_value(url, "token");
        let from_header = authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim);
        if [from_query, from_header].into_iter().flatten().any(|t| self.token.matches(t)) {
            Ok(())
        } else {
            Err(Refusal::NoToken)
        }
    }

    /// `127.0.0.1:PORT` (the address listened on, `[::1]:PORT` for IPv6) or
    /// `localhost:PORT`.
    fn is_own_host(&self, host: &str) -> bool {
        let port = self.addr.port();
        host == self.addr.to_string() || host.eq_ignore_ascii_case(&format!("localhost:{port}"))
    }
}

/// The value of `name` in a URL's query string, as sent (tokens are hex: nothing to
/// decode).
pub fn query_value<'a>(url: &'a str, name: &str) -> Option<&'a str> {
    let (_, query) = url.split_once('?')?;
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// A URL's path, without its query.
pub fn path_of(url: &str) -> &str {
    url.split_once('?').map_or(url, |(path, _)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access() -> Access {
        Access::new("127.0.0.1:4100".parse().unwrap(), AccessToken("00ff".repeat(8)))
    }

    #[test]
    fn tokens_are_128_random_bits_in_hex() -> Result<(), rand_core::Error> {
        let (a, b) = (AccessToken::generate()?, AccessToken::generate()?);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.matches(a.as_str()) && !a.matches(b.as_str()) && !a.matches(""));
        assert_eq!(format!("{a:?}"), "AccessToken(..)", "never printed by accident");
        Ok(())
    }

    #[test]
    fn the_token_may_come_in_the_query_or_a_bearer_header() {
        let access = access();
        let token = "00ff".repeat(8);
        let host = Some("127.0.0.1:4100");
        assert_eq!(access.check(host, &format!("/?token={token}"), None), Ok(()));
        assert_eq!(access.check(host, &format!("/events?x=1&token={token}"), None), Ok(()));
        assert_eq!(access.check(host, "/api", Some(&format!("Bearer {token}"))), Ok(()));
        assert_eq!(access.check(host, "/", None), Err(Refusal::NoToken));
        assert_eq!(access.check(host, "/?token=00ff", None), Err(Refusal::NoToken));
        assert_eq!(access.check(host, "/api", Some(&format!("Basic {token}"))), Err(Refusal::NoToken));
    }

    #[test]
    fn other_hosts_are_refused_even_with_the_token() {
        let access = access();
        let url = format!("/?token={}", "00ff".repeat(8));
        assert_eq!(access.check(Some("LOCALHOST:4100"), &url, None), Ok(()));
        for host in [None, Some("evil.example:4100"), Some("127.0.0.1:4101"), Some("127.0.0.1")] {
            assert!(matches!(access.check(host, &url, None), Err(Refusal::WrongHost { .. })), "{host:?}");
        }
    }
}
