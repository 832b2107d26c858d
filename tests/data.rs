//! `textgan data` and the data directory, end to end: getting a set from a local folder,
//! listing it, a corrupt file found on use, bad names and an unwritable directory. (The
//! download path itself is tested against a loopback HTTP server in `src/datasets.rs`.)
mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

fn with_data(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .env("TEXTGAN_DATA", dir)
        .output()
        .expect("binary runs")
}

/// The benchmark copies beside the checkout (as CI lays them out), if there are some.
fn shared() -> Option<std::path::PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data");
    p.join("coco/train.txt").is_file().then_some(p)
}

#[test]
fn a_set_is_got_from_a_folder_checked_and_found_corrupt_on_use() {
    let Some(src) = shared() else {
        eprintln!("skipped: no benchmark copies beside the checkout");
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let o = with_data(data.path(), &["data", "list"]);
    assert!(o.status.success());
    let list = String::from_utf8(o.stdout).unwrap();
    assert!(list.contains("coco") && list.contains("missing"), "{list}");
    // A missing set is a one-line error naming the command that gets it.
    let run = data.path().join("run");
    let train_coco = || {
        with_data(
            data.path(),
            &[
                "train",
                "--preset",
                "coco-lstm",
                "--out",
                run.to_str().unwrap(),
            ],
        )
    };
    let o = train_coco();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("textgan data get coco"), "{err}");
    assert!(!run.exists(), "nothing written");
    // From the folder laid out as a data directory.
    let o = with_data(
        data.path(),
        &["data", "get", "coco", "--from", src.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let list = String::from_utf8(with_data(data.path(), &["data", "list"]).stdout).unwrap();
    let coco = list.lines().find(|l| l.starts_with("coco")).unwrap();
    assert!(coco.contains("present"), "{list}");
    // A file changed afterwards is caught when a run reads it.
    let train = data.path().join("coco/train.txt");
    let mut bytes = std::fs::read(&train).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&train, bytes).unwrap();
    let o = train_coco();
    let err = stderr(&o);
    assert!(
        err.contains("does not match its checksum") && err.contains("textgan data get coco"),
        "{err}"
    );
    assert!(!run.exists());
    // Getting it again repairs it.
    let o = with_data(
        data.path(),
        &["data", "get", "coco", "--from", src.to_str().unwrap()],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        String::from_utf8(with_data(data.path(), &["data", "list"]).stdout)
            .unwrap()
            .lines()
            .any(|l| l.starts_with("coco") && l.contains("present"))
    );
}

#[test]
fn bad_names_and_unwritable_directories_are_one_line_errors() {
    let data = tempfile::tempdir().unwrap();
    let o = with_data(data.path(), &["data", "get", "imagenet"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("unknown data set `imagenet`") && err.contains("coco"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1);
    let file = data.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let o = with_data(
        &file,
        &["data", "get", "mr", "--from", data.path().to_str().unwrap()],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("set TEXTGAN_DATA to a folder you can write"),
        "{err}"
    );
    // An empty folder to get from: the file is named.
    let o = with_data(
        data.path(),
        &["data", "get", "mr", "--from", data.path().to_str().unwrap()],
    );
    let err = stderr(&o);
    assert!(err.contains("rt-polarity.pos"), "{err}");
    assert!(!data.path().join("mr/rt-polarity.pos").exists());
    assert!(
        !data.path().join("mr").exists(),
        "a failed get leaves no empty set folder"
    );
    // A corrupt copy, and a mirror nobody answers at: refused, and no folder either.
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("mr")).unwrap();
    for f in ["rt-polarity.pos", "rt-polarity.neg"] {
        std::fs::write(src.path().join("mr").join(f), "not the data\n").unwrap();
    }
    let from = ["--from", src.path().to_str().unwrap()];
    for how in [&from[..], &["--mirror", "http://127.0.0.1:9"][..]] {
        let o = with_data(data.path(), &[&["data", "get", "mr"][..], how].concat());
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{how:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            !data.path().join("mr").exists(),
            "{how:?}: a folder is left"
        );
    }
}

/// The default job needs no download: it draws its sentences from the built-in grammar, and
/// its evaluations carry the grammar's exact metrics.
#[test]
fn the_default_job_trains_on_the_grammar() {
    let f = Fixture::new();
    let out = f.s("default");
    ok(&[
        "train",
        "--out",
        &out,
        "--max-steps",
        "30",
        "--set",
        "data.grammar_train=300",
        "--set",
        "data.grammar_test=50",
        "--set",
        "train.device=cpu",
    ]);
    let last = metrics(&f.path("default")).pop().unwrap();
    let v = last["validity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&v), "{last}");
    assert!(last["test_nll"].as_f64().is_some_and(f64::is_finite));
    let cfg = std::fs::read_to_string(f.path("default/config.toml")).unwrap();
    assert!(cfg.contains("source = \"grammar\""), "{cfg}");
}

/// Traps a new user fell into, each now a one-line error that says what to do.
#[test]
fn traps_of_a_new_user_are_one_line_errors() {
    let f = Fixture::new();
    let train = f.s("train.txt");
    // A file set without data.source = "text" is not silently replaced by the default corpus.
    let set = format!("data.train=\"{train}\"");
    let out = f.s("run");
    fails(&["train", "--out", &out, "--set", &set], "--data FILE");
    assert!(!f.path("run").exists());
    // One flag for your own text.
    ok(&["train", "--out", &out, "--data", &train, "--max-steps", "2"]);
    // A giant token (a minified or binary file).
    std::fs::write(f.path("giant.txt"), "x".repeat(5000) + "\na b\n").unwrap();
    let giant = f.s("giant.txt");
    let out2 = f.s("run2");
    fails(
        &["train", "--out", &out2, "--data", &giant],
        "a token of 5000 characters",
    );
    // A negative value reaches the range check, not the argument parser.
    fails(
        &["sample", "--run", &out, "--temperature", "-1"],
        "temperature must be in [0.01, 100], got -1",
    );
    // `sweep --out` onto a file names it.
    std::fs::write(f.path("afile"), "").unwrap();
    let afile = f.s("afile");
    fails(
        &[
            "sweep",
            "--run",
            &out,
            "--out",
            &afile,
            "-n",
            "4",
            "--temperatures",
            "1.0",
        ],
        "afile",
    );
    // A metric named as the table names its rows.
    let o = ok(&[
        "eval",
        "--run",
        &out,
        "-n",
        "4",
        "--metrics",
        "bleu-4",
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["metrics"]["bleu-4"].is_number(), "{j}");
}
