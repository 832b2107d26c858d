//! The web page in a real browser: headless Chromium driven over the DevTools protocol (its
//! own `--remote-debugging-port`, spoken over a WebSocket), pressing the page's buttons with
//! mouse events as a person would.
use super::{artefacts, Server};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// Chromium: `TEXTGAN_CHROMIUM`, or Debian's `/usr/bin/chromium` (`.ci/run` installs it).
fn chromium() -> Option<String> {
    let path = std::env::var("TEXTGAN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    std::path::Path::new(&path).exists().then_some(path)
}

struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    fn launch(path: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = Command::new(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1200,1400",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium starts");
        let mut port = None;
        for line in BufReader::new(child.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if let Some(rest) = line.split("ws://127.0.0.1:").nth(1) {
                port = rest.split('/').next().map(String::from);
                break;
            }
        }
        let port = port.expect("chromium printed its DevTools address");
        let list: Value = serde_json::from_str(
            &ureq::get(&format!("http://127.0.0.1:{port}/json/list"))
                .call()
                .unwrap()
                .into_string()
                .unwrap(),
        )
        .unwrap();
        let page = list
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "page")
            .expect("a page target");
        let (ws, _) = tungstenite::connect(page["webSocketDebuggerUrl"].as_str().unwrap()).unwrap();
        Browser {
            child,
            ws,
            next_id: 1,
            _profile: profile,
        }
    }

    /// Sends a DevTools command and returns its result (events in between are skipped).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::Text(msg)).unwrap();
        loop {
            if let Message::Text(t) = self.ws.read().unwrap() {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == id {
                    assert!(v["error"].is_null(), "{method}: {v}");
                    return v["result"].clone();
                }
            }
        }
    }

    /// The value of a JavaScript expression.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        assert!(r["exceptionDetails"].is_null(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is true.
    fn wait_for(&mut self, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.eval(expr) != Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {expr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A mouse click in the middle of the element `id`.
    fn click(&mut self, id: &str) {
        let r = self.eval(&format!(
            "(() => {{ const e = document.getElementById('{id}'); e.scrollIntoView(); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (r[0].as_f64().unwrap(), r[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let r = self.call(
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        let path = artefacts().join(name);
        std::fs::write(&path, png).unwrap();
        eprintln!("screenshot: {}", path.display());
        path
    }
}

/// Load the page, press Generate, see n coloured samples; score a sentence; switch to the
/// adversarial run and colour by the discriminator; save screenshots.
#[test]
fn web_page_in_headless_chromium() {
    let Some(path) = chromium() else {
        eprintln!("skipped: no chromium (apt-get install chromium, or set TEXTGAN_CHROMIUM)");
        return;
    };
    let s = Server::start(&[]);
    let mut b = Browser::launch(&path);
    b.call("Page.enable", json!({}));
    b.call("Page.navigate", json!({"url": format!("{}/", s.url)}));
    b.wait_for("document.body && document.body.dataset.ready === '1'");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#run option')].map(o => o.value).join(',')"),
        "mle,gan,labelled"
    );
    // Three samples.
    b.eval("(() => { const n = document.getElementById('n'); n.value = 3; n.dispatchEvent(new Event('input')); })()");
    b.click("generate");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 3");
    let coloured = b.eval(
        "[...document.querySelectorAll('#samples .sample')].every(s => { const t = s.querySelectorAll('.tok'); return t.length > 0 && [...t].every(x => x.style.background.startsWith('rgb') && x.title.startsWith('log p = ')); })",
    );
    assert_eq!(coloured, true);
    assert_eq!(b.eval("document.getElementById('error').textContent"), "");
    // Score a sentence of the user's.
    b.eval("document.getElementById('score-text').value = 'the cat sat on the mat'");
    b.click("score");
    b.wait_for("document.querySelectorAll('#scored .tok').length === 7");
    assert_eq!(
        b.eval("[...document.querySelectorAll('#scored .tok')].map(t => t.textContent).join(' ')"),
        "the cat sat on the mat <eos>"
    );
    // The training curves chart loaded as an image.
    b.wait_for("document.getElementById('chart').complete && document.getElementById('chart').naturalWidth > 0");
    // The sweep's quality-diversity plot.
    b.wait_for("document.getElementById('sweep-plot').complete && document.getElementById('sweep-plot').naturalWidth > 0");
    b.screenshot("serve-page-mle.png");
    // Switch to the adversarial run; colour by the discriminator.
    b.eval("(() => { const r = document.getElementById('run'); r.value = 'gan'; r.dispatchEvent(new Event('change')); })()");
    assert!(b
        .eval("document.getElementById('info').textContent")
        .as_str()
        .unwrap()
        .contains("seqgan"));
    assert_eq!(b.eval("document.getElementById('by-d').disabled"), false);
    b.click("generate");
    b.wait_for("document.querySelectorAll('#samples .sample').length === 3");
    let before = b.eval(
        "[...document.querySelectorAll('#samples .tok')].map(t => t.style.background).join('|')",
    );
    b.click("by-d");
    let after = b.eval(
        "[...document.querySelectorAll('#samples .tok')].map(t => t.style.background).join('|')",
    );
    assert_ne!(before, after, "colouring by D changed nothing");
    assert_eq!(
        b.eval(
            "[...document.querySelectorAll('#samples .tok')].every(t => t.dataset.d !== undefined)"
        ),
        true
    );
    b.screenshot("serve-page-gan.png");
}
