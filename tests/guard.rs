//! The divergence guard, end to end: a NaN injected into the loss at a chosen step (the test
//! hook `TEXTGAN_TEST_NAN=STEPS[:COUNT]`) is skipped and counted, too many in a row roll the
//! run back to its checkpoint with lower learning rates, and too many rollbacks stop it with a
//! clear error; the weights on disk stay finite throughout.
mod common;

use common::*;
use std::process::{Command, Output};

fn run(f: &Fixture, out: &str, extra: &[String], env: &[(&str, &str)]) -> Output {
    let mut args: Vec<String> = ["train", "--out", &f.s(out)].map(String::from).to_vec();
    args.extend(f.tiny());
    args.extend(["--set".into(), "train.threads=1".into()]);
    args.extend(extra.iter().cloned());
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

fn sets(s: &[&str]) -> Vec<String> {
    s.iter()
        .flat_map(|x| ["--set".to_string(), x.to_string()])
        .collect()
}

fn figures(f: &Fixture, run: &str) -> Vec<serde_json::Value> {
    metrics(&f.path(run))
        .into_iter()
        .map(|mut m| {
            for k in [
                "eval_s",
                "train_s",
                "tokens_per_s",
                "step_s",
                "skipped_steps",
                "rollbacks",
            ] {
                m.as_object_mut().unwrap().remove(k);
            }
            m
        })
        .collect()
}

fn progress(f: &Fixture, run: &str) -> textgan::checkpoint::Progress {
    let ck = textgan::checkpoint::load(&f.path(run).join("checkpoint.safetensors"))
        .expect("the checkpoint loads: every tensor finite");
    ck.progress
}

/// One bad MLE step: skipped, named in the log, counted in the metrics; the run goes on.
#[test]
fn a_nan_step_is_skipped_and_counted() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    let mut extra = sets(&["train.epochs=3"]);
    extra.extend(["--max-steps".into(), "6".into()]);
    let o = run(&f, "one", &extra, &[("TEXTGAN_TEST_NAN", "2")]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("step 3 skipped") && err.contains("generator (MLE): loss is NaN"),
        "{err}"
    );
    let m = metrics(&f.path("one"));
    assert_eq!(m[1]["step"], 4);
    assert_eq!(m[1]["skipped_steps"], 1, "{}", m[1]);
    assert!(m[1].get("rollbacks").is_none());
    assert_eq!(progress(&f, "one").skipped_steps, 1);
}

/// Three bad steps in a row roll the run back to its last checkpoint (here the one written at
/// the start) with the learning rate halved: from there it is exactly the run that started
/// with half the rate.
#[test]
fn a_rollback_restores_the_checkpoint_exactly() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    let base = ["train.epochs=3", "train.eval_every=6"];
    let mut extra = sets(&base);
    extra.extend(["--max-steps".into(), "6".into()]);
    let o = run(&f, "rolled", &extra, &[("TEXTGAN_TEST_NAN", "1:3")]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("rolled back to the checkpoint of step 0"),
        "{err}"
    );
    assert!(err.contains("learning rates now x0.5"), "{err}");
    let mut half = sets(&base);
    half.extend(sets(&["train.lr=0.005"]));
    half.extend(["--max-steps".into(), "6".into()]);
    assert!(run(&f, "half", &half, &[]).status.success());
    assert_eq!(figures(&f, "rolled"), figures(&f, "half"));
    let m = metrics(&f.path("rolled"));
    assert_eq!(
        (m[0]["skipped_steps"].clone(), m[0]["rollbacks"].clone()),
        (3.into(), 1.into())
    );
    let p = progress(&f, "rolled");
    assert_eq!((p.rollbacks, p.lr_scale, p.skipped_steps), (1, 0.5, 3));
}

/// The adversarial phase: a bad step of SeqGAN and of Gumbel-softmax is skipped; a run of
/// bad steps rolls back to the phase's checkpoint and goes on with halved rates.
#[test]
fn adversarial_steps_are_guarded_too() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    for algo in ["seqgan", "gumbel"] {
        let mut extra = gan_args(algo, 4);
        extra.extend(["--max-steps".into(), "8".into()]);
        let o = run(&f, algo, &extra, &[("TEXTGAN_TEST_NAN", "5")]);
        let err = stderr(&o);
        assert!(o.status.success(), "{algo}: {err}");
        assert!(
            err.contains("step 6 skipped (4 MLE, 2 adversarial): generator: loss is NaN"),
            "{algo}: {err}"
        );
        assert_eq!(progress(&f, algo).skipped_steps, 1);
    }
    let mut extra = gan_args("seqgan", 6);
    extra.extend(sets(&["gan.eval_every=10"]));
    extra.extend(["--max-steps".into(), "10".into()]);
    let o = run(&f, "adv-rollback", &extra, &[("TEXTGAN_TEST_NAN", "5:3")]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("rolled back to the checkpoint of step 4 (4 MLE, 0 adversarial)"),
        "{err}"
    );
    let p = progress(&f, "adv-rollback");
    assert_eq!((p.adv_step, p.rollbacks, p.lr_scale), (6, 1, 0.5));
}

/// Past `train.guard_rollbacks` the run stops: exit 1, one line naming the step and what went
/// bad; the checkpoint on disk is the last good one.
#[test]
fn too_many_rollbacks_stop_the_run_cleanly() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    let mut extra = sets(&[
        "train.guard_patience=1",
        "train.guard_rollbacks=1",
        "train.eval_every=20",
    ]);
    extra.extend(["--max-steps".into(), "6".into()]);
    // After the rollback the hook is spent; poison enough steps that the retry fails too.
    let o = run(&f, "diverged", &extra, &[("TEXTGAN_TEST_NAN", "0:6")]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let last = err.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("error: training diverged:")
            && last.contains("at step 1")
            && last.contains("loss is NaN"),
        "{err}"
    );
    let p = progress(&f, "diverged");
    assert_eq!(p.step, 0);
}
