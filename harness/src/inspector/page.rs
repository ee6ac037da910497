//! The inspector's one page: `assets/index.html` with `assets/inspector.css` and
//! `assets/inspector.js` put inline, all three compiled into the binary (the page needs
//! nothing from the network, so it works on a machine that reaches no CDN).
//!
//! Inline, because every route needs the token: a `<script src>` would have to carry it
//! too. A fresh nonce per answer is the only way scripts and styles run
//! (`Content-Security-Policy`), so nothing a card or profile puts on the page (a holder's
//! name, an APDU's decoded name) can run as code even if the page mishandled it; the page
//! only ever sets text, never HTML.

use super::access::random_hex;

const TEMPLATE: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/inspector.css");
const SCRIPT: &str = include_str!("assets/inspector.js");

/// The page as sent once: its HTML and the policy that goes with it.
#[derive(Debug)]
pub struct Page {
    /// The HTML document.
    pub html: String,
    /// The `Content-Security-Policy` header: only this answer's inline style and script,
    /// requests to this origin only.
    pub csp: String,
}

impl Page {
    /// The page with a fresh nonce.
    pub fn new() -> Result<Page, rand_core::Error> {
        let nonce = random_hex::<16>()?;
        let html = TEMPLATE.replace("{{style}}", STYLE).replace("{{script}}", SCRIPT).replace("{{nonce}}", &nonce);
        let csp = format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; img-src data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        );
        Ok(Page { html, csp })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_whole_and_needs_nothing_from_outside() {
        let page = Page::new().unwrap();
        assert!(!page.html.contains("{{"), "every placeholder filled");
        assert!(page.html.contains("EventSource") && page.html.contains("data-action"));
        for outside in ["http://", "https://", "//cdn", "src=\"/", "href=\"/"] {
            assert!(!page.html.contains(outside), "{outside} in the page");
        }
        let nonce = page.csp.split("'nonce-").nth(1).and_then(|s| s.split('\'').next()).unwrap();
        assert_eq!(page.html.matches(&format!("nonce=\"{nonce}\"")).count(), 2, "the style and the script");
        assert_ne!(Page::new().unwrap().csp, page.csp, "a nonce per answer");
    }
}
