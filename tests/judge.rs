//! MAUVE and FED against their references on the same inputs: `mauve-text` 0.4.0 (faiss,
//! sklearn) and scipy, through tests/fixtures/mauve_reference.py (installed into `.venv` on
//! first use; skipped with a reason where it cannot be).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};
use textgan::eval::features::save_npy;
use textgan::eval::mauve::{fed, mauve, mauve_of_counts, KmeansInit, MauveSettings};

fn python() -> Option<PathBuf> {
    common::python_with("faiss-cpu", "faiss")?;
    common::python_with("scipy", "scipy")?;
    common::python_with("mauve-text==0.4.0", "mauve")
}

fn reference(py: &Path, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mauve_reference.py");
    let o = Command::new(py).arg(script).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn close(a: f64, b: &serde_json::Value, tol: f64, what: &str) {
    let b = b.as_f64().unwrap();
    assert!((a - b).abs() <= tol, "{what}: textgan {a} vs reference {b}");
}

/// Standard normal draws of `shape`, from their own seeded stream (tests run side by side in
/// one process: torch's global generator would be shared).
fn randn(seed: u64, shape: [i64; 2]) -> Tensor {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let n = (shape[0] * shape[1]) as usize;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let (u, w): (f64, f64) = (rng.gen_range(1e-12..1.0), rng.gen());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos()) as f32
        })
        .collect();
    Tensor::from_slice(&v).view(shape)
}

/// Rows drawn around `centres` ([k, d]), `sizes[i]` rows of blob `i`, spread `sd`.
fn blobs(seed: u64, centres: &Tensor, sizes: &[i64], sd: f64) -> Tensor {
    let parts: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let c = centres.get(i as i64).unsqueeze(0);
            c + randn(seed * 1000 + i as u64, [n, centres.size()[1]]) * sd
        })
        .collect();
    Tensor::cat(&parts, 0)
}

#[test]
fn mauve_from_counts_equals_mauve_text() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (k, zeros) in [(2, false), (7, true), (50, true), (500, false)] {
        let draw = |salt: f64| -> Vec<f64> {
            let c = (randn(k as u64 + salt as u64, [1, k]).abs() * 20.0 + salt).floor();
            let mut v: Vec<f64> = Vec::try_from(c.view([-1]).to_kind(Kind::Double)).unwrap();
            if zeros {
                v[0] = 0.0;
                v[k as usize / 2] = 0.0;
            }
            v
        };
        let (p, mut q) = (draw(0.0), draw(1.0));
        if zeros {
            q[1] = 0.0;
        }
        let (pf, qf) = (dir.path().join("p.json"), dir.path().join("q.json"));
        std::fs::write(&pf, serde_json::to_string(&p).unwrap()).unwrap();
        std::fs::write(&qf, serde_json::to_string(&q).unwrap()).unwrap();
        let r = reference(&py, &["counts", pf.to_str().unwrap(), qf.to_str().unwrap()]);
        let m = mauve_of_counts(&p, &q, &MauveSettings::default());
        close(m.mauve, &r["mauve"], 1e-12, "mauve");
        close(m.mauve_star, &r["mauve_star"], 1e-12, "mauve*");
        close(m.frontier_integral, &r["frontier_integral"], 1e-12, "FI");
        close(
            m.frontier_integral_star,
            &r["frontier_integral_star"],
            1e-12,
            "FI*",
        );
    }
}

