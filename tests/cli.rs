//! End-to-end tests: the real binary on tiny corpora in temporary directories.
mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

#[test]
fn train_writes_a_complete_run_directory() {
    let f = Fixture::new();
    f.train("run", 4, &[]);
    let run = f.path("run");
    for name in [
        "config.toml",
        "vocab.json",
        "checkpoint.safetensors",
        "metrics.jsonl",
        "train.log",
        "samples/step-0000004.txt",
        "plots/mle.svg",
        "plots/mle.png",
    ] {
        assert!(run.join(name).exists(), "missing {name}");
    }
    let m = metrics(&run);
    assert_eq!(
        m.iter()
            .map(|l| l["step"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![2, 4]
    );
    let nll = m[1]["test_nll"].as_f64().unwrap();
    assert!(
        nll.is_finite() && nll > 0.0 && nll < (30f64).ln() + 1.0,
        "{nll}"
    );
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        cfg.contains("hidden_dim = 16") && cfg.contains("max_steps = 4"),
        "{cfg}"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("samples/step-0000004.txt"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    // Nothing temporary is left behind by the atomic writes.
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn progress_lines_when_stderr_is_not_a_terminal() {
    let f = Fixture::new();
    let run = |name: &str, secs: &str| {
        let out = f.s(name);
        let mut args: Vec<String> = ["train", "--out", &out].map(String::from).to_vec();
        args.extend(f.tiny());
        let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
            .args(&args)
            .env("TEXTGAN_PROGRESS_SECS", secs)
            .output()
            .expect("binary runs");
        assert!(o.status.success(), "{}", stderr(&o));
        stderr(&o)
    };
    // The test's stderr is a pipe: every report (each 10 steps and the last) becomes a line.
    // 8 sequences in batches of 4 for the default 5 epochs: 10 steps.
    let err = run("every", "0");
    assert!(err.contains("step 10/10 (100%)"), "{err}");
    assert!(err.contains("eta 0s  loss "), "{err}");
    // The evaluations (every 2 steps) are printed too, not dropped with the hidden bar.
    let evals = err.lines().filter(|l| l.contains("  epoch ")).count();
    assert_eq!(evals, 5, "{err}");
    // With the default minute between lines, a run this short prints none.
    let err = run("quiet", "60");
    assert!(!err.contains("step 10/10"), "{err}");
}

#[test]
fn resume_continues_the_same_run() {
    let f = Fixture::new();
    f.train("straight", 6, &[]);
    f.train("split", 3, &[]);
    let split = f.s("split");
    ok(&["train", "--resume", &split, "--max-steps", "6"]);
    let a = metrics(&f.path("straight"));
    let b = metrics(&f.path("split"));
    assert_eq!(b.last().unwrap()["step"], 6);
    let (na, nb) = (
        a.last().unwrap()["test_nll"].as_f64().unwrap(),
        b.last().unwrap()["test_nll"].as_f64().unwrap(),
    );
    assert!((na - nb).abs() < 1e-6, "resumed run diverged: {na} vs {nb}");
    let (la, lb) = (
        a.last().unwrap()["train_loss"].as_f64().unwrap(),
        b.last().unwrap()["train_loss"].as_f64().unwrap(),
    );
    assert!((la - lb).abs() < 1e-6, "{la} vs {lb}");
    // A finished run says so instead of training again.
    let o = ok(&["train", "--resume", &split]);
    assert!(stderr(&o).contains("complete"), "{}", stderr(&o));
}

#[test]
fn sample_reads_the_run_alone() {
    let f = Fixture::new();
    f.train("run", 20, &[]);
    let run = f.s("run");
    let o = ok(&["sample", "--run", &run, "-n", "7", "--seed", "3"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 7);
    let vocab: std::collections::HashSet<&str> = CORPUS.split_whitespace().collect();
    for w in text.split_whitespace() {
        assert!(
            vocab.contains(w) || w == "<unk>",
            "sampled `{w}` is not in the vocabulary"
        );
    }
    let again = ok(&["sample", "--run", &run, "-n", "7", "--seed", "3"]);
    assert_eq!(
        text,
        String::from_utf8(again.stdout).unwrap(),
        "same seed, same sentences"
    );
    let out = f.s("out.txt");
    ok(&[
        "sample",
        "--run",
        &run,
        "-n",
        "4",
        "--prompt",
        "the cat",
        "--top-k",
        "3",
        "--temperature",
        "0.8",
        "--output",
        &out,
    ]);
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.starts_with("the cat")), "{lines:?}");
    let greedy = ok(&["sample", "--run", &run, "-n", "3", "--greedy"]);
    let g: Vec<&str> = std::str::from_utf8(&greedy.stdout)
        .unwrap()
        .lines()
        .collect::<Vec<_>>();
    assert!(
        g.iter().all(|l| *l == g[0]),
        "greedy decoding must be deterministic: {g:?}"
    );
    // Output streams in pieces of 64 batches (here 128 sentences); the draws are those of one
    // pass: fewer sentences are a prefix of more, across a piece's end, to stdout or a file.
    let lines = |n: &str| {
        let o = ok(&["sample", "--run", &run, "-n", n, "--batch-size", "2"]);
        String::from_utf8(o.stdout).unwrap()
    };
    let (short, long) = (lines("130"), lines("150"));
    assert_eq!(long.lines().count(), 150);
    assert!(
        long.starts_with(&short),
        "130 sentences are the first 130 of 150"
    );
    let file = f.s("streamed.txt");
    ok(&[
        "sample",
        "--run",
        &run,
        "-n",
        "150",
        "--batch-size",
        "2",
        "--output",
        &file,
    ]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), long);
    fails(
        &["sample", "--run", &run, "-n", "0"],
        "-n must be at least 1",
    );
    let o = ok(&["sample", "--run", &run, "-n", "1", "--prompt", "the zebra"]);
    assert!(
        stderr(&o).contains("1 of the prompt's 2 tokens are not in the run's vocabulary"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn char_mode_writes_without_spaces() {
    let f = Fixture::new();
    std::fs::write(
        f.path("poems.txt"),
        "床前明月光\n疑是地上霜\n举头望明月\n低头思故乡\n",
    )
    .unwrap();
    let poems = format!("data.train=\"{}\"", f.s("poems.txt"));
    let out = f.s("run");
    ok(&[
        "train",
        "--out",
        &out,
        "--max-steps",
        "3",
        "--set",
        "data.source=text",
        "--set",
        &poems,
        "--set",
        "data.tokenizer=char",
        "--set",
        "data.test_fraction=0.0",
        "--set",
        "train.device=cpu",
        "--set",
        "generator.hidden_dim=8",
    ]);
    let o = ok(&["sample", "--run", &out, "-n", "5"]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(!text.trim_end().contains(' '), "{text}");
}

#[test]
fn transformer_trains_and_samples() {
    let f = Fixture::new();
    f.train(
        "run",
        4,
        &[
            "--set",
            "generator.kind=transformer",
            "--set",
            "generator.n_embd=16",
            "--set",
            "generator.n_head=2",
        ],
    );
    let run = f.s("run");
    let o = ok(&["sample", "--run", &run, "-n", "3"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    fails(
        &["sample", "--run", &run, "--max-len", "500"],
        "exceeds the model's",
    );
}

#[test]
fn oracle_benchmark_reports_nll_oracle() {
    let f = Fixture::new();
    // The random oracle needs no download; SeqGAN's needs `textgan data get seqgan-oracle`.
    let mut sources = vec!["oracle-random"];
    if have("seqgan-oracle") {
        sources.push("oracle");
    }
    for source in sources {
        let out = f.s(source);
        let src = format!("data.source=\"{source}\"");
        ok(&[
            "oracle",
            "--out",
            &out,
            "--max-steps",
            "3",
            "--set",
            &src,
            "--set",
            "data.oracle_samples=256",
            "--set",
            "train.oracle_eval_samples=128",
            "--set",
            "train.eval_samples=4",
            "--set",
            "train.device=cpu",
        ]);
        let m = metrics(&f.path(source));
        let nll = m.last().unwrap()["nll_oracle"].as_f64().unwrap();
        // An untrained generator is near uniform over 5000 tokens: the oracle scores its
        // samples far above its own entropy (5.75 for SeqGAN's) and near or above ln(5000).
        assert!(nll > 8.0 && nll < 40.0, "{source}: {nll}");
        let o = ok(&["sample", "--run", &out, "-n", "2"]);
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(text.lines().all(|l| l.split(' ').count() == 20), "{text}");
    }
}

#[test]
fn bad_inputs_fail_cleanly_and_write_nothing() {
    let f = Fixture::new();
    std::fs::write(f.path("empty.txt"), "\n \n").unwrap();
    std::fs::write(
        f.path("bad.txt"),
        b"fine line\nanother\nbroken \xff\xfe here\n",
    )
    .unwrap();
    let tiny = f.tiny();
    let base: Vec<&str> = tiny.iter().map(String::as_str).collect();
    let run = |out: &str, extra: &[&str], needle: &str| {
        let out = f.s(out);
        let mut args = vec!["train", "--out", &out];
        args.extend(&base);
        args.extend(extra);
        fails(&args, needle);
        assert!(
            !Path::new(&out).exists(),
            "{out} was created for a failing run"
        );
    };
    // A missing file's reason is said once (not again as the error's source).
    let e = fails(
        &[
            "eval",
            "--samples",
            "/no/such/file.txt",
            "--references",
            "/no/such/file.txt",
        ],
        "/no/such/file.txt",
    );
    assert_eq!(e.matches("No such file").count(), 1, "{e}");
    let empty = format!("data.train=\"{}\"", f.s("empty.txt"));
    run("r1", &["--set", &empty], "no sentences");
    let bad = format!("data.train=\"{}\"", f.s("bad.txt"));
    run("r2", &["--set", &bad], "line 3 is not valid UTF-8");
    run(
        "r3",
        &["--set", "data.train=\"/no/such/file.txt\""],
        "/no/such/file.txt",
    );
    run("r4", &["--set", "train.learning_rate=0.1"], "learning_rate");
    run("r5", &["--set", "data.max_len=1000000"], "data.max_len");
    run("r6", &["--set", "train.batch_size=-3"], "train.batch_size");
    run("r7", &["--set", "train.device=tpu"], "unknown device");
    if !tch_cuda_available() {
        run("r8", &["--device", "cuda"], "no CUDA device");
    }
    run(
        "r10",
        &["--set", "train.cuda_graph=true", "--device", "cpu"],
        "train.cuda_graph needs a CUDA device",
    );
    run(
        "r11",
        &[
            "--set",
            "train.cuda_graph=true",
            "--set",
            "generator.kind=\"transformer\"",
        ],
        "LSTM generators only",
    );
    let cfg = f.path("typo.toml");
    std::fs::write(&cfg, "[generator]\nkind = \"lstm\"\nhiden_dim = 3\n").unwrap();
    let (cfg_s, out) = (f.s("typo.toml"), f.s("r9"));
    fails(&["train", "--out", &out, "--config", &cfg_s], "hiden_dim");
    fails(
        &["train", "--out", &out, "--preset", "nope"],
        "unknown preset",
    );

    // Checkpoints: missing, truncated, corrupt, foreign.
    f.train("good", 2, &[]);
    let good = f.path("good/checkpoint.safetensors");
    let bytes = std::fs::read(&good).unwrap();
    fails(&["sample", "--run", &f.s("nowhere")], "not found");
    std::fs::write(f.path("trunc.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    fails(&["sample", "--run", &f.s("trunc.safetensors")], "corrupt");
    let mut flipped = bytes.clone();
    flipped[..8].copy_from_slice(&u64::MAX.to_le_bytes());
    std::fs::write(f.path("corrupt.safetensors"), &flipped).unwrap();
    fails(&["sample", "--run", &f.s("corrupt.safetensors")], "corrupt");
    std::fs::write(f.path("foreign.safetensors"), foreign_safetensors()).unwrap();
    fails(
        &["sample", "--run", &f.s("foreign.safetensors")],
        "not a textgan checkpoint",
    );
    std::fs::write(f.path("text.safetensors"), "hello").unwrap();
    fails(&["sample", "--run", &f.s("text.safetensors")], "checkpoint");
    // A run that exists is not overwritten.
    let good_dir = f.s("good");
    // The hints come from the error's kind (textgan::error::Fix), not its words.
    fails(
        &["train", "--out", &good_dir],
        "already holds a run: continue it, or choose another directory (--resume DIR continues it)",
    );
    if !tch_cuda_available() {
        fails(
            &["sample", "--run", &good_dir, "--device", "cuda"],
            "(use --device cpu or auto)",
        );
    }
    assert_eq!(std::fs::read(&good).unwrap(), bytes);
    // One rule and one message for sampling options, the server's and the flags' alike.
    fails(
        &["sample", "--run", &good_dir, "--temperature", "0"],
        "temperature must be in [0.01, 100], got 0",
    );
    fails(
        &["sample", "--run", &good_dir, "--temperature", "1e308"],
        "temperature must be in [0.01, 100], got 1e308",
    );
    fails(
        &["sample", "--run", &good_dir, "--top-p", "1.5"],
        "top_p must be in (0, 1], got 1.5",
    );
    fails(
        &[
            "sample",
            "--run",
            &good_dir,
            "--prompt",
            "the cat sat on the mat the cat sat on the mat",
        ],
        "prompt",
    );
}

fn tch_cuda_available() -> bool {
    let o = textgan(&[
        "train",
        "--out",
        "/nonexistent/x/y",
        "--device",
        "cuda",
        "--max-steps",
        "1",
    ]);
    !stderr(&o).contains("no CUDA device")
}

/// A valid safetensors file with one tensor and no textgan metadata.
fn foreign_safetensors() -> Vec<u8> {
    let header = br#"{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#;
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header);
    out.extend_from_slice(&1.0f32.to_le_bytes());
    out
}

/// `eval` on files reproduces nltk (values from tests/fixtures/bleu_nltk.py, mean over the
/// eight hypotheses, the empty line among them).
#[test]
fn eval_files_matches_nltk() {
    let f = Fixture::new();
    let refs = "a man riding a wave on top of a surfboard\na cat sitting on a couch\ntwo dogs play in the snow\n\
a man is riding a horse on the beach\n\na kitchen with a stove\n";
    let hyps = "a man riding a horse on the beach\na cat\nzebra giraffe\na dog sitting in the snow .\na man on a\n\n\
two dogs play\na cat sitting on a couch\n";
    std::fs::write(f.path("refs.txt"), refs).unwrap();
    std::fs::write(f.path("hyps.txt"), hyps).unwrap();
    let o = ok(&[
        "eval",
        "--samples",
        &f.s("hyps.txt"),
        "--references",
        &f.s("refs.txt"),
        "--json",
        "--metrics",
        "bleu,length",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nltk_bleu2 = [
        0.8824969025845955,
        1.0,
        0.0,
        0.48795003647426655,
        0.6358881766016378,
        0.0,
        0.513417119032592,
        1.0,
    ];
    let nltk_bleu5 = [
        0.7347256267690233,
        0.251188643150958,
        0.0,
        0.13174067728626154,
        0.1570370501072951,
        0.0,
        0.2043950365717933,
        1.0,
    ];
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        (j["metrics"]["bleu-2"].as_f64().unwrap() - mean(&nltk_bleu2)).abs() < 1e-9,
        "{j}"
    );
    assert!(
        (j["metrics"]["bleu-5"].as_f64().unwrap() - mean(&nltk_bleu5)).abs() < 1e-9,
        "{j}"
    );
    assert_eq!(j["samples"], 8);
    assert!(j["protocols"]["bleu-4"]
        .as_str()
        .unwrap()
        .contains("method1"));
    assert!(
        j["metrics"].get("self-bleu-2").is_none(),
        "only the requested metrics"
    );
    let table = ok(&[
        "eval",
        "--samples",
        &f.s("hyps.txt"),
        "--references",
        &f.s("refs.txt"),
    ]);
    let t = String::from_utf8(table.stdout).unwrap();
    assert!(
        t.contains("bleu-5") && t.contains("self-bleu-5") && t.contains("distinct-2"),
        "{t}"
    );

    std::fs::write(f.path("empty.txt"), "\n\n").unwrap();
    fails(
        &[
            "eval",
            "--samples",
            &f.s("empty.txt"),
            "--references",
            &f.s("refs.txt"),
        ],
        "no sentences",
    );
    fails(
        &[
            "eval",
            "--samples",
            &f.s("hyps.txt"),
            "--references",
            &f.s("empty.txt"),
        ],
        "no sentences",
    );
    fails(
        &[
            "eval",
            "--samples",
            &f.s("hyps.txt"),
            "--metrics",
            "bleu,rouge",
        ],
        "unknown metric `rouge`",
    );
    fails(
        &["eval", "--samples", &f.s("hyps.txt"), "--metrics", "bleu"],
        "bleu needs reference sentences (give --references FILE",
    );
    fails(
        &[
            "eval",
            "--samples",
            &f.s("hyps.txt"),
            "--metrics",
            "nll-test",
        ],
        "nll-test needs --run",
    );
    fails(&["eval", "--run", &f.s("no-run")], "not found");
}

#[test]
fn eval_and_sweep_a_run() {
    let f = Fixture::new();
    f.train("run", 30, &[]);
    let run = f.s("run");
    let o = ok(&[
        "eval",
        "--run",
        &run,
        "-n",
        "50",
        "--json",
        "--lm-run",
        &run,
        "--reverse-epochs",
        "1",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let m = &j["metrics"];
    for k in [
        "bleu-5",
        "self-bleu-5",
        "distinct-1",
        "length",
        "copied",
        "nll-test",
        "nll-train",
        "lm-score",
        "reverse-lm",
    ] {
        assert!(m[k].is_number(), "{k} missing in {j}");
    }
    // The run's own NLL on its training data is its training loss: far below uniform (ln 30 = 3.4).
    assert!(m["nll-train"].as_f64().unwrap() < 3.0, "{j}");
    assert_eq!(j["references"], 2);

    std::fs::write(
        f.path("foreign.txt"),
        "the cat sat\nquantum chromodynamics rules\n",
    )
    .unwrap();
    fails(
        &["eval", "--run", &run, "--samples", &f.s("foreign.txt")],
        "another vocabulary",
    );

    let out = f.s("sweep");
    ok(&[
        "sweep",
        "--run",
        &run,
        "--run",
        &run,
        "--label",
        "a",
        "--label",
        "b",
        "--temperatures",
        "0.7,1.0",
        "-n",
        "20",
        "--out",
        &out,
    ]);
    let rows = std::fs::read_to_string(f.path("sweep/sweep.jsonl")).unwrap();
    assert_eq!(rows.lines().count(), 4);
    let png = std::fs::read(f.path("sweep/quality_diversity.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    assert!(
        std::fs::read_to_string(f.path("sweep/quality_diversity.svg"))
            .unwrap()
            .contains("BLEU-5")
    );
    fails(
        &[
            "sweep",
            "--run",
            &run,
            "--temperatures",
            "0,1",
            "--out",
            &out,
        ],
        "--temperatures",
    );
}

/// The small defects of the second hardening pass (issue 33, items 8, 12 and 13), each
/// pinned: a sweep keeps to a new or empty folder and leaves none when refused; `train
/// --help` names the real default job; a batch size of 0 is refused; `eval --beam` on a run
/// that samples is refused; `loadtest --out` and `export --hf` name their bad path at once;
/// `eval` reads other encodings with `--encoding` and says so.
#[test]
fn second_pass_small_defects_are_fixed() {
    let f = Fixture::new();
    f.train("run", 6, &[]);
    let run = f.s("run");
    // Sweeps: a folder with something in it is refused before any work, and kept as it is.
    std::fs::create_dir_all(f.path("used")).unwrap();
    std::fs::write(f.path("used/old.svg"), "<svg/>").unwrap();
    let sweep = |out: &str, extra: &[&str]| {
        let mut a = vec!["sweep", "--run", &run, "--temperatures", "1.0", "-n", "4"];
        a.extend_from_slice(extra);
        a.extend(["--out", out]);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let used = f.s("used");
    let args = sweep(&used, &[]);
    fails(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "not empty",
    );
    assert_eq!(std::fs::read_dir(f.path("used")).unwrap().count(), 1);
    // A refused sweep (references that are not there) leaves no folder behind.
    let (fresh, missing) = (f.s("fresh"), f.s("missing.txt"));
    let args = sweep(&fresh, &["--references", &missing]);
    fails(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "missing.txt",
    );
    assert!(!f.path("fresh").exists());
    // The help names the default job: the grammar, not COCO.
    let help = String::from_utf8(ok(&["train", "--help"]).stdout).unwrap();
    assert!(help.contains("built-in grammar"), "{help}");
    assert!(
        !help.contains("COCO") && !help.contains("coco-lstm"),
        "{help}"
    );
    let top = String::from_utf8(ok(&["--help"]).stdout).unwrap();
    assert!(!top.contains("COCO captions"), "{top}");
    // Batch sizes of 0.
    fails(
        &["sample", "--run", &run, "--batch-size", "0"],
        "--batch-size",
    );
    fails(
        &["translate", "--run", &run, "--batch-size", "0"],
        "--batch-size",
    );
    // --beam on a run that samples.
    fails(&["eval", "--run", &run, "-n", "4", "--beam", "3"], "--beam");
    // loadtest: a folder as --out is refused before any request (nothing listens here).
    std::fs::create_dir_all(f.path("dir")).unwrap();
    let dir = f.s("dir");
    let start = std::time::Instant::now();
    if cfg!(feature = "serve") {
        fails(
            &["loadtest", "--url", "http://127.0.0.1:9", "--out", &dir],
            &format!("--out {dir}"),
        );
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
    // export --hf onto a file names it.
    std::fs::write(f.path("a-file"), "").unwrap();
    fails(
        &["export", "--run", &run, "--hf", &f.s("a-file")],
        &format!("--hf {}", f.s("a-file")),
    );
    // eval's encoding: Latin-1 samples are refused as UTF-8 with the flag that reads them,
    // and read with it.
    std::fs::write(f.path("latin1.txt"), b"caf\xe9 au lait\nle th\xe9\n").unwrap();
    // (--encoding reads every file of the call: the references are Latin-1 too.)
    std::fs::write(f.path("refs.txt"), b"caf\xe9 au lait\nle th\xe9\n").unwrap();
    let (lat, refs) = (f.s("latin1.txt"), f.s("refs.txt"));
    let e = fails(
        &["eval", "--samples", &lat, "--references", &refs],
        "--encoding latin-1",
    );
    assert!(!e.contains("data.encoding"), "{e}");
    let o = ok(&[
        "eval",
        "--samples",
        &lat,
        "--references",
        &refs,
        "--encoding",
        "latin-1",
        "--json",
        "--metrics",
        "bleu",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        (j["metrics"]["bleu-2"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{j}"
    );
}

/// RelGAN's narrow representations (one number each: the fused CPU convolution) under the
/// WGAN-GP loss, whose penalty differentiates the discriminator twice (the matrix products).
#[test]
fn narrow_representations_train_under_every_path() {
    let f = Fixture::new();
    for loss in ["rsgan", "wgan"] {
        let mut extra = gan_args("gumbel", 2);
        extra.extend(["--set".into(), "discriminator.num_rep=8".into()]);
        extra.extend(["--set".into(), format!("gan.loss={loss}")]);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        f.train(loss, 4 + 2, &extra);
        let m = metrics(&f.path(loss));
        let last = m.last().unwrap();
        assert_eq!(last["adv_step"], 2, "{loss}: {last}");
        for k in ["g_loss", "d_loss"] {
            assert!(last[k].as_f64().is_some_and(f64::is_finite), "{loss}: {k}");
        }
    }
}

#[test]
fn every_algorithm_trains_end_to_end() {
    let f = Fixture::new();
    for algo in ["seqgan", "maligan", "gumbel", "scratchgan"] {
        let extra = gan_args(algo, 4);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        f.train(algo, 4 + 4, &extra);
        let m = metrics(&f.path(algo));
        let adv: Vec<&serde_json::Value> = m.iter().filter(|l| l["phase"] == "adv").collect();
        assert_eq!(
            adv.iter()
                .map(|l| l["adv_step"].as_u64().unwrap())
                .collect::<Vec<_>>(),
            vec![0, 2, 4],
            "{algo}"
        );
        let last = adv.last().unwrap();
        for k in ["g_loss", "d_loss", "d_real_acc", "d_fake_acc", "test_nll"] {
            assert!(
                last[k].as_f64().is_some_and(f64::is_finite),
                "{algo}: {k} in {last}"
            );
        }
        assert_eq!(last["bleu"].as_array().unwrap().len(), 4, "{algo}");
        if algo == "gumbel" {
            assert!(last["beta"].as_f64().unwrap() > 1.0);
        }
        let plot = std::fs::read_to_string(f.path(algo).join("plots/adv_bleu.svg")).unwrap();
        assert_eq!(
            plot.matches("<circle").count(),
            6,
            "{algo}: 3 evaluations x 2 curves"
        );
        // sample and eval work on adversarial runs.
        let run = f.s(algo);
        let o = ok(&["sample", "--run", &run, "-n", "3"]);
        assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    }
}

/// `gan.d_epochs`: SeqGAN's rounds of epochs over fresh samples, said in the log; refused
/// for an algorithm it does not apply to, with nothing written.
#[test]
fn seqgans_discriminator_schedule_end_to_end() {
    let f = Fixture::new();
    let mut extra = gan_args("seqgan", 2);
    for s in ["gan.d_epochs=2", "gan.d_samples=12"] {
        extra.extend(["--set".to_string(), s.to_string()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    f.train("rounds", 4 + 2, &extra);
    let log = std::fs::read_to_string(f.path("rounds").join("train.log")).unwrap();
    assert!(
        log.contains("discriminator pretrained for 2 rounds of 2 epochs over 12 fresh samples"),
        "{log}"
    );
    let last = metrics(&f.path("rounds")).pop().unwrap();
    assert_eq!(last["adv_step"], 2);
    assert!(
        last["d_loss"].as_f64().is_some_and(f64::is_finite),
        "{last}"
    );
    let bad = f.s("bad");
    let mut args = vec!["train", "--out", bad.as_str(), "--max-steps", "6"];
    let tiny = f.tiny();
    args.extend(tiny.iter().map(String::as_str));
    let gumbel = gan_args("gumbel", 2);
    args.extend(gumbel.iter().map(String::as_str));
    args.extend(["--set", "gan.d_epochs=2"]);
    fails(&args, "gan.d_epochs");
    assert!(!f.path("bad").exists());
}

#[test]
fn resume_continues_the_adversarial_phase() {
    let f = Fixture::new();
    let straight = gan_args("seqgan", 4);
    let straight: Vec<&str> = straight.iter().map(String::as_str).collect();
    f.train("a", 4 + 4, &straight);
    let half = gan_args("seqgan", 2);
    let half: Vec<&str> = half.iter().map(String::as_str).collect();
    f.train("b", 4 + 2, &half);
    let b = f.s("b");
    let o = ok(&[
        "train",
        "--resume",
        &b,
        "--set",
        "gan.steps=4",
        "--max-steps",
        "8",
    ]);
    assert!(
        stderr(&o).contains("resuming the adversarial phase at step 2"),
        "{}",
        stderr(&o)
    );
    let (ma, mb) = (metrics(&f.path("a")), metrics(&f.path("b")));
    let (la, lb) = (ma.last().unwrap(), mb.last().unwrap());
    assert_eq!(lb["adv_step"], 4);
    for k in ["test_nll", "g_loss", "d_loss"] {
        let (x, y) = (la[k].as_f64().unwrap(), lb[k].as_f64().unwrap());
        assert!((x - y).abs() < 1e-6, "{k}: straight {x} vs resumed {y}");
    }
    fails(
        &["train", "--resume", &b, "--set", "gan.algorithm=maligan"],
        "gan.algorithm",
    );
    // A new run can start its adversarial phase from another run's generator.
    let c = f.s("c");
    let mle = f.s("a");
    let mut args = vec![
        "train",
        "--out",
        &c,
        "--init-from",
        &mle,
        "--max-steps",
        "2",
    ];
    let tiny = f.tiny();
    args.extend(tiny.iter().map(String::as_str));
    let gan = gan_args("maligan", 2);
    args.extend(gan.iter().map(String::as_str));
    ok(&args);
    let mc = metrics(&f.path("c"));
    assert!(
        mc.iter().all(|l| l["phase"] == "adv"),
        "no MLE steps after --init-from"
    );
    assert_eq!(mc.first().unwrap()["adv_step"], 0);
    assert_eq!(mc.last().unwrap()["adv_step"], 2);
}

#[test]
fn bench_reports_time_and_peak_memory_beside_the_reference() {
    let lines = |o: &Output| -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect()
    };
    let o = ok(&[
        "bench", "--step", "mle", "--size", "oracle", "--reps", "2", "--warmup", "0",
    ]);
    let ours = lines(&o);
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0]["impl"], "textgan");
    assert!(ours[0]["median_ms"].as_f64().unwrap() > 0.0);
    assert!(
        ours[0]["peak_rss_mb"].as_f64().unwrap() > 10.0,
        "{}",
        ours[0]
    );
    fails(
        &[
            "bench",
            "--reference",
            "--python",
            "/nonexistent/python",
            "--reps",
            "1",
        ],
        "--python",
    );
    fails(
        &["bench", "--cuda-graph", "--device", "cpu", "--reps", "1"],
        "--cuda-graph needs a CUDA device",
    );
    // Side by side in one command, where the checkout has its PyTorch (scripts/test.sh
    // installs it).
    if Path::new(".venv/bin/python").exists() {
        let o = ok(&[
            "bench",
            "--step",
            "mle",
            "--size",
            "oracle",
            "--reps",
            "2",
            "--reference",
        ]);
        let all = lines(&o);
        assert_eq!(all.len(), 3, "ours, PyTorch's, the ratio: {all:?}");
        assert_eq!(all[1]["impl"], "pytorch");
        let speedup = all[2]["speedup"].as_f64().unwrap();
        let want = all[1]["median_ms"].as_f64().unwrap() / all[0]["median_ms"].as_f64().unwrap();
        assert!((speedup - want).abs() < 1e-9 && speedup > 0.0, "{all:?}");
    }
}
