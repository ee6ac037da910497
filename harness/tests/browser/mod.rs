//! Shared by the tests that drive a real browser: a headless Chromium (Debian's `chromium`)
//! under chromedriver (Debian's `chromium-driver`), spoken to over WebDriver by the
//! `fantoccini` crate, behind a blocking API so that a page test reads top to bottom.
//!
//! ```ignore
//! mod browser;
//!
//! let browser = browser::Browser::start()?;
//! browser.goto(&url)?;
//! browser.find_text("送信")?.click()?;
//! browser.wait_for_text("送信しました")?;
//! browser.screenshot(&dir.path().join("after.png"))?;
//! ```
//!
//! - Both programs must be installed: a missing one fails the test (CI installs them, see
//!   `ci/setup.sh`), with the `apt-get install` line that brings them in. The paths can be
//!   overridden with `MYNASIM_CHROMIUM` and `MYNASIM_CHROMEDRIVER`.
//! - Each [`Browser`] is its own chromedriver, on a port the system picks (`--port=0`, the
//!   port read from its first lines), and its own browser with a fresh profile, so tests may
//!   run side by side. Dropping it ends the session (chromedriver closes the browser), then
//!   chromedriver, then the browser process if it is still there: a failing test leaves
//!   nothing running.
//! - Chromium runs with [`CHROMIUM_ARGS`]; see there for why each flag is needed.
//! - The async client runs on a current-thread tokio runtime owned by the [`Browser`]; every
//!   call blocks until the browser answers, at most [`COMMAND_TIMEOUT`].
//! - Errors are `anyhow` errors that say what was tried and, where a page is involved, its
//!   URL and visible text, so that a failure reads without a screenshot.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use fantoccini::{elements, Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// The flags Chromium needs here, each for a reason:
/// - `--headless=new`: no display (the "new" headless mode is the real browser, not the old
///   separate implementation);
/// - `--no-sandbox`: the tests run as root (CI, these machines), and Chromium refuses to
///   start as root with its sandbox ("Running as root without --no-sandbox is not
///   supported");
/// - `--disable-gpu`: no GPU; software rendering without probing for one;
/// - `--disable-dev-shm-usage`: shared memory files in `TMPDIR`, since containers often
///   give /dev/shm only 64 MiB and the browser crashes when it runs out;
/// - `--window-size`: a fixed viewport, so that screenshots are the same on every machine.
pub const CHROMIUM_ARGS: &[&str] =
    &["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800"];

/// The longest one WebDriver call may take before the test fails (a page load included).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// How long [`Browser::wait_for`] and [`Browser::wait_for_text`] wait.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long chromedriver may take to print its port, and the browser to start. Generous:
/// the tests share two cores with the rest of the suite.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How often a wait looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// At most this much of a page's text goes into an error message.
const PAGE_TEXT_IN_ERRORS: usize = 2000;

const INSTALL_HINT: &str = "install both with `apt-get install chromium chromium-driver` (ci/setup.sh does)";

/// A headless Chromium under its own chromedriver, with one WebDriver session open.
pub struct Browser {
    runtime: tokio::runtime::Runtime,
    /// `None` once the session is closed (in `Drop`).
    client: Option<Client>,
    driver: Child,
    /// What chromedriver printed (stdout and stderr), for error messages.
    driver_log: Arc<Mutex<String>>,
    /// The browser's process, as chromedriver reports it (`goog:processID`).
    browser_pid: Option<nix::unistd::Pid>,
    /// chromedriver's and the browser's `TMPDIR`: the profile, the singleton socket and the
    /// shared memory files are made in it, so removing it leaves nothing behind. Dropped
    /// last, once both have ended.
    tmp: tempfile::TempDir,
}

/// One element of the page, found by [`Browser::find`], [`Browser::find_text`] or a wait.
pub struct Element<'b> {
    browser: &'b Browser,
    inner: elements::Element,
    /// How it was found (`CSS "#go"`, `text "送信"`), for error messages.
    what: String,
}

/// The Chromium launcher: `MYNASIM_CHROMIUM`, else Debian's `/usr/bin/chromium`.
pub fn chromium_path() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("MYNASIM_CHROMIUM").map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !path.is_file() {
        bail!("headless Chromium not found at {}: {INSTALL_HINT}", path.display());
    }
    Ok(path)
}