#[test]
fn mauve_from_features_agrees_with_mauve_text() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Unambiguous clusters: 8 far-apart blobs; P skews their sizes. k-means++ finds the blobs
    // (as mauve-text's seed 25 does here), the buckets equal them up to their order, to which
    // MAUVE is blind: every score agrees to rounding.
    let centres = randn(20, [8, 16]) * 10.0;
    let p = blobs(21, &centres, &[400, 300, 250, 200, 150, 100, 60, 40], 0.3);
    let q = blobs(22, &centres, &[190; 8], 0.3);
    let (pf, qf) = (dir.path().join("p.npy"), dir.path().join("q.npy"));
    save_npy(&pf, &p).unwrap();
    save_npy(&qf, &q).unwrap();
    let (ps, qs) = (pf.to_str().unwrap(), qf.to_str().unwrap());
    let seeds: Vec<String> = (1..=10).map(|s| s.to_string()).collect();
    let mut args = vec!["features", ps, qs, "8"];
    args.extend(seeds.iter().map(String::as_str));
    let r = reference(&py, &args);
    let s = MauveSettings {
        buckets: Some(8),
        init: KmeansInit::PlusPlus,
        ..Default::default()
    };
    let m = mauve(&p, &q, &s).unwrap();
    assert_eq!(m.pca_dims as u64, r["pca_dims"].as_u64().unwrap());
    let truth: Vec<f64> = [40.0, 60.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0]
        .iter()
        .map(|c| c / 1500.0)
        .collect();
    let mut mine = m.p_hist.clone();
    mine.sort_by(f64::total_cmp);
    let same = |h: &[f64]| h.iter().zip(&truth).all(|(a, b)| (a - b).abs() < 1e-12);
    assert!(same(&mine), "the buckets are the blobs: {mine:?}");
    // mauve-text's seeds that found the blobs too (faiss's random starts often merge two)
    // give the same scores.
    let mut found = 0;
    for run in r["runs"].as_array().unwrap() {
        let theirs: Vec<f64> = serde_json::from_value(run["p_hist"].clone()).unwrap();
        if same(&theirs) {
            found += 1;
            close(m.mauve, &run["mauve"], 1e-9, "mauve, blobs");
            close(m.mauve_star, &run["mauve_star"], 1e-9, "mauve*, blobs");
            close(
                m.frontier_integral,
                &run["frontier_integral"],
                1e-9,
                "FI, blobs",
            );
        }
    }
    eprintln!("mauve-text found the 8 blobs with {found} of 10 seeds");
    // The scores of the true partition, by mauve-text's own functions.
    let (pc, qc) = (dir.path().join("pc.json"), dir.path().join("qc.json"));
    let counts: Vec<f64> = truth.iter().map(|x| (x * 1500.0).round()).collect();
    std::fs::write(&pc, serde_json::to_string(&counts).unwrap()).unwrap();
    std::fs::write(&qc, serde_json::to_string(&[190.0; 8]).unwrap()).unwrap();
    let r = reference(&py, &["counts", pc.to_str().unwrap(), qc.to_str().unwrap()]);
    close(m.mauve, &r["mauve"], 1e-12, "mauve of the blobs");
    close(m.mauve_star, &r["mauve_star"], 1e-12, "mauve* of the blobs");

    // Real overlap: 60 blobs close together, P's centres moved a little; the default buckets
    // (round(1500 / 10) = 150). The k-means differ (faiss draws its starts its own way), so
    // the scores agree as two seeds of mauve-text do.
    let centres = randn(30, [60, 24]);
    let moved = &centres + randn(31, [60, 24]) * 0.3;
    let p = blobs(32, &moved, &[25; 60], 0.5);
    let q = blobs(33, &centres, &[25; 60], 0.5);
    save_npy(&pf, &p).unwrap();
    save_npy(&qf, &q).unwrap();
    let r = reference(&py, &["features", ps, qs, "150", "1", "2", "3", "4", "5"]);
    let theirs: Vec<f64> = r["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["mauve"].as_f64().unwrap())
        .collect();
    let ours: Vec<f64> = (1..=5)
        .map(|seed| {
            let s = MauveSettings {
                seed,
                ..Default::default()
            };
            mauve(&p, &q, &s).unwrap().mauve
        })
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let spread = |v: &[f64]| {
        v.iter().cloned().fold(f64::MIN, f64::max) - v.iter().cloned().fold(f64::MAX, f64::min)
    };
    eprintln!(
        "MAUVE over seeds 1..5: textgan {ours:.4?} (mean {:.4}, range {:.4}); mauve-text {theirs:.4?} (mean {:.4}, range {:.4})",
        mean(&ours),
        spread(&ours),
        mean(&theirs),
        spread(&theirs)
    );
    // Both scatter widely over seeds here (10 rows a bucket): the means must agree within
    // the noise, three standard errors of their difference.
    let var = |v: &[f64]| {
        let m = mean(v);
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
    };
    let se = ((var(&ours) + var(&theirs)) / 5.0).sqrt();
    let diff = (mean(&ours) - mean(&theirs)).abs();
    assert!(
        diff <= 3.0 * se + 0.005,
        "means differ by {diff}, more than 3 standard errors ({se})"
    );
}

