//! The algorithms of the older toolkits added last (CoT, JSDGAN, DGSAN, DPGAN, RankGAN, TextGAN,
//! LeakGAN) and the tools
//! every algorithm shares against collapse, end to end through the binary.
mod common;
use common::*;

/// Each trains its adversarial phase, reports its losses (CoT's mediator loss and DPGAN's
/// language model's as `d_loss`), samples, and a run stopped halfway and resumed ends where
/// the straight run ends.
#[test]
fn new_algorithms_train_and_resume_exactly() {
    let f = Fixture::new();
    for algo in [
        "cot", "jsdgan", "dgsan", "dpgan", "rankgan", "textgan", "leakgan",
    ] {
        let mut sets = gan_args(algo, 4);
        if algo == "dgsan" {
            sets.extend(["--set".into(), "gan.refresh_every=1".into()]);
        }
        if algo == "rankgan" {
            for s in ["gan.rollouts=2", "gan.ref_size=3", "gan.feature_dim=5"] {
                sets.extend(["--set".into(), s.into()]);
            }
        }
        if algo == "leakgan" {
            for s in LEAKGAN {
                sets.extend(["--set".into(), s.into()]);
            }
        }
        let straight: Vec<&str> = sets.iter().map(String::as_str).collect();
        let a = format!("{algo}-a");
        f.train(&a, 4 + 4, &straight);
        let b = format!("{algo}-b");
        f.train(&b, 4 + 2, &straight);
        let o = ok(&["train", "--resume", &f.s(&b), "--max-steps", "8"]);
        assert!(
            stderr(&o).contains("resuming the adversarial phase at step 2"),
            "{algo}: {}",
            stderr(&o)
        );
        let (ma, mb) = (metrics(&f.path(&a)), metrics(&f.path(&b)));
        let (la, lb) = (ma.last().unwrap(), mb.last().unwrap());
        assert_eq!(
            (la["adv_step"].as_u64(), lb["adv_step"].as_u64()),
            (Some(4), Some(4))
        );
        let mut keys = vec!["test_nll", "g_loss"];
        if ["cot", "dpgan", "rankgan", "textgan", "leakgan"].contains(&algo) {
            keys.push("d_loss");
            if algo == "textgan" {
                keys.push("mmd2");
            }
            if algo == "leakgan" {
                keys.extend(["reward", "intrinsic", "manager_loss"]);
            }
        } else {
            assert!(
                la.get("d_loss").is_none(),
                "{algo} has no discriminator: {la}"
            );
        }
        for k in keys {
            let (x, y) = (la[k].as_f64().unwrap(), lb[k].as_f64().unwrap());
            assert!(x.is_finite(), "{algo}: {k} in {la}");
            assert!(
                (x - y).abs() < 1e-6,
                "{algo}: {k}: straight {x} vs resumed {y}"
            );
        }
        let o = ok(&["sample", "--run", &f.s(&a), "-n", "3"]);
        assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    }
    // The algorithms' own keys are checked like the others'.
    let mut sets = gan_args("cot", 2);
    sets.extend(["--set".into(), "gan.mediator_scale=0".into()]);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(sets.iter().map(String::as_str));
    fails(&args, "gan.mediator_scale");
    let mut sets = gan_args("rankgan", 2);
    sets.extend(["--set".into(), "discriminator.kind=lstm".into()]);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(sets.iter().map(String::as_str));
    fails(&args, "ranks with a CNN");
    // LeakGAN's generator and its copy of D are checked against the discriminator.
    let mut sets = gan_args("leakgan", 2);
    sets.extend(["--set".into(), "generator.kind=leakgan".into()]);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(sets.iter().map(String::as_str));
    fails(
        &args,
        "the discriminator must have the layers generator.features copies",
    );
    let plain = gan_args("leakgan", 2);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(plain.iter().map(String::as_str));
    fails(&args, "set generator.kind = \"leakgan\"");
    let mut sets = gan_args("textgan", 2);
    sets.extend(["--set".into(), "gan.sigmas=[]".into()]);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(sets.iter().map(String::as_str));
    fails(&args, "gan.sigmas");
}