/// chromedriver: `MYNASIM_CHROMEDRIVER`, else the first on `PATH`, else Debian's
/// `/usr/bin/chromedriver`.
pub fn chromedriver_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MYNASIM_CHROMEDRIVER") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("MYNASIM_CHROMEDRIVER names {}, which does not exist: {INSTALL_HINT}", path.display());
        }
        return Ok(path);
    }
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>());
    on_path
        .map(|dir| dir.join("chromedriver"))
        .chain([PathBuf::from("/usr/bin/chromedriver")])
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow!("chromedriver not found on PATH nor at /usr/bin/chromedriver: {INSTALL_HINT}"))
}

impl Browser {
    /// Starts chromedriver on a free loopback port and opens a session on a new headless
    /// Chromium ([`CHROMIUM_ARGS`]).
    pub fn start() -> anyhow::Result<Browser> {
        let chromium = chromium_path()?;
        let chromedriver = chromedriver_path()?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
        let tmp = tempfile::Builder::new().prefix("mynasim-browser-").tempdir().context("a temporary folder for the browser")?;
        let mut driver = Command::new(&chromedriver)
            .arg("--port=0")
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let driver_log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        if let Some(stdout) = driver.stdout.take() {
            let log = Arc::clone(&driver_log);
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    // "ChromeDriver was started successfully on port 40007." (its first line
                    // says "on port 0": the port asked for).
                    if let Some(port) =
                        line.split("started successfully on port ").nth(1).and_then(|p| p.trim_end_matches('.').parse::<u16>().ok())
                    {
                        let _ = port_tx.send(port);
                    }
                    append_line(&log, &line);
                }
            });
        }
        if let Some(mut stderr) = driver.stderr.take() {
            let log = Arc::clone(&driver_log);
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                append_line(&log, &text);
            });
        }
        // From here on, dropping `browser` stops chromedriver whatever fails next.
        let mut browser = Browser { runtime, client: None, driver, driver_log, browser_pid: None, tmp };
        let port = port_rx.recv_timeout(START_TIMEOUT).map_err(|_| {
            anyhow!("{} printed no port within {START_TIMEOUT:?}; it said:\n{}", chromedriver.display(), browser.driver_log())
        })?;

        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), "chrome".into());
        capabilities.insert("goog:chromeOptions".into(), serde_json::json!({ "binary": chromium, "args": CHROMIUM_ARGS }));
        let webdriver = format!("http://127.0.0.1:{port}");
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connect = builder.capabilities(capabilities).connect(&webdriver);
        let client = match browser.block_on(START_TIMEOUT, connect) {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => bail!("chromedriver could not start {}: {e}; chromedriver said:\n{}", chromium.display(), browser.driver_log()),
            Err(_) => bail!("{} did not start within {START_TIMEOUT:?}; chromedriver said:\n{}", chromium.display(), browser.driver_log()),
        };
        browser.browser_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| i32::try_from(p).ok())
            .map(nix::unistd::Pid::from_raw);
        browser.client = Some(client);
        Ok(browser)
    }

    fn client(&self) -> &Client {
        // Only `Drop` takes the client.
        self.client.as_ref().unwrap_or_else(|| unreachable!("the session is open until the Browser is dropped"))
    }

    /// Runs `future` on the runtime for at most `timeout`.
    fn block_on<F: std::future::Future>(&self, timeout: Duration, future: F) -> Result<F::Output, tokio::time::error::Elapsed> {
        // The timer is made inside the runtime: tokio's timers need one to exist.
        self.runtime.block_on(async { tokio::time::timeout(timeout, future).await })
    }

    /// Runs one WebDriver call to its end, at most [`COMMAND_TIMEOUT`]; `what` names it in
    /// the error.
    fn run<T, E>(&self, what: impl std::fmt::Display, call: impl std::future::Future<Output = Result<T, E>>) -> anyhow::Result<T>
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        match self.block_on(COMMAND_TIMEOUT, call) {
            Ok(result) => result.with_context(|| what.to_string()),
            Err(_) => bail!("{what}: no answer from the browser within {COMMAND_TIMEOUT:?}"),
        }
    }

    /// What chromedriver printed so far.
    pub fn driver_log(&self) -> String {
        self.driver_log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Loads `url` and waits for the page's load event.
    pub fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.run(format_args!("loading {url}"), self.client().goto(url))
    }

    /// The URL of the current page.
    pub fn url(&self) -> anyhow::Result<String> {
        Ok(self.run("reading the URL", self.client().current_url())?.to_string())
    }

    /// The current page's title.
    pub fn title(&self) -> anyhow::Result<String> {
        self.run("reading the title", self.client().title())
    }

    /// The page's visible text (`document.body.innerText`), as a person reads it.
    pub fn page_text(&self) -> anyhow::Result<String> {
        let text = self.execute("return document.body ? document.body.innerText : '';", vec![])?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` (a function body: `return` gives the value) with `args` as `arguments`.
    pub fn execute(&self, script: &str, args: Vec<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
        self.run("running a script", self.client().execute(script, args))
    }

    /// The first element matching the CSS `selector`; fails at once if there is none.
    pub fn find(&self, selector: &str) -> anyhow::Result<Element<'_>> {
        let what = format!("CSS {selector:?}");
        let found = self.block_on(COMMAND_TIMEOUT, self.client().find(Locator::Css(selector)));
        self.found(what, found)
    }

    /// Every element matching the CSS `selector` (maybe none).
    pub fn find_all(&self, selector: &str) -> anyhow::Result<Vec<Element<'_>>> {
        let all = self.run(format_args!("finding CSS {selector:?}"), self.client().find_all(Locator::Css(selector)))?;
        Ok(all.into_iter().map(|inner| Element { browser: self, inner, what: format!("CSS {selector:?}") }).collect())
    }

    /// The innermost element whose text contains `text` (after collapsing white space):
    /// for `<button>送信</button>`, the button; fails at once if there is none.
    pub fn find_text(&self, text: &str) -> anyhow::Result<Element<'_>> {
        let literal = xpath_literal(text);
        let xpath = format!("//body//*[contains(normalize-space(.), {literal}) and not(.//*[contains(normalize-space(.), {literal})])]");
        let what = format!("text {text:?}");
        let found = self.block_on(COMMAND_TIMEOUT, self.client().find(Locator::XPath(&xpath)));
        self.found(what, found)
    }

    fn found(
        &self,
        what: String,
        found: Result<Result<elements::Element, fantoccini::error::CmdError>, tokio::time::error::Elapsed>,
    ) -> anyhow::Result<Element<'_>> {
        match found {
            Ok(Ok(inner)) => Ok(Element { browser: self, inner, what }),
            Ok(Err(e)) if e.is_no_such_element() => bail!("no element matches {what}{}", self.page_report()),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!("finding {what}"))),
            Err(_) => bail!("finding {what}: no answer from the browser within {COMMAND_TIMEOUT:?}"),
        }
    }

    /// Clicks the first element matching the CSS `selector`.
    pub fn click(&self, selector: &str) -> anyhow::Result<()> {
        self.on_fresh(selector, |e| e.click())
    }

    /// Types `text` into the first element matching the CSS `selector`.
    pub fn type_into(&self, selector: &str, text: &str) -> anyhow::Result<()> {
        self.on_fresh(selector, |e| e.type_text(text))
    }

    /// Finds `selector` and acts on it, finding it again when the page replaced the element
    /// in between (a live page re-rendering between the find and the action: WebDriver's
    /// "stale element reference").
    fn on_fresh(&self, selector: &str, act: impl Fn(Element<'_>) -> anyhow::Result<()>) -> anyhow::Result<()> {
        let mut tries = 0;
        loop {
            match act(self.find(selector)?) {
                Err(e) if tries < 5 && format!("{e:#}").contains("stale element") => tries += 1,
                done => return done,
            }
        }
    }

    /// Waits until `ready` says yes, looking every 50 ms for at most `timeout`. An error
    /// from `ready` counts as "not yet" (an element not there yet); the last one is in the
    /// timeout's error, with `what`, the page's URL and its text.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut ready: impl FnMut(&Browser) -> anyhow::Result<bool>) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let last_error = match ready(self) {
                Ok(true) => return Ok(()),
                Ok(false) => None,
                Err(e) => Some(e),
            };
            if Instant::now() >= deadline {
                let last = last_error.map(|e| format!("\nlast error: {e:#}")).unwrap_or_default();
                bail!("timed out after {timeout:?} waiting for {what}{last}{}", self.page_report());
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits (at most [`WAIT_TIMEOUT`]) for an element matching the CSS `selector`.
    pub fn wait_for(&self, selector: &str) -> anyhow::Result<Element<'_>> {
        self.wait_until(&format!("an element matching CSS {selector:?}"), WAIT_TIMEOUT, |b| Ok(b.find(selector).is_ok()))?;
        self.find(selector)
    }

    /// Waits (at most [`WAIT_TIMEOUT`]) until the page's visible text contains `text`.
    pub fn wait_for_text(&self, text: &str) -> anyhow::Result<()> {
        self.wait_until(&format!("the text {text:?}"), WAIT_TIMEOUT, |b| Ok(b.page_text()?.contains(text)))
    }

    /// Saves a PNG of the viewport at `path` (its folder made if missing).
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self.run("taking a screenshot", self.client().screenshot())?;
        write_png(path, &png)
    }

    /// ": URL …, page text: …" for an error message; best effort, never fails.
    fn page_report(&self) -> String {
        let url = self.url().unwrap_or_else(|e| format!("(unknown: {e})"));
        let text = match self.page_text() {
            Ok(text) if text.chars().count() > PAGE_TEXT_IN_ERRORS => {
                format!("{}… ({} characters)", text.chars().take(PAGE_TEXT_IN_ERRORS).collect::<String>(), text.chars().count())
            }
            Ok(text) => text,
            Err(e) => format!("(unreadable: {e:#})"),
        };
        format!("\non page {url}\npage text:\n{text}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        if let Some(client) = self.client.take() {
            // Deleting the session makes chromedriver ask the browser to quit ...
            let _ = self.block_on(Duration::from_secs(10), client.close());
        }
        // ... which it does in its own time: a browser killed while it quits leaves files
        // behind. Its parent, chromedriver, reaps it.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut running = self.browser_pid.filter(|&pid| kill(pid, None).is_ok());
        while running.is_some() && Instant::now() < deadline {
            std::thread::sleep(POLL_INTERVAL);
            running = running.filter(|&pid| kill(pid, None).is_ok());
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(pid) = running {
            // The session could not be closed. Signalled only while known to be there (an
            // orphan is not reaped before init gets to it), never a reused process id.
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

impl Element<'_> {
    fn run<T>(&self, action: &str, call: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>) -> anyhow::Result<T> {
        self.browser.run(format_args!("{action} the element found by {}", self.what), call)
    }

    /// Clicks it (as a person would: it must be visible and not covered).
    pub fn click(&self) -> anyhow::Result<()> {
        self.run("clicking", self.inner.click())
    }

    /// Types `text` into it, after what it already holds.
    pub fn type_text(&self, text: &str) -> anyhow::Result<()> {
        self.run("typing into", self.inner.send_keys(text))
    }

    /// Empties an input or text area.
    pub fn clear(&self) -> anyhow::Result<()> {
        self.run("clearing", self.inner.clear())
    }

    /// Its visible text.
    pub fn text(&self) -> anyhow::Result<String> {
        self.run("reading the text of", self.inner.text())
    }

    /// Its attribute `name` as written in the HTML, if present.
    pub fn attr(&self, name: &str) -> anyhow::Result<Option<String>> {
        self.run("reading an attribute of", self.inner.attr(name))
    }

    /// Its DOM property `name` (`value` for what an input holds now), if any.
    pub fn prop(&self, name: &str) -> anyhow::Result<Option<String>> {
        self.run("reading a property of", self.inner.prop(name))
    }

    /// Saves a PNG of just this element at `path` (its folder made if missing).
    pub fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self.run("taking a screenshot of", self.inner.screenshot())?;
        write_png(path, &png)
    }
}

fn write_png(path: &Path, png: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}

fn append_line(log: &Mutex<String>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.push_str(line);
        if !line.ends_with('\n') {
            log.push('\n');
        }
    }
}

/// `text` as an XPath 1.0 string literal (which has no escapes: a text with both quote
/// kinds becomes a `concat(…)`).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|part| format!("'{part}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}