#[test]
fn fed_equals_the_scipy_reference() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mix = randn(40, [384, 384]) * 0.1;
    let a = randn(41, [2000, 384]).matmul(&mix);
    let b = randn(42, [2000, 384]).matmul(&mix) + 0.05;
    let (af, bf) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    save_npy(&af, &a).unwrap();
    save_npy(&bf, &b).unwrap();
    let r = reference(&py, &["fed", af.to_str().unwrap(), bf.to_str().unwrap()]);
    let ours = fed(&a, &b).unwrap();
    let theirs = r["fed"].as_f64().unwrap();
    assert!(
        (ours - theirs).abs() <= 1e-6 * theirs.abs(),
        "FED: textgan {ours} vs scipy {theirs}"
    );
}

fn encoder_reference(py: &Path, args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/encoder_reference.py");
    let o = Command::new(py).arg(script).args(args).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn a_bert_folder_gives_the_hidden_states_of_transformers() {
    let Some(py) = common::python_with("transformers", "transformers") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    encoder_reference(&py, &["tiny", out]);
    let load = |n: &str| textgan::eval::features::load_npy(&dir.path().join(n)).unwrap();
    let (ids, mask, want) = (load("ids.npy"), load("mask.npy"), {
        let p = dir.path().join("hidden.npy");
        let bytes = std::fs::read(p).unwrap();
        let (shape, v) = textgan::models::npy_f32(&bytes).unwrap();
        Tensor::from_slice(&v).reshape(shape.as_slice())
    });
    let bert = textgan::models::bert::Bert::load(dir.path(), Device::Cpu).unwrap();
    let (ids, mask) = (ids.to_kind(Kind::Int64), mask.to_kind(Kind::Int64));
    let h = bert.forward(&ids, &mask);
    // Padding positions hold whatever attention over the real tokens gives: compare the
    // real ones, as every use of the states does.
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let d = max_abs_diff(&(&h * &m), &(&want * &m));
    assert!(d <= 1e-5, "hidden states differ by {d}");
    // A folder of another kind is refused by name.
    let cfg = dir.path().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"bert\"", "\"roberta\"")).unwrap();
    let e = textgan::models::bert::Bert::load(dir.path(), Device::Cpu)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("model_type \"roberta\" is not supported"), "{e}");
}

#[test]
fn minilm_features_equal_sentence_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(folder) = common::minilm_folder(dir.path()) else {
        return;
    };
    let Some(py) = common::python_with("sentence-transformers", "sentence_transformers") else {
        return;
    };
    let long = "the quick brown fox jumps over the lazy dog . ".repeat(40);
    let mut texts: Vec<String> = vec![
        "".into(),
        "A man riding a wave on top of a surfboard.".into(),
        "Ein Mann fährt Fahrrad über die Brücke – très jolie, naïve café".into(),
        "日本語のテキストも大丈夫です".into(),
        long,
    ];
    for i in 0..45 {
        texts.push(format!(
            "a picture of {i} cats sitting on a red bench near the sea"
        ));
    }
    let tf = dir.path().join("texts.json");
    std::fs::write(&tf, serde_json::to_string(&texts).unwrap()).unwrap();
    let want_path = dir.path().join("st.npy");
    encoder_reference(
        &py,
        &[
            "st",
            folder.to_str().unwrap(),
            tf.to_str().unwrap(),
            want_path.to_str().unwrap(),
        ],
    );
    let want = textgan::eval::features::load_npy(&want_path).unwrap();
    let enc = textgan::eval::encoder::SentenceEncoder::load(&folder, Device::Cpu).unwrap();
    let got = enc.encode(&texts, &mut |_| {}).unwrap();
    assert_eq!(got.size(), want.size());
    let d = max_abs_diff(&got, &want);
    let cos = (&got * &want).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let worst = cos.min().double_value(&[]);
    assert!(
        d <= 1e-5 && worst >= 0.99999,
        "max |diff| {d}, lowest cosine {worst}"
    );
}

