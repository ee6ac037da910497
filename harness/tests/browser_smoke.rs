//! The browser test support (tests/browser/mod.rs) against a real headless Chromium: a page
//! served from a thread of this test, a click that changes it, typed text (Japanese too),
//! waits, a wait that fails with the page's text in its error, and a screenshot.
//!
//! Set `MYNASIM_KEEP_BROWSER_ARTIFACTS=1` to keep the screenshot (its path is printed).

mod browser;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use browser::Browser;

const PAGE: &str = r#"<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>browser smoke</title></head>
<body>
<h1>マイナンバーカード 検査</h1>
<label>氏名 <input id="name"></label>
<button id="go" onclick="document.getElementById('status').textContent = '押しました: ' + document.getElementById('name').value">押す</button>
<p id="status">未押下</p>
</body></html>
"#;

/// Serves [`PAGE`] at `/` (404 elsewhere) from a thread per connection, forever (the
/// threads end with the test process); returns the page's URL.
fn serve_page() -> std::io::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/", listener.local_addr()?);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            // One thread each: the browser may open a connection that it never uses.
            std::thread::spawn(move || answer(stream));
        }
    });
    Ok(url)
}

fn answer(mut stream: TcpStream) {
    let mut request_line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // The headers, up to the empty line; a GET has no body.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let (status, body) = if request_line.starts_with("GET / ") { ("200 OK", PAGE) } else { ("404 Not Found", "not found") };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

#[test]
fn click_changes_the_page_and_a_screenshot_is_saved() -> anyhow::Result<()> {
    let url = serve_page()?;
    let dir = tempfile::Builder::new().prefix("browser_smoke-").tempdir()?;
    let browser = Browser::start()?;
    browser.goto(&url)?;
    assert_eq!(browser.title()?, "browser smoke");
    assert_eq!(browser.find("#status")?.text()?, "未押下");

    browser.type_into("#name", "渡邉 Taro")?;
    assert_eq!(browser.find("#name")?.prop("value")?.as_deref(), Some("渡邉 Taro"));
    browser.find_text("押す")?.click()?;
    browser.wait_for_text("押しました: 渡邉 Taro")?;
    assert_eq!(browser.find("#status")?.text()?, "押しました: 渡邉 Taro");

    // A wait that cannot succeed says what it waited for and what the page showed.
    let error = browser.wait_until("a miracle", Duration::from_millis(200), |_| Ok(false)).unwrap_err().to_string();
    assert!(error.contains("a miracle") && error.contains("押しました: 渡邉 Taro") && error.contains(&url), "{error}");
    let error = browser.find("#missing").err().map(|e| e.to_string()).unwrap_or_default();
    assert!(error.contains("#missing") && error.contains("マイナンバーカード 検査"), "{error}");

    let shot = dir.path().join("after-click.png");
    browser.screenshot(&shot)?;
    let png = std::fs::read(&shot)?;
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{} bytes", png.len());
    if std::env::var_os("MYNASIM_KEEP_BROWSER_ARTIFACTS").is_some() {
        println!("screenshot kept at {}", dir.keep().join("after-click.png").display());
    }
    Ok(())
}
