//! Every bundled preset's smoke run: `--max-steps 3` with a small evaluation ends after 3
//! optimizer steps in all (MLE first where the preset pretrains), and each adversarial
//! preset's own step runs (`train.epochs=0`, 2 steps). Times on 2 cores: docs/PERFORMANCE.md.
mod common;

use common::*;

const SMALL_EVAL: [&str; 6] = [
    "--set",
    "train.eval_samples=20",
    "--set",
    "train.oracle_eval_samples=100",
    "--set",
    "train.eval_test_sequences=200",
];

fn presets() -> Vec<String> {
    let o = ok(&["presets"]);
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn steps(run: &std::path::Path) -> (u64, u64) {
    let last = metrics(run).pop().expect("a record");
    (
        last["step"].as_u64().unwrap(),
        last["adv_step"].as_u64().unwrap_or(0),
    )
}

/// Smaller adversarial steps for the presets whose own take minutes on 2 cores (a random
/// Transformer's 20 rollouts of 100 translations; CatGAN's fitness on 8 batches per class;
/// hundreds of discriminator pretraining updates): the same code runs, on less.
fn lighter(name: &str) -> Vec<&'static str> {
    match name {
        "adversarial-nmt-multi30k" => vec![
            "--set",
            "gan.rollouts=2",
            "--set",
            "gan.batch_size=8",
            "--set",
            "gan.d_pretrain_steps=2",
        ],
        "catgan-mr15" => vec!["--set", "gan.eval_batches=1", "--set", "gan.batch_size=16"],
        "sentigan-mr15" | "dpgan-oracle" => vec!["--set", "gan.d_pretrain_steps=10"],
        "leakgan-oracle" => vec![
            "--set",
            "gan.rollouts=1",
            "--set",
            "gan.d_steps=2",
            "--set",
            "gan.d_pretrain_steps=2",
        ],
        "textgan-oracle" => vec![
            "--set",
            "gan.g_steps=2",
            "--set",
            "gan.d_steps=2",
            "--set",
            "gan.d_pretrain_steps=2",
        ],
        _ => vec![],
    }
}

#[test]
fn every_preset_smoke_runs_in_three_steps() {
    let dir = tempfile::tempdir().unwrap();
    let names = presets();
    assert!(names.len() >= 12, "{names:?}");
    for name in &names {
        let text = textgan::presets::get(name).unwrap();
        let source = textgan::config::RunConfig::from_toml_str(text)
            .unwrap()
            .data
            .source;
        let needs = match source {
            textgan::data::DataSource::Coco => Some("coco"),
            textgan::data::DataSource::Oracle => Some("seqgan-oracle"),
            textgan::data::DataSource::Mr => Some("mr"),
            textgan::data::DataSource::Multi30k => Some("multi30k"),
            _ => None,
        };
        if needs.is_some_and(|s| !have(s)) {
            continue;
        }
        let out = dir.path().join(name);
        let o = dir.path().join(format!("{name}-adv"));
        let mut args = vec!["train", "--preset", name, "--out", out.to_str().unwrap()];
        args.extend(["--max-steps", "3"]);
        args.extend(SMALL_EVAL);
        ok(&args);
        let cfg = textgan::config::RunConfig::from_toml_str(text).unwrap();
        let (mle, adv) = steps(&out);
        assert_eq!(mle + adv, 3, "{name}");
        if cfg.train.epochs == 0 {
            assert_eq!(
                (mle, adv),
                (0, 3),
                "{name}: no MLE steps without pretraining"
            );
        }
        if cfg.gan.is_set() && cfg.train.epochs > 0 {
            let mut args = vec!["train", "--preset", name, "--out", o.to_str().unwrap()];
            args.extend(["--max-steps", "2", "--set", "train.epochs=0"]);
            args.extend(SMALL_EVAL);
            args.extend(lighter(name));
            ok(&args);
            assert_eq!(steps(&o), (0, 2), "{name}");
        }
    }
}
