//! `textgan serve` end to end: the binary on a free loopback port, driven over HTTP like a
//! client would (and, where Chromium is installed, by a headless browser), and `textgan report`.
#![cfg(feature = "serve")]
mod common;
use common::{gan_args, ok, Fixture};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Three tiny runs, trained once for all tests: MLE, SeqGAN (with its discriminator) and a
/// labelled run whose two classes have disjoint words.
struct Runs {
    f: Fixture,
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let f = Fixture::new();
        f.train("mle", 8, &[]);
        let gan = gan_args("seqgan", 4);
        f.train(
            "gan",
            1000,
            &gan.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let mut tab = String::new();
        for i in 0..24 {
            let w =
                |ws: [&str; 4]| format!("{} {} {}", ws[i % 4], ws[(i + 1) % 4], ws[(i + 2) % 4]);
            tab.push_str(&format!(
                "animal\t{}\ncolour\t{}\n",
                w(["cat", "dog", "cow", "owl"]),
                w(["red", "blue", "pink", "gold"])
            ));
        }
        std::fs::write(f.path("labelled.tsv"), tab).unwrap();
        let sets = [
            "data.source=text".to_string(),
            format!("data.train=\"{}\"", f.s("labelled.tsv")),
            "data.labelled=true".into(),
            "generator.embed_dim=16".into(),
            "generator.hidden_dim=32".into(),
            "train.batch_size=8".into(),
            "train.eval_every=60".into(),
            "train.device=cpu".into(),
            "train.lr=0.02".into(),
            "train.epochs=1000".into(),
        ];
        let out = f.s("labelled");
        let mut args = vec!["train", "--out", &out, "--max-steps", "120"];
        let sets: Vec<String> = sets
            .iter()
            .flat_map(|s| ["--set".into(), s.clone()])
            .collect();
        args.extend(sets.iter().map(String::as_str));
        ok(&args);
        let (run, out) = (f.s("mle"), f.s("sweep"));
        ok(&[
            "sweep",
            "--run",
            &run,
            "--out",
            &out,
            "-n",
            "20",
            "--temperatures",
            "0.7,1.0",
            "--device",
            "cpu",
        ]);
        Runs { f }
    })
}