#[test]
fn eval_reports_mauve_and_fed_through_minilm() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_) = common::minilm_folder(dir.path()) else {
        return;
    };
    let lines: Vec<String> = (0..60)
        .map(|i| {
            format!(
                "a photo of {} dogs playing with a {} ball",
                i % 7,
                ["red", "blue", "big"][i % 3]
            )
        })
        .collect();
    let f = dir.path().join("s.txt");
    std::fs::write(&f, lines.join("\n")).unwrap();
    let run = |args: &[&str]| common::textgan_in(dir.path(), args);
    let fs = f.to_str().unwrap();
    let o = run(&[
        "eval",
        "--samples",
        fs,
        "--references",
        fs,
        "--metrics",
        "mauve,fed",
        "--json",
    ]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let get = |name: &str| {
        j["metrics"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("no {name} in {j}"))
    };
    // The same texts on both sides: the same histograms, the same Gaussians.
    assert!((get("mauve") - 1.0).abs() < 1e-9, "{j}");
    assert!(get("frontier-integral").abs() < 1e-9, "{j}");
    assert!(get("fed").abs() < 1e-5, "{j}");
    // Bad input: one line, exit 1.
    for (args, needle) in [
        (
            vec!["eval", "--samples", fs, "--metrics", "mauve"],
            "give --references FILE",
        ),
        (
            vec![
                "eval",
                "--samples",
                fs,
                "--references",
                fs,
                "--metrics",
                "fed",
                "--encoder",
                "/no/such",
            ],
            "neither `minilm` nor a folder",
        ),
    ] {
        let o = run(&args);
        let err = common::stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    // Without the encoder in the data directory: the command that gets it.
    let empty = tempfile::tempdir().unwrap();
    let args = [
        "eval",
        "--samples",
        fs,
        "--references",
        fs,
        "--metrics",
        "mauve",
    ];
    let o = common::textgan_in(empty.path(), &args);
    let err = common::stderr(&o);
    assert!(err.contains("textgan data get minilm"), "{err}");
}

#[test]
fn kenlm_reads_our_arpa_files_and_scores_as_we_do() {
    let Some(data) = common::coco_dir() else {
        return;
    };
    let Some(py) = common::python_with("kenlm", "kenlm") else {
        return;
    };
    use textgan::eval::ngram::NgramLm;
    let train = textgan::data::read_lines(&data.join("train.txt")).unwrap();
    let test: Vec<String> =
        textgan::data::read_lines(&data.join("test.txt")).unwrap()[..400].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let tf = dir.path().join("test.txt");
    std::fs::write(&tf, test.join("\n")).unwrap();
    for order in [2, 3, 5] {
        let lm = NgramLm::estimate(&train, order).unwrap();
        let arpa = dir.path().join(format!("o{order}.arpa"));
        std::fs::write(&arpa, lm.to_arpa()).unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/kenlm_reference.py");
        let o = Command::new(&py)
            .arg(script)
            .arg(&arpa)
            .arg(&tf)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(r["order"].as_u64().unwrap(), order as u64);
        let mut worst = 0f64;
        for (line, theirs) in test.iter().zip(r["scores"].as_array().unwrap()) {
            let (ours, _) = lm.score(line);
            let theirs: Vec<f64> = serde_json::from_value(theirs.clone()).unwrap();
            assert_eq!(ours.len(), theirs.len(), "{line}");
            for (a, b) in ours.iter().zip(&theirs) {
                worst = worst.max((a - b).abs());
            }
        }
        eprintln!(
            "order {order}: largest |log10 difference| from kenlm {worst:.2e}, discounts {:?}",
            lm.discounts
        );
        assert!(worst <= 1e-4, "order {order}: kenlm differs by {worst}");
    }
}

#[test]
fn eval_reports_the_ngram_perplexity_and_writes_the_arpa_file() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.txt");
    std::fs::write(
        &train,
        "the cat sat on the mat\nthe dog sat\na cat and a dog\nthe mat\n",
    )
    .unwrap();
    let samples = dir.path().join("s.txt");
    std::fs::write(&samples, "the cat sat\na dog sat on the mat\n").unwrap();
    let arpa = dir.path().join("lm.arpa");
    let (t, s, a) = (
        train.to_str().unwrap(),
        samples.to_str().unwrap(),
        arpa.to_str().unwrap(),
    );
    let o = common::ok(&[
        "eval",
        "--samples",
        s,
        "--train",
        t,
        "--metrics",
        "ngram-ppl",
        "--ngram-order",
        "3",
        "--save-arpa",
        a,
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ppl = j["metrics"]["ngram-ppl"].as_f64().unwrap();
    // The same number from the ARPA file the command wrote.
    let lm =
        textgan::eval::ngram::NgramLm::from_arpa(&std::fs::read_to_string(&arpa).unwrap()).unwrap();
    let lines = vec![
        "the cat sat".to_string(),
        "a dog sat on the mat".to_string(),
    ];
    assert!((lm.perplexity(&lines) - ppl).abs() < 1e-6 * ppl, "{ppl}");
    assert!(j["protocols"]["ngram-ppl"]
        .as_str()
        .unwrap()
        .contains("discount fallback"));
    common::fails(
        &["eval", "--samples", s, "--metrics", "ngram-ppl"],
        "give --train FILE",
    );
    common::fails(
        &[
            "eval",
            "--samples",
            s,
            "--train",
            t,
            "--metrics",
            "ngram-ppl",
            "--ngram-order",
            "0",
        ],
        "order must be in 1..=9",
    );
    // A cut-short ARPA file is refused in one line.
    let text = std::fs::read_to_string(&arpa).unwrap();
    let cut = &text[..text[..text.len() / 2].rfind('\n').unwrap()];
    let e = textgan::eval::ngram::NgramLm::from_arpa(cut)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cut short") || e.contains("declares"), "{e}");
    let e = textgan::eval::ngram::NgramLm::from_arpa("ngram 1=3\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("no \\data\\ header"), "{e}");
}

#[test]
fn sweep_adds_mauve_and_fed_by_temperature() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_) = common::minilm_folder(dir.path()) else {
        return;
    };
    let text: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "a {} dog runs to the {} park",
                ["red", "small", "old"][i % 3],
                ["big", "green"][i % 2]
            )
        })
        .collect();
    let data = dir.path().join("text.txt");
    std::fs::write(&data, text.join("\n")).unwrap();
    let tg = |args: &[&str]| {
        let o = common::textgan_in(dir.path(), args);
        assert!(o.status.success(), "{args:?}: {}", common::stderr(&o));
    };
    let run = dir.path().join("run");
    let out = dir.path().join("sweep");
    let (d, r, s) = (
        data.to_str().unwrap(),
        run.to_str().unwrap(),
        out.to_str().unwrap(),
    );
    tg(&["train", "--out", r, "--data", d, "--max-steps", "20"]);
    tg(&[
        "sweep",
        "--run",
        r,
        "--temperatures",
        "0.8,1.0",
        "-n",
        "40",
        "--mauve",
        "--out",
        s,
    ]);
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(out.join("sweep.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let m = row["mauve"].as_f64().unwrap();
        assert!(
            (0.0..=1.0).contains(&m) && row["fed"].as_f64().unwrap() >= 0.0,
            "{row}"
        );
        assert!(
            row.get("lines").is_none(),
            "the samples stay out of the table: {row}"
        );
    }
    assert!(out.join("mauve_temperature.svg").is_file());
    let md = std::fs::read_to_string(out.join("sweep.md")).unwrap();
    assert!(md.contains("MAUVE | FED"), "{md}");
    // The report shows both plots and the table.
    let html = dir.path().join("report.html");
    let h = html.to_str().unwrap();
    tg(&["report", "--run", r, "--sweep", s, "--out", h]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("MAUVE by temperature") && page.contains("MAUVE | FED"));
}

