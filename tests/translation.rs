//! Source-conditional generation end to end through the binary: a word-for-word toy
//! translation task (aligned files) learned by the encoder-decoder, `translate` with greedy
//! decoding and beam search scored by `eval --metrics sacrebleu,chrf`, `sample --source`,
//! a dialogue pair file, adversarial NMT, and the bad inputs of parallel data.
mod common;
use common::{fails, ok, textgan};
use std::path::Path;

const SRC: [&str; 10] = [
    "ein", "hund", "katze", "rot", "blau", "läuft", "springt", "groß", "klein", "baum",
];
const TGT: [&str; 10] = [
    "a", "dog", "cat", "red", "blue", "runs", "jumps", "big", "small", "tree",
];

/// `n` pairs of 2-5 random words (a seeded LCG): the target is the source translated word
/// for word.
fn pairs(n: usize, seed: u64) -> (Vec<String>, Vec<String>) {
    let mut state = seed;
    let mut draw = |k: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % k) as usize
    };
    let (mut s, mut t) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let len = 2 + draw(4);
        let words: Vec<usize> = (0..len).map(|_| draw(10)).collect();
        s.push(words.iter().map(|&w| SRC[w]).collect::<Vec<_>>().join(" "));
        t.push(words.iter().map(|&w| TGT[w]).collect::<Vec<_>>().join(" "));
    }
    (s, t)
}

fn write(dir: &Path, name: &str, lines: &[String]) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