/// A `textgan serve` process; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let r = runs();
        let mut child = Command::new(env!("CARGO_BIN_EXE_textgan"))
            .args(["serve", "--addr", "127.0.0.1:0", "--device", "cpu"])
            .args([
                "--run",
                &r.f.s("mle"),
                "--run",
                &r.f.s("gan"),
                "--run",
                &r.f.s("labelled"),
                "--sweep",
                &r.f.s("sweep"),
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line: {line}"))
            .trim_end_matches('/')
            .to_string();
        Server { child, url }
    }

    /// (status, JSON body) of a POST.
    fn post(&self, path: &str, body: &str) -> (u16, Value) {
        common::post_json(&format!("{}{path}", self.url), body)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        common::http_answer(ureq::get(&format!("{}{path}", self.url)).call())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Generation and scoring, checked against independent references: the NLL the evaluation
/// code computes for the same sentence, greedy decoding's argmax, a label's own words.
#[test]
fn generates_and_scores_with_per_token_numbers() {
    let s = Server::start(&[]);
    let (st, runs_list) = s.get("/v1/runs");
    assert_eq!(st, 200);
    let names: Vec<&str> = runs_list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mle", "gan", "labelled"]);
    assert_eq!(runs_list["runs"][1]["discriminator"], true);
    assert_eq!(runs_list["runs"][0]["discriminator"], false);
    // Steps of both phases: the GAN run's 4 adversarial steps count.
    let gan = &runs_list["runs"][1];
    assert_eq!(gan["adv_step"], 4, "{gan}");
    assert_eq!(
        gan["steps"].as_u64(),
        Some(gan["step"].as_u64().unwrap() + 4),
        "{gan}"
    );
    assert_eq!(runs_list["runs"][0]["adv_step"], 0);

    // Scoring: the per-token log-probabilities average to the NLL the evaluation code gives.
    let text = "the cat sat on the mat";
    let (st, sc) = s.post(
        "/v1/score",
        &json!({"run": "mle", "texts": [text]}).to_string(),
    );
    assert_eq!(st, 200, "{sc}");
    let toks = sc["texts"][0]["tokens"].as_array().unwrap();
    let words: Vec<&str> = toks.iter().map(|t| t["token"].as_str().unwrap()).collect();
    assert_eq!(words, ["the", "cat", "sat", "on", "the", "mat", "<eos>"]);
    let mean = -toks.iter().map(|t| f(&t["logprob"])).sum::<f64>() / toks.len() as f64;
    let ctx = textgan::run::RunContext::load(&runs().f.path("mle"), tch::Device::Cpu).unwrap();
    let ids = ctx.gen.vocab.encode(text).unwrap();
    let want = ctx.nll(&[ids], 1.0);
    assert!((mean - want).abs() < 1e-4, "API {mean} vs eval {want}");
    assert!((f(&sc["texts"][0]["nll"]) - want).abs() < 1e-4);

    // Greedy decoding takes the most likely token: each equals the top alternative.
    let (st, g) = s.post(
        "/v1/generate",
        &json!({"run": "mle", "greedy": true, "top_logprobs": 1}).to_string(),
    );
    assert_eq!(st, 200, "{g}");
    for t in g["texts"][0]["tokens"].as_array().unwrap() {
        assert_eq!(t["token"], t["top"][0][0], "{t}");
        assert!((f(&t["logprob"]) - f(&t["top"][0][1])).abs() < 1e-6);
    }

    // Sampling: n texts; a seed makes a request reproducible.
    let req = json!({"run": "mle", "n": 5, "seed": 7, "temperature": 0.8, "top_k": 5});
    let (_, a) = s.post("/v1/generate", &req.to_string());
    let (_, b) = s.post("/v1/generate", &req.to_string());
    assert_eq!(a["texts"].as_array().unwrap().len(), 5);
    assert_eq!(a["texts"], b["texts"]);

    // Log-probabilities taken while sampling equal those of scoring the finished text.
    let (_, many) = s.post(
        "/v1/generate",
        &json!({"run": "mle", "n": 16, "seed": 3}).to_string(),
    );
    let mut compared = 0;
    for t in many["texts"].as_array().unwrap() {
        // (An empty text cannot be scored: it is refused.)
        if t["finish_reason"] != "stop" || t["text"] == "" {
            continue;
        }
        let (_, sc) = s.post(
            "/v1/score",
            &json!({"run": "mle", "texts": [t["text"]]}).to_string(),
        );
        let (got, want) = (&t["tokens"], &sc["texts"][0]["tokens"]);
        assert_eq!(
            got.as_array().unwrap().len(),
            want.as_array().unwrap().len(),
            "{t}"
        );
        for (g, w) in got.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            assert_eq!(g["token"], w["token"]);
            assert!(
                (f(&g["logprob"]) - f(&w["logprob"])).abs() < 1e-4,
                "{g} vs {w}"
            );
        }
        compared += 1;
    }
    assert!(compared > 0, "no finished text to compare: {many}");

    // The discriminator: a probability per token; in prefix mode the last token's prefix is
    // the whole text, so its score is the text's.
    let (st, d) = s.post(
        "/v1/score",
        &json!({"run": "gan", "texts": [text, "birds fly"], "discriminator": true}).to_string(),
    );
    assert_eq!(st, 200, "{d}");
    for t in d["texts"].as_array().unwrap() {
        let toks = t["tokens"].as_array().unwrap();
        assert!(toks.iter().all(|k| (0.0..=1.0).contains(&f(&k["d"]))));
        assert!((f(&toks.last().unwrap()["d"]) - f(&t["d"])).abs() < 1e-6);
    }
    let (st, e) = s.post(
        "/v1/score",
        &json!({"run": "mle", "texts": [text], "discriminator": true}).to_string(),
    );
    assert_eq!(st, 400);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no discriminator"));

    // Labels reach the model: a colour run writes colour words.
    let (st, l) = s.post(
        "/v1/generate",
        &json!({"run": "labelled", "n": 8, "label": "colour", "temperature": 0.5}).to_string(),
    );
    assert_eq!(st, 200, "{l}");
    // (`<unk>` keeps a sliver of probability in any run: not a word of the other class.)
    let colours = ["red", "blue", "pink", "gold", "<eos>", "<unk>"];
    for t in l["texts"].as_array().unwrap() {
        assert_eq!(t["label"], "colour");
        for k in t["tokens"].as_array().unwrap() {
            assert!(colours.contains(&k["token"].as_str().unwrap()), "{t}");
        }
    }
}

/// `/v1/completions` answers in OpenAI's shape, so existing clients work unchanged.
#[test]
fn completions_in_the_openai_shape() {
    let s = Server::start(&[]);
    let body = json!({"model": "mle", "prompt": "the", "max_tokens": 5, "n": 3, "logprobs": 2,
        "temperature": 0.9, "user": "someone", "stop": ["zebra"]});
    let (st, c) = s.post("/v1/completions", &body.to_string());
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["object"], "text_completion");
    assert_eq!(c["model"], "mle");
    assert!(c["id"].as_str().unwrap().starts_with("cmpl-"));
    assert!(c["created"].as_u64().unwrap() > 1_700_000_000);
    let choices = c["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    let mut completion = 0;
    for (i, ch) in choices.iter().enumerate() {
        assert_eq!(ch["index"], i);
        let fr = ch["finish_reason"].as_str().unwrap();
        assert!(fr == "stop" || fr == "length");
        let lp = &ch["logprobs"];
        let toks: Vec<&str> = lp["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(toks.concat(), ch["text"].as_str().unwrap());
        assert!(toks.len() <= 5);
        assert_eq!(lp["token_logprobs"].as_array().unwrap().len(), toks.len());
        assert_eq!(lp["top_logprobs"].as_array().unwrap().len(), toks.len());
        let offs: Vec<u64> = lp["text_offset"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_u64().unwrap())
            .collect();
        let mut at = 0;
        for (t, o) in toks.iter().zip(&offs) {
            assert_eq!(*o as usize, at);
            at += t.len();
        }
        completion += toks.len();
    }
    assert_eq!(c["usage"]["prompt_tokens"], 1);
    assert_eq!(c["usage"]["completion_tokens"], completion);
    assert_eq!(c["usage"]["total_tokens"], completion + 1);
    // A stop sequence ends the text before it; temperature 0 is greedy (the same each time).
    let greedy = json!({"model": "mle", "prompt": "the", "max_tokens": 6, "temperature": 0});
    let (_, g1) = s.post("/v1/completions", &greedy.to_string());
    let (_, g2) = s.post("/v1/completions", &greedy.to_string());
    assert_eq!(g1["choices"][0]["text"], g2["choices"][0]["text"]);
    let text = g1["choices"][0]["text"].as_str().unwrap().to_string();
    let word = text.split_whitespace().nth(1).map(String::from);
    if let Some(w) = word {
        let mut stop = greedy.clone();
        stop["stop"] = json!(w);
        stop["logprobs"] = json!(1);
        let (_, c) = s.post("/v1/completions", &stop.to_string());
        let cut = &text[..text.find(&w).unwrap()];
        let ch = &c["choices"][0];
        assert_eq!(ch["text"], cut);
        assert_eq!(ch["finish_reason"], "stop");
        // The tokens still make up the text, and only they are counted.
        let toks: Vec<&str> = ch["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(toks.concat(), cut);
        assert_eq!(c["usage"]["completion_tokens"], toks.len());
        // Alternatives are written as the tokens are (with their leading space).
        for (t, top) in toks
            .iter()
            .zip(ch["logprobs"]["top_logprobs"].as_array().unwrap())
        {
            assert!(
                top.get(*t).is_some(),
                "greedy's token {t:?} is its top alternative: {top}"
            );
        }
    }
    // OpenAI's default of 16 tokens is cut to what this 7-token run allows.
    let (st, d) = s.post(
        "/v1/completions",
        &json!({"model": "mle", "prompt": "the"}).to_string(),
    );
    assert_eq!(st, 200, "{d}");
    for (bad, code) in [
        (json!({"prompt": "the", "stream": true}), 400),
        (json!({"prompt": "the", "run": "gan"}), 422),
        (json!({"prompt": "the", "logit_bias": {"5": 100}}), 400),
        (json!({"prompt": ["the", "a"], "n": 40}), 400),
        (json!({"prompt": "the", "logprobs": 6}), 400),
        (json!({"prompt": [1, 2, 3]}), 400),
        (json!({"prompt": "the", "temperature": 3}), 400),
        (json!({"prompt": "the", "max_tokens": 500}), 400),
        (json!({"model": "gpt-4", "prompt": "the"}), 404),
    ] {
        let (st, e) = s.post("/v1/completions", &bad.to_string());
        assert_eq!(st, code, "{bad}: {e}");
        assert!(e["error"]["message"].is_string());
    }
}

/// Bad input gets a 4xx with a JSON error, never a 500; nothing reaches outside the runs.
#[test]
fn bad_requests_get_json_errors() {
    let s = Server::start(&["--max-body-kb", "4"]);
    let cases: [(&str, &str, u16); 11] = [
        ("/v1/generate", "{\"n\":", 400),
        ("/v1/generate", r#"{"n": 1000}"#, 400),
        ("/v1/generate", r#"{"temperature": 0}"#, 400),
        ("/v1/generate", r#"{"temperature": -1}"#, 400),
        ("/v1/generate", r#"{"top_p": 1.5}"#, 400),
        ("/v1/generate", r#"{"top_p": 0}"#, 400),
        ("/v1/generate", r#"{"run": "nope"}"#, 404),
        ("/v1/generate", r#"{"tempreature": 1}"#, 422),
        ("/v1/score", r#"{}"#, 422),
        (
            "/v1/score",
            r#"{"run": "labelled", "texts": ["red blue"], "label": "plant"}"#,
            400,
        ),
        ("/v1/generate", r#"{"run": "labelled", "source": "x"}"#, 400),
    ];
    for (path, body, code) in cases {
        let (st, e) = s.post(path, body);
        assert_eq!(st, code, "{path} {body}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{e}"
        );
    }
    let big = format!(r#"{{"prompt": "{}"}}"#, "the ".repeat(4000));
    assert_eq!(s.post("/v1/generate", &big).0, 413);
    for (body, code) in [
        ("[3, 0.5]", 400),
        (r#"{"greedy": true, "beam": 2}"#, 400),
        (r#"{"temperature": 1e-40}"#, 400),
        (r#"{"temperature": 1e39}"#, 400),
        (r#"{"temperature": 1e308}"#, 400),
    ] {
        let (st, e) = s.post("/v1/generate", body);
        assert_eq!(st, code, "{body}: {e}");
        assert!(e["error"]["message"].is_string(), "{e}");
    }
    // A huge number is echoed short, not with its 309 digits.
    for path in ["/v1/generate", "/v1/completions"] {
        let (_, e) = s.post(path, r#"{"prompt": "the", "temperature": 1e308}"#);
        let m = e["error"]["message"].as_str().unwrap();
        assert!(m.contains("1e308") && m.len() < 160, "{path}: {m}");
    }
    // Errors axum and the layers answer themselves are JSON too.
    for (path, code) in [
        ("/v1/generate", 405),
        ("/v1/chart", 400),
        ("/v1/chart?plot=mle", 400),
    ] {
        let (st, e) = s.get(path);
        assert_eq!(st, code, "{path}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{path}: {e}"
        );
    }
    // A special token typed as text is a word the run does not know, not the marker.
    let (st, sc) = s.post("/v1/score", r#"{"run": "mle", "texts": ["<eos> cat"]}"#);
    assert_eq!(st, 200, "{sc}");
    assert_eq!(sc["texts"][0]["tokens"][0]["token"], "<unk>");
    assert_eq!(sc["texts"][0]["unknown"], 1);
    // A text of the run's full length (7 tokens) is scored, ending by the limit.
    let (st, sc) = s.post(
        "/v1/score",
        r#"{"run": "mle", "texts": ["the cat sat on the mat park"]}"#,
    );
    assert_eq!(st, 200, "{sc}");
    assert_eq!(sc["texts"][0]["tokens"].as_array().unwrap().len(), 7);
    for path in [
        "/v1/runs/..%2F..%2Fetc%2Fpasswd",
        "/v1/runs/mle%2F..%2Fgan",
        "/v1/chart?runs=../mle&plot=mle",
        "/nothing",
        "/v1/sweeps/..%2Fsweep",
        "/v1/sweeps/nope",
    ] {
        let (st, _) = s.get(path);
        assert_eq!(st, 404, "{path}");
    }
    assert_eq!(s.get("/v1/chart?runs=mle&plot=nope").0, 400);
    // Still healthy, and no request was answered with a 5xx.
    assert_eq!(s.get("/health").1["status"], "ok");
    let metrics = ureq::get(&format!("{}/metrics", s.url))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(metrics.contains("textgan_http_requests_total"), "{metrics}");
    assert!(
        !metrics.lines().any(|l| l.contains("status=\"5")),
        "{metrics}"
    );
}

/// Concurrent requests share batched forward passes (the batch histogram shows it), and every
/// client gets its own n texts.
#[test]
fn concurrent_requests_are_batched() {
    let s = Server::start(&["--max-wait-ms", "200"]);
    let url = s.url.clone();
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = json!({"run": "mle", "n": 1 + i % 3});
                let r = ureq::post(&format!("{url}/v1/generate"))
                    .set("Content-Type", "application/json")
                    .send_string(&body.to_string());
                let (st, v) = common::http_answer(r);
                assert_eq!(st, 200);
                assert_eq!(v["texts"].as_array().unwrap().len(), 1 + i % 3);
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let m = ureq::get(&format!("{url}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let get = |name: &str| -> f64 {
        m.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {m}"))
    };
    let (passes, texts) = (
        get("textgan_batch_texts_count"),
        get("textgan_batch_texts_sum"),
    );
    assert_eq!(texts, 15.0, "1+2+3+1+2+3+1+2 texts");
    assert!(
        passes < 8.0,
        "8 requests in {passes} passes: none was batched"
    );
}

/// SIGTERM: the request in flight is answered, then the server exits 0.
#[test]
fn sigterm_answers_in_flight_requests_then_exits_0() {
    let mut s = Server::start(&["--max-wait-ms", "800"]);
    let url = s.url.clone();
    let t = std::thread::spawn(move || {
        let r = ureq::post(&format!("{url}/v1/generate"))
            .set("Content-Type", "application/json")
            .send_string(r#"{"run": "mle", "n": 2}"#);
        common::http_answer(r)
    });
    std::thread::sleep(Duration::from_millis(300));
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    let (st, v) = t.join().unwrap();
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["texts"].as_array().unwrap().len(), 2);
    common::exits_0_within(&mut s.child, 20);
}

/// A client that stalls half-way through its request does not keep the server from stopping:
/// connections still open `--timeout-s` + 1 s after SIGTERM are closed.
#[test]
fn sigterm_ends_even_with_a_stalled_client() {
    use std::io::Write;
    let mut s = Server::start(&["--timeout-s", "2"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut stalled = std::net::TcpStream::connect(&addr).unwrap();
    stalled
        .write_all(b"POST /v1/generate HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    common::exits_0_within(&mut s.child, 15);
    drop(stalled);
}

/// How long the server keeps `stream` open after `sent`, up to 15 s (`None`: still open).
fn closed_after(addr: &str, sent: &[u8]) -> Option<Duration> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.write_all(sent).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let start = std::time::Instant::now();
    match stream.read_to_end(&mut Vec::new()) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        _ => Some(start.elapsed()),
    }
}

/// A client whose request headers never finish is cut off after `--timeout-s` (as a stalled
/// body is answered 408), not held forever: its connection is closed, and so is one that
/// sends nothing at all; the server still answers others.
#[test]
fn stalled_headers_are_timed_out() {
    let mut s = Server::start(&["--timeout-s", "2"]);
    let addr = s.url.trim_start_matches("http://").to_string();
    for sent in [&b"POST /v1/generate HTTP/1.1\r\nHost: x\r\n"[..], b""] {
        let waited = closed_after(&addr, sent);
        let waited = waited.unwrap_or_else(|| panic!("{sent:?}: held for 15 s"));
        assert!(waited < Duration::from_secs(10), "{sent:?}: {waited:?}");
        assert!(
            waited >= Duration::from_millis(1500),
            "{sent:?}: closed early: {waited:?}"
        );
    }
    let r = ureq::get(&format!("{}/health", s.url)).call().unwrap();
    assert_eq!(r.status(), 200);
    unsafe { libc::kill(s.child.id() as i32, libc::SIGTERM) };
    common::exits_0_within(&mut s.child, 15);
}

/// `textgan report`: one file, no network needed to open it, curves and heatmaps inside.
#[test]
fn report_is_one_self_contained_file() {
    let r = runs();
    let out = r.f.path("report.html");
    ok(&[
        "report",
        "--run",
        &r.f.s("mle"),
        "--run",
        &r.f.s("gan"),
        "--sweep",
        &r.f.s("sweep"),
        "--out",
        &out.to_string_lossy(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    for needle in [
        "<svg",
        "MLE training",
        "class=\"tok\"",
        "data-d=",
        "Run gan",
        "algorithm",
        "test_nll",
        "Quality vs diversity",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }
    for outside in ["src=\"http", "href=\"http", "<link", "src=\"/"] {
        assert!(
            !html.contains(outside),
            "report refers outside itself: {outside}"
        );
    }
    common::fails(
        &[
            "report",
            "--run",
            &r.f.s("nope"),
            "--out",
            &out.to_string_lossy(),
        ],
        "not a run directory",
    );
}

/// `textgan loadtest` against a live server: every request answered, memory reported.
#[test]
fn loadtest_reports_throughput_and_memory() {
    let s = Server::start(&[]);
    let r = runs();
    let out = r.f.path("load.json");
    ok(&[
        "loadtest",
        "--url",
        &s.url,
        "--clients",
        "8",
        "--requests",
        "64",
        "--body",
        r#"{"run": "mle", "n": 2}"#,
        "--out",
        &out.to_string_lossy(),
    ]);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["ok"], 64);
    assert_eq!(v["errors"], 0);
    assert!(f(&v["latency_ms"]["p99"]) >= f(&v["latency_ms"]["p50"]));
    assert!(f(&v["server_peak_rss_mib"]) > 10.0);
}

#[path = "serve/browser.rs"]
mod browser;

/// Where a run's test output goes that a person looks at (screenshots).
pub fn artefacts() -> &'static Path {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
}

/// The `openai` Python package, unchanged, against `/v1/completions` (installed into the
/// checkout's Python environment when missing; skipped where neither is available).
#[test]
fn the_openai_python_client_works_unchanged() {
    let Some(py) = common::python_with("openai", "openai") else {
        return;
    };
    let s = Server::start(&[]);
    let script = r#"
import json, sys
from openai import OpenAI
c = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0)
r = c.completions.create(model="mle", prompt="the", max_tokens=4, n=2, logprobs=1, temperature=0.9, seed=5)
out = {"object": r.object, "n": len(r.choices), "texts": [ch.text for ch in r.choices],
       "tokens": [ch.logprobs.tokens for ch in r.choices], "finish": [ch.finish_reason for ch in r.choices],
       "usage": r.usage.total_tokens}
try:
    c.completions.create(model="no-such-run", prompt="the")
except Exception as e:
    out["error"] = type(e).__name__ + ": " + str(getattr(e, "status_code", ""))
print(json.dumps(out))
"#;
    let o = Command::new(&py)
        .args(["-c", script, &s.url])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["n"], 2);
    for (text, toks) in v["texts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["tokens"].as_array().unwrap())
    {
        let joined: String = toks
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(text.as_str().unwrap(), joined);
    }
    assert_eq!(v["error"], "NotFoundError: 404");
}

/// `guide` in `/v1/generate` and `/v1/completions`: reranked texts come back best first by D,
/// energy sampling gives n texts (the same for the same seed), and the bad cases are 400s.
#[test]
fn serves_guided_decoding() {
    let s = Server::start(&[]);
    let body =
        r#"{"run": "gan", "n": 6, "discriminator": true, "guide": {"method": "rerank", "k": 4}}"#;
    let (st, v) = s.post("/v1/generate", body);
    assert_eq!(st, 200, "{v}");
    let d: Vec<f64> = v["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["d"].as_f64().unwrap())
        .collect();
    assert_eq!(d.len(), 6);
    assert!(d.windows(2).all(|w| w[0] >= w[1]), "best first: {d:?}");
    let energy = r#"{"run": "gan", "n": 3, "seed": 4, "guide": {"method": "energy", "k": 4, "strength": 2}}"#;
    let (st, a) = s.post("/v1/generate", energy);
    assert_eq!(st, 200, "{a}");
    assert_eq!(a["texts"].as_array().unwrap().len(), 3);
    let (_, b) = s.post("/v1/generate", energy);
    assert_eq!(a["texts"], b["texts"], "seeded energy sampling repeats");
    let (st, c) = s.post(
        "/v1/completions",
        r#"{"model": "gan", "prompt": "the", "max_tokens": 4, "n": 2, "guide": {"method": "rerank", "k": 2}}"#,
    );
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["choices"].as_array().unwrap().len(), 2);
    // Well-formed but refused: 400; a method that does not exist is a schema error: 422.
    for (body, status, msg) in [
        (
            r#"{"run": "mle", "guide": {"method": "rerank", "k": 2}}"#,
            400,
            "no discriminator",
        ),
        (
            r#"{"run": "gan", "guide": {"method": "rerank", "k": 99}}"#,
            400,
            "guide.k",
        ),
        (
            r#"{"run": "gan", "guide": {"method": "token", "k": 2}}"#,
            422,
            "token",
        ),
        (
            r#"{"run": "gan", "guide": {"method": "energy", "k": 2, "strength": -1}}"#,
            400,
            "strength",
        ),
    ] {
        let (st, e) = s.post("/v1/generate", body);
        assert_eq!(st, status, "{body}: {e}");
        assert!(e.to_string().contains(msg), "{body}: {e}");
    }
}

/// Discriminator reranking: the kept texts come best first by D, and on average D finds them
/// likelier real than as many drawn without it; `sample --rerank` prints them; a run without a
/// discriminator is refused in one line.
#[test]
fn sample_reranks_by_the_discriminator() {
    let r = runs();
    let engine = textgan::infer::Engine::load(&r.f.path("gan"), tch::Device::Cpu).unwrap();
    let draw = |n| textgan::infer::Draw {
        n,
        discriminator: true,
        ..Default::default()
    };
    let best = engine.rerank(draw(16), 8).unwrap();
    let d: Vec<f64> = best.iter().map(|t| t.d.unwrap()).collect();
    assert_eq!(d.len(), 16);
    assert!(d.windows(2).all(|w| w[0] >= w[1]), "best first: {d:?}");
    let plain = engine
        .generate(&[&engine.prepare(draw(16)).unwrap()])
        .remove(0);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let others: Vec<f64> = plain.iter().map(|t| t.d.unwrap()).collect();
    assert!(
        mean(&d) >= mean(&others),
        "{} < {}",
        mean(&d),
        mean(&others)
    );
    let o = ok(&[
        "sample",
        "--run",
        &r.f.s("gan"),
        "--rerank",
        "4",
        "-n",
        "5",
        "--device",
        "cpu",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 5);
    common::fails(
        &[
            "sample",
            "--run",
            &r.f.s("mle"),
            "--rerank",
            "4",
            "--device",
            "cpu",
        ],
        "reranking needs a discriminator",
    );
}