#[test]
fn the_ngram_command_samples_and_writes_its_model() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.txt");
    let lines = [
        "the cat sat on the mat",
        "the dog sat",
        "a cat and a dog",
        "the mat",
    ];
    std::fs::write(&train, lines.join("\n")).unwrap();
    let (arpa, out) = (dir.path().join("lm.arpa"), dir.path().join("s.txt"));
    let t = train.to_str().unwrap();
    let o = common::ok(&[
        "ngram",
        "--data",
        t,
        "--order",
        "3",
        "-n",
        "30",
        "--seed",
        "4",
        "--save-arpa",
        arpa.to_str().unwrap(),
        "--output",
        out.to_str().unwrap(),
        "--test",
        t,
    ]);
    let err = common::stderr(&o);
    assert!(
        err.contains("test perplexity") && err.contains("discount fallback"),
        "{err}"
    );
    let samples = std::fs::read_to_string(&out).unwrap();
    assert_eq!(samples.lines().count(), 30);
    let words: std::collections::HashSet<&str> = lines.iter().flat_map(|l| l.split(' ')).collect();
    assert!(
        samples.split_whitespace().all(|w| words.contains(w)),
        "{samples}"
    );
    let lm =
        textgan::eval::ngram::NgramLm::from_arpa(&std::fs::read_to_string(&arpa).unwrap()).unwrap();
    assert_eq!(lm.order(), 3);
    common::fails(
        &["ngram", "--data", t, "--temperature", "0"],
        "--temperature",
    );
}
