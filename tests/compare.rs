//! `textgan train-discriminator` and `textgan compare`: a discriminator trained afresh on any
//! run reranks its samples, and the verdict against MLE's curve is computed as stated (a run
//! compared with itself is exactly on the curve).
mod common;
use common::{fails, ok, Fixture};

fn rows(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("compare.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_fresh_discriminator_reranks_and_compare_gives_verdicts() {
    let f = Fixture::new();
    f.train("mle", 6, &[]);
    let (mle, withd) = (f.s("mle"), f.s("mle-d"));
    let args = ["--samples", "8", "--epochs", "2", "--device", "cpu"];
    let mut a = vec!["train-discriminator", "--run", &mle, "--out", &withd];
    a.extend(args);
    ok(&a);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("mle-d/discriminator.json")).unwrap())
            .unwrap();
    let acc = info["report"]["held_out_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc), "{info}");
    // The new run samples as the old one (the same generator) and reranks with its discriminator.
    let plain = |run: &str| ok(&["sample", "--run", run, "-n", "4", "--seed", "5"]).stdout;
    assert_eq!(plain(&mle), plain(&withd));
    let o = ok(&["sample", "--run", &withd, "-n", "3", "--rerank", "2"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    fails(
        &["sample", "--run", &mle, "-n", "3", "--rerank", "2"],
        "no discriminator",
    );
    let o = ok(&[
        "sample",
        "--run",
        &withd,
        "-n",
        "3",
        "--energy",
        "2",
        "--strength",
        "2",
    ]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    fails(
        &[
            "sample",
            "--run",
            &withd,
            "--energy",
            "2",
            "--strength",
            "nan",
        ],
        "--strength",
    );
    fails(
        &["sample", "--run", &mle, "--energy", "2"],
        "no discriminator",
    );
    // A directory holds a new run only.
    fails(&a, "not empty");

    let out = f.s("cmp");
    let c = [
        "compare",
        "--baseline",
        &mle,
        "--run",
        &mle,
        "--run",
        &withd,
        "--label",
        "same",
        "--label",
        "with D",
        "--rerank",
        "2",
        "--seeds",
        "2",
        "-n",
        "6",
        "--temperatures",
        "0.8,1.0,1.2",
        "--device",
        "cpu",
        "--out",
        &out,
    ];
    let o = ok(&c);
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(table.contains("| with D rerank 2 |"), "{table}");
    let r = rows(&f.path("cmp"));
    // 3 baseline rows, then 3 temperatures for each of same, with D, with D rerank 2.
    assert_eq!(r.len(), 12);
    for row in r
        .iter()
        .filter(|r| r["candidate"] == "same" || r["candidate"] == "with D")
    {
        // The baseline's own samples lie on its curve: never above it (below only where the
        // curve, noisy on 6 samples, comes back over the same coverage from another
        // temperature, whose better quality counts).
        for s in row["per_seed"].as_array().unwrap() {
            assert!(s["advantage"].as_f64().unwrap() <= 0.0, "{row}");
        }
        assert_ne!(row["verdict"], "above", "{row}");
    }
    // On a curve of one temperature, a point is its own curve: exactly 0 at every seed.
    let one = f.s("one");
    let mut c1 = c.to_vec();
    let at = c1.iter().position(|a| *a == "0.8,1.0,1.2").unwrap();
    c1[at] = "1.0";
    *c1.last_mut().unwrap() = &one;
    ok(&c1);
    for row in rows(&f.path("one"))
        .iter()
        .filter(|r| r["candidate"] == "same")
    {
        for s in row["per_seed"].as_array().unwrap() {
            assert_eq!(s["advantage"].as_f64(), Some(0.0), "{row}");
        }
        assert_eq!(row["verdict"], "on", "{row}");
    }
    assert!(f.path("cmp/compare.svg").is_file() && f.path("cmp/compare.png").is_file());
}

#[test]
fn compare_refuses_what_it_cannot_judge() {
    let f = Fixture::new();
    f.train("mle", 4, &[]);
    let mle = f.s("mle");
    let out = f.s("cmp");
    let base = [
        "compare",
        "--baseline",
        &mle,
        "--out",
        &out,
        "-n",
        "4",
        "--device",
        "cpu",
    ];
    let with = |extra: &[&str]| {
        let mut v = base.to_vec();
        v.extend(extra);
        v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run = |extra: &[&str], msg: &str| {
        let v = with(extra);
        fails(&v.iter().map(String::as_str).collect::<Vec<_>>(), msg);
    };
    run(&[], "give at least one --run");
    run(&["--run", &mle, "--rerank", "2"], "train-discriminator");
    run(&["--run", &mle, "--rerank", "1"], "2..=64");
    run(
        &["--run", &mle, "--energy", "2", "--strength", "-1"],
        "--strength",
    );
    run(
        &["--run", &format!("{mle},{mle}"), "--seeds", "5"],
        "give --seeds 2",
    );
    run(
        &["--run", &mle, "--plane", "oracle"],
        "not on the oracle benchmark",
    );
    run(
        &["--run", &mle, "--plane", "nll", "--rerank", "2"],
        "bleu plane only",
    );
    run(&["--run", &mle, "--temperatures", "0"], "--temperatures");
    run(
        &[
            "--run",
            &format!("{mle},{mle}"),
            "--run",
            &format!("{mle},{mle},{mle}"),
        ],
        "as many directories",
    );
    // Another corpus: another vocabulary.
    std::fs::write(
        f.path("other.txt"),
        "one two three\nfour five six\nseven eight nine\n",
    )
    .unwrap();
    let other = f.s("other");
    let data = format!("data.train=\"{}\"", f.s("other.txt"));
    ok(&[
        "train",
        "--out",
        &other,
        "--max-steps",
        "2",
        "--set",
        "data.source=text",
        "--set",
        &data,
        "--set",
        "generator.embed_dim=8",
        "--set",
        "generator.hidden_dim=16",
        "--set",
        "train.device=cpu",
    ]);
    run(&["--run", &other], "other data");
    // An adversarial baseline is not MLE's curve.
    let gan = f.s("gan");
    let g = common::gan_args("seqgan", 2);
    f.train("gan", 6, &g.iter().map(String::as_str).collect::<Vec<_>>());
    let v = [
        "compare",
        "--baseline",
        &gan,
        "--run",
        &mle,
        "--out",
        &out,
        "-n",
        "4",
        "--device",
        "cpu",
    ];
    fails(&v, "not an MLE run");
    assert!(
        !f.path("cmp").exists(),
        "a refused comparison writes nothing"
    );
}

/// Energy sampling at strength 0 is plain sampling from K times as many: its energy model is
/// the generator itself (log Z = 0, no energy), so on the NLL plane its coverage is exactly
/// the baseline's NLL-test at each temperature.
#[test]
fn energy_at_strength_zero_has_the_generators_nll() {
    let f = Fixture::new();
    f.train("mle", 6, &[]);
    let (mle, withd) = (f.s("mle"), f.s("mle-d"));
    ok(&[
        "train-discriminator",
        "--run",
        &mle,
        "--out",
        &withd,
        "--samples",
        "8",
        "--epochs",
        "1",
    ]);
    let out = f.s("cmp");
    ok(&[
        "compare",
        "--baseline",
        &mle,
        "--run",
        &withd,
        "--energy",
        "2",
        "--strength",
        "0",
        "--plane",
        "nll",
        "--seeds",
        "2",
        "-n",
        "4",
        "--temperatures",
        "0.9,1.1",
        "--out",
        &out,
    ]);
    let r = rows(&f.path("cmp"));
    for t in [0.9, 1.1] {
        let at = |c: &str| {
            r.iter()
                .find(|r| r["candidate"] == c && r["temperature"].as_f64() == Some(t))
                .unwrap()["coverage"]
                .as_f64()
                .unwrap()
        };
        assert_eq!(at("mle-d energy 2 s=0"), at("baseline"), "{r:?}");
    }
}