fn seq2seq_sets() -> Vec<String> {
    [
        "generator.kind=seq2seq",
        "generator.enc_layers=1",
        "generator.dec_layers=1",
        "generator.n_head=2",
        "generator.n_embd=32",
        "generator.ffn=64",
        "generator.dropout=0.0",
        "train.batch_size=16",
        "train.lr=0.003",
        "train.device=cpu",
        "train.eval_every=300",
        "train.eval_samples=40",
    ]
    .iter()
    .flat_map(|s| ["--set".to_string(), s.to_string()])
    .collect()
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// The toy task is learned: greedy and beam translations of unseen sources are (nearly) the
/// word-for-word references, by sacreBLEU and chrF, and the run's own evaluation says so.
#[test]
fn a_toy_translation_is_learned_and_scored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, t) = pairs(300, 1);
    let (ts, tt) = pairs(40, 2);
    let mut a: Vec<String> = vec![
        "train".into(),
        "--out".into(),
        d.join("mt").to_string_lossy().into(),
    ];
    for (k, v) in [
        ("data.source", "text".to_string()),
        (
            "data.train_source",
            format!("\"{}\"", write(d, "train.de", &s)),
        ),
        ("data.train", format!("\"{}\"", write(d, "train.en", &t))),
        (
            "data.test_source",
            format!("\"{}\"", write(d, "test.de", &ts)),
        ),
        ("data.test", format!("\"{}\"", write(d, "test.en", &tt))),
        ("train.max_steps", "600".into()),
        ("train.epochs", "1000".into()),
    ] {
        a.extend(["--set".into(), format!("{k}={v}")]);
    }
    a.extend(seq2seq_sets());
    ok(&args(&a));
    let run = d.join("mt").to_string_lossy().into_owned();
    let m = common::metrics(&d.join("mt"));
    let last = m.last().unwrap();
    assert!(last["sacrebleu"].as_f64().unwrap() > 80.0, "{last}");
    let refs = write(d, "refs.en", &tt);
    for beam in ["1", "3"] {
        let o = ok(&[
            "translate",
            "--run",
            &run,
            "--input",
            &d.join("test.de").to_string_lossy(),
            "--beam",
            beam,
        ]);
        let hyps: Vec<String> = String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        assert_eq!(hyps.len(), 40);
        let exact = hyps.iter().zip(&tt).filter(|(h, r)| h == r).count();
        assert!(exact >= 32, "beam {beam}: {exact} of 40 exact\n{hyps:?}");
        let hyp_file = write(d, &format!("hyp{beam}.en"), &hyps);
        let o = ok(&[
            "eval",
            "--samples",
            &hyp_file,
            "--references",
            &refs,
            "--metrics",
            "sacrebleu,chrf",
            "--json",
        ]);
        let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(j["metrics"]["sacrebleu"].as_f64().unwrap() > 80.0, "{j}");
        assert!(j["metrics"]["chrf"].as_f64().unwrap() > 80.0, "{j}");
    }
    // eval of the run translates its test sources and scores them the same way.
    let o = ok(&["eval", "--run", &run, "--beam", "3", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(j["metrics"]["sacrebleu"].as_f64().unwrap() > 80.0, "{j}");
    assert!(j["metrics"]["nll-test"].as_f64().unwrap() < 1.0, "{j}");
    // Sampling under one source, and the counted warnings of translate.
    let o = ok(&[
        "sample",
        "--run",
        &run,
        "--source",
        "hund läuft",
        "-n",
        "5",
        "--temperature",
        "0.3",
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.lines().filter(|l| *l == "dog runs").count() >= 4,
        "{text}"
    );
    let long = vec![
        ["ein"; 200].join(" "),
        String::new(),
        "hund xyz".to_string(),
    ];
    let input = write(d, "odd.de", &long);
    let o = textgan(&["translate", "--run", &run, "--input", &input]);
    assert!(o.status.success());
    let out = String::from_utf8(o.stdout.clone()).unwrap();
    assert_eq!(out.lines().count(), 3, "one line out per line in");
    assert_eq!(
        out.lines().nth(1),
        Some(""),
        "an empty source, an empty line"
    );
    let err = common::stderr(&o);
    for w in [
        "1 empty source",
        "1 sources were cut",
        "1 source tokens are not in",
    ] {
        assert!(err.contains(w), "{w}: {err}");
    }
    fails(&["sample", "--run", &run], "give --source TEXT");

    // A sweep over beam widths.
    let sw = d.join("sweep").to_string_lossy().into_owned();
    ok(&[
        "sweep", "--run", &run, "--beams", "1,3", "-n", "40", "--out", &sw,
    ]);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(d.join("sweep/sweep.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter().all(|r| r["sacrebleu"].as_f64().unwrap() > 80.0),
        "{rows:?}"
    );
    assert!(d.join("sweep/beam_sweep.svg").exists());
    // The folder holds a sweep now: a second one is refused there, and the first stays whole.
    fails(
        &[
            "sweep", "--run", &run, "--beams", "1", "-n", "4", "--out", &sw,
        ],
        "not empty",
    );
    assert!(d.join("sweep/beam_sweep.svg").exists());
    // A refused sweep leaves no folder behind.
    let sw0 = d.join("sweep0").to_string_lossy().into_owned();
    fails(
        &["sweep", "--run", &run, "--beams", "0", "--out", &sw0],
        "--beams",
    );
    assert!(!d.join("sweep0").exists());
    // `report --sweep` and `serve --sweep` take the beam-width sweep.
    let html = d.join("report.html").to_string_lossy().into_owned();
    ok(&["report", "--run", &run, "--sweep", &sw, "--out", &html]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Beam width") && page.contains("<svg"),
        "no sweep plot"
    );
    if cfg!(feature = "serve") {
        served_sweep_plot(&run, &sw);
    }

    // A decoder-only LSTM reading the source as a prefix learns the task too, and so does the
    // LSTM encoder-decoder with attention.
    let mut a: Vec<String> = a
        .iter()
        .map(|s| {
            s.replace(
                &d.join("mt").to_string_lossy().to_string(),
                &d.join("prefix").to_string_lossy(),
            )
        })
        .collect();
    a.extend(["--set", "generator.kind=lstm"].map(String::from));
    ok(&args(&a));
    let m = common::metrics(&d.join("prefix"));
    let last = m.last().unwrap();
    assert!(last["sacrebleu"].as_f64().unwrap() > 50.0, "{last}");
    let mut a: Vec<String> = a
        .iter()
        .map(|s| {
            s.replace(
                &d.join("prefix").to_string_lossy().to_string(),
                &d.join("rnn").to_string_lossy(),
            )
        })
        .collect();
    a.extend(
        [
            "--set",
            "generator.kind=lstm-seq2seq",
            "--set",
            "generator.embed_dim=32",
            "--set",
            "generator.hidden_dim=32",
            "--set",
            "generator.dropout=0.0",
        ]
        .map(String::from),
    );
    ok(&args(&a));
    let m = common::metrics(&d.join("rnn"));
    let last = m.last().unwrap();
    assert!(last["sacrebleu"].as_f64().unwrap() > 50.0, "{last}");
}

/// Dialogue uses the same form (context<TAB>reply lines); adversarial NMT runs on pairs.
#[test]
fn dialogue_pairs_and_adversarial_nmt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let turns: Vec<String> = (0..60)
        .map(|i| match i % 3 {
            0 => "hello there\thi , how are you ?",
            1 => "how are you ?\ti am fine , thanks",
            _ => "goodbye\tsee you soon",
        })
        .map(String::from)
        .collect();
    let file = write(d, "dialogue.tsv", &turns);
    let mut a: Vec<String> = vec![
        "train".into(),
        "--out".into(),
        d.join("chat").to_string_lossy().into(),
    ];
    for s in [
        "data.source=text".to_string(),
        format!("data.train=\"{file}\""),
        "data.parallel=true".into(),
        "data.test_fraction=0.1".into(),
        "train.epochs=40".into(),
        "gan.algorithm=adversarial-nmt".into(),
        "gan.steps=2".into(),
        "gan.rollouts=2".into(),
        "gan.batch_size=8".into(),
        "gan.d_pretrain_steps=2".into(),
        "gan.eval_every=2".into(),
        "discriminator.kind=cnn".into(),
        "discriminator.embed_dim=8".into(),
        "discriminator.filter_sizes=[1, 2]".into(),
        "discriminator.num_filters=[4, 4]".into(),
    ] {
        a.extend(["--set".into(), s]);
    }
    a.extend(seq2seq_sets());
    ok(&args(&a));
    let m = common::metrics(&d.join("chat"));
    let last = m.last().unwrap();
    assert_eq!(last["phase"], "adv", "{last}");
    assert!(
        last["teacher_loss"].as_f64().is_some_and(f64::is_finite),
        "{last}"
    );
    let run = d.join("chat").to_string_lossy().into_owned();
    let o = ok(&[
        "sample", "--run", &run, "--source", "goodbye", "-n", "3", "--greedy",
    ]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.lines().all(|l| l == "see you soon"), "{text}");
}

#[test]
fn parallel_data_errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (s, t) = pairs(10, 1);
    let (src, tgt) = (write(d, "a.de", &s), write(d, "a.en", &t[..9]));
    let out = d.join("never").to_string_lossy().into_owned();
    let base = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["train".into(), "--out".into(), out.clone()];
        for s in extra {
            a.extend(["--set".into(), s.to_string()]);
        }
        a
    };
    let train = format!("data.train=\"{tgt}\"");
    let train_src = format!("data.train_source=\"{src}\"");
    let a = base(&[
        "data.source=text",
        &train,
        &train_src,
        "generator.kind=seq2seq",
    ]);
    fails(&args(&a), "has 10 lines");
    let plain = write(d, "plain.txt", &t);
    let a = base(&[
        "data.source=text",
        &format!("data.train=\"{plain}\""),
        "generator.kind=seq2seq",
    ]);
    fails(&args(&a), "needs a parallel corpus");
    assert!(!d.join("never").exists());
}

/// `serve --sweep DIR` of a beam-width sweep starts and serves its plot.
fn served_sweep_plot(run: &str, sweep: &str) {
    let (mut child, url) = common::serve(&[
        "--run",
        run,
        "--sweep",
        sweep,
        "--addr",
        "127.0.0.1:0",
        "--device",
        "cpu",
    ]);
    let r = ureq::get(&format!("{url}/v1/sweeps/sweep")).call();
    let _ = child.kill();
    let _ = child.wait();
    let r = r.unwrap_or_else(|e| panic!("serve --sweep at {url}: {e}"));
    assert_eq!(r.content_type(), "image/svg+xml");
    assert!(r.into_string().unwrap().contains("<svg"));
}