fn sets(list: &[&str]) -> Vec<String> {
    list.iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect()
}

/// Every tool at once on SeqGAN (MLE interleaving, the KL anchor, AdamW with Lookahead, the
/// watch with its plateau schedule): each leaves its figure in the records, and a run stopped halfway and
/// resumed ends exactly where the straight run ends, so their state is in the checkpoint.
#[test]
fn the_anti_collapse_tools_log_their_figures_and_resume_exactly() {
    let f = Fixture::new();
    let mut args = gan_args("seqgan", 4);
    args.extend(sets(&[
        "gan.mle_every=2",
        "gan.mle_steps=2",
        "gan.kl_to_mle=0.5",
        "gan.optimizer=adamw",
        "gan.weight_decay=0.01",
        "gan.lookahead_k=3",
        "gan.best_metric=test_nll",
        "gan.plateau_patience=1",
        "gan.eval_every=1",
    ]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    f.train("a", 4 + 4, &args);
    f.train("b", 4 + 2, &args);
    ok(&["train", "--resume", &f.s("b"), "--max-steps", "8"]);
    let (ma, mb) = (metrics(&f.path("a")), metrics(&f.path("b")));
    let adv: Vec<_> = ma.iter().filter(|m| m["phase"] == "adv").collect();
    assert_eq!(adv.len(), 5, "step 0 and every step");
    for m in &adv[1..] {
        let step = m["adv_step"].as_u64().unwrap();
        assert!(m["kl_to_mle"].as_f64().is_some_and(|k| k >= 0.0), "{m}");
        assert_eq!(m.get("mle_loss").is_some(), step % 2 == 0, "{m}");
    }
    // The first adversarial step's KL is to the generator it started from: near 0.
    assert!(adv[1]["kl_to_mle"].as_f64().unwrap() < 1e-3, "{}", adv[1]);
    let (la, lb) = (ma.last().unwrap(), mb.last().unwrap());
    for k in ["test_nll", "g_loss", "d_loss", "kl_to_mle", "mle_loss"] {
        let (x, y) = (la[k].as_f64().unwrap(), lb[k].as_f64().unwrap());
        assert!((x - y).abs() < 1e-6, "{k}: straight {x} vs resumed {y}");
    }
    let best = adv
        .iter()
        .map(|m| m["test_nll"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let o = ok(&["eval", "--run", &f.s("a/best"), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let nll = j["metrics"]["nll-test"].as_f64().unwrap();
    assert!(
        (nll - best).abs() < 1e-4,
        "best/ holds test NLL {nll}, the best record {best}"
    );
}

/// With patience 1 and a rate far too high, the phase stops at the first evaluation that is
/// no better, says so, keeps the best generator in `best/` (which `sample` reads as a run),
/// and a resume says the run stopped early instead of going on.
#[test]
fn early_stopping_keeps_the_best_checkpoint() {
    let f = Fixture::new();
    let mut args = gan_args("maligan", 20);
    args.extend(sets(&[
        "gan.g_lr=1.0",
        "gan.best_metric=test_nll",
        "gan.patience=1",
        "gan.eval_every=1",
    ]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = f.train("stop", 4 + 20, &args);
    assert!(
        stderr(&o).contains("early stop: test_nll has not improved for 1 evaluations"),
        "{}",
        stderr(&o)
    );
    let m = metrics(&f.path("stop"));
    let adv: Vec<f64> = m
        .iter()
        .filter(|m| m["phase"] == "adv")
        .map(|m| m["test_nll"].as_f64().unwrap())
        .collect();
    assert!(adv.len() < 21, "stopped before the end: {adv:?}");
    let (last, before) = (adv[adv.len() - 1], &adv[..adv.len() - 1]);
    let best = before.iter().copied().fold(f64::INFINITY, f64::min);
    assert!(
        before.windows(2).all(|w| w[1] < w[0]),
        "improving until the stop: {adv:?}"
    );
    assert!(last >= best, "{adv:?}");
    let o = ok(&["eval", "--run", &f.s("stop/best"), "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        (j["metrics"]["nll-test"].as_f64().unwrap() - best).abs() < 1e-4,
        "{j}"
    );
    let o = ok(&["sample", "--run", &f.s("stop/best"), "-n", "2"]);
    assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 2);
    let o = ok(&["train", "--resume", &f.s("stop")]);
    assert!(
        stderr(&o).contains("the run stopped early"),
        "{}",
        stderr(&o)
    );
    // The tools' settings are checked before anything is written.
    let mut bad = gan_args("seqgan", 2);
    bad.extend(sets(&["gan.patience=2"]));
    let mut a = vec!["train", "--out", "unused"];
    a.extend(bad.iter().map(String::as_str));
    fails(&a, "gan.best_metric");
    let mut bad = gan_args("seqgan", 2);
    bad.extend(sets(&["gan.best_metric=bleu9"]));
    let mut a = vec!["train", "--out", "unused"];
    a.extend(bad.iter().map(String::as_str));
    fails(&a, "unknown gan.best_metric `bleu9`");
    let mut bad = gan_args("seqgan", 2);
    bad.extend(sets(&["gan.best_metric=nll_oracle"]));
    let tiny = f.tiny();
    let mut a = vec!["train", "--out", "unused"];
    a.extend(tiny.iter().map(String::as_str));
    a.extend(bad.iter().map(String::as_str));
    fails(
        &a,
        "gan.best_metric = \"nll_oracle\" is not measured on this run's data",
    );
}

/// The discriminator regularisers at once (instance noise, R1, spectral normalisation), on
/// RelGAN-style Gumbel-softmax, on TextGAN and on RankGAN (whose ranker's loss is its own):
/// they train, and a run stopped halfway and resumed ends where the straight run ends. An
/// algorithm with no real-against-fake discriminator (CoT) refuses R1.
#[test]
fn discriminator_regularisers_train_and_resume_exactly() {
    let f = Fixture::new();
    for algo in ["gumbel", "textgan", "rankgan"] {
        let mut args = gan_args(algo, 4);
        args.extend(sets(&[
            "gan.d_input_noise=0.1",
            "gan.r1_weight=1.0",
            "gan.d_spectral_norm=true",
        ]));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (a, b) = (format!("{algo}-a"), format!("{algo}-b"));
        f.train(&a, 4 + 4, &args);
        f.train(&b, 4 + 2, &args);
        ok(&["train", "--resume", &f.s(&b), "--max-steps", "8"]);
        let (ma, mb) = (metrics(&f.path(&a)), metrics(&f.path(&b)));
        let (la, lb) = (ma.last().unwrap(), mb.last().unwrap());
        for k in ["test_nll", "g_loss", "d_loss"] {
            let (x, y) = (la[k].as_f64().unwrap(), lb[k].as_f64().unwrap());
            assert!(x.is_finite(), "{algo}: {k} in {la}");
            assert!(
                (x - y).abs() < 1e-6,
                "{algo}: {k}: straight {x} vs resumed {y}"
            );
        }
    }
    let mut args = gan_args("cot", 2);
    args.extend(sets(&["gan.r1_weight=1.0"]));
    let mut all = vec!["train", "--out", "unused"];
    all.extend(args.iter().map(String::as_str));
    fails(&all, "no real-against-fake discriminator");
    let mut args = gan_args("gumbel", 2);
    args.extend(sets(&["gan.d_input_noise=-1"]));
    let mut all = vec!["train", "--out", "unused"];
    all.extend(args.iter().map(String::as_str));
    fails(&all, "gan.d_input_noise");
}
