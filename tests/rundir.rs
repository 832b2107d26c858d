//! The run directory's promises, end to end: kills at chosen points (a test hook sends the
//! process SIGKILL there) and resumes that end as an uninterrupted run does; requested stops;
//! refused directories; `--max-steps` over the whole run.
mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Records without their timings (which differ run to run).
fn figures(run: &Path) -> Vec<serde_json::Value> {
    metrics(run)
        .into_iter()
        .map(|mut m| {
            for k in ["eval_s", "train_s", "tokens_per_s", "step_s"] {
                m.as_object_mut().unwrap().remove(k);
            }
            m
        })
        .collect()
}

/// A tiny SeqGAN run: 4 MLE steps (evaluated every 2), then 4 adversarial steps (every 2).
fn args(f: &Fixture, out: &str) -> Vec<String> {
    let mut a: Vec<String> = ["train", "--out", &f.s(out)].map(String::from).to_vec();
    a.extend(f.tiny());
    a.extend(gan_args("seqgan", 4));
    a.extend(["--set".into(), "train.threads=1".into()]);
    a
}

fn run_with(args: &[String], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("binary runs")
}

fn temps(run: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for dir in [run.to_path_buf(), run.join("samples"), run.join("plots")] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.ends_with(".tmp") {
                out.push(n);
            }
        }
    }
    out
}

/// Killed by SIGKILL after a metrics line and before its checkpoint, after a samples file and
/// before its metrics line, or half-way through writing the checkpoint, in either phase: the
/// resumed run drops what lay past its checkpoint, removes the stale temporary file, and ends
/// with the records and samples of a run never killed.
#[test]
fn kills_at_any_point_resume_to_the_uninterrupted_run() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    let whole = run_with(&args(&f, "whole"), &[]);
    assert!(whole.status.success(), "{}", stderr(&whole));
    let want = figures(&f.path("whole"));
    assert_eq!(want.len(), 2 + 3, "MLE 2, 4; adversarial 0, 2, 4");
    let samples = |run: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(run.join("samples"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    for (i, point) in [
        "after-metrics:4",
        "after-samples:4",
        "in-checkpoint:4",
        // After MLE's last checkpoint, before the adversarial phase's first record: the
        // resumed process builds the discriminator afresh, from the run's seed.
        "adv-start:4",
        "after-metrics:6",
        "in-checkpoint:8",
    ]
    .iter()
    .enumerate()
    {
        let name = format!("killed{i}");
        let o = run_with(&args(&f, &name), &[("TEXTGAN_TEST_KILL", point)]);
        assert_eq!(o.status.code(), None, "{point}: killed by a signal");
        let run = f.path(&name);
        if point.starts_with("in-checkpoint") {
            assert_eq!(temps(&run), vec![".checkpoint.safetensors.tmp"], "{point}");
        }
        let o = ok(&["train", "--resume", &f.s(&name)]);
        assert!(
            temps(&run).is_empty(),
            "{point}: stale temporary files removed"
        );
        assert_eq!(figures(&run), want, "{point}: {}", stderr(&o));
        assert_eq!(samples(&run), samples(&f.path("whole")), "{point}");
    }
}

/// SIGTERM ends the run after the current step with a checkpoint and exit status 0; the
/// resumed run reaches the uninterrupted run's weights: its evaluations agree (the losses
/// of the window the stop cut in two are means over fewer steps, so those are not compared).
/// A second signal ends the process at once.
#[test]
fn a_signal_stops_after_the_step_with_a_checkpoint() {
    if !common::hooks_here() {
        return;
    }
    let f = Fixture::new();
    let whole = run_with(&args(&f, "whole"), &[]);
    assert!(whole.status.success());
    for at in ["3", "5"] {
        let name = format!("stopped{at}");
        let o = run_with(&args(&f, &name), &[("TEXTGAN_TEST_SIGNAL", at)]);
        let err = stderr(&o);
        assert!(o.status.success(), "{err}");
        assert!(
            err.contains(&format!(
                "stopped after {at} steps; continue with: textgan train --resume"
            )),
            "{err}"
        );
        ok(&["train", "--resume", &f.s(&name)]);
        let (a, b) = (figures(&f.path("whole")), figures(&f.path(&name)));
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            for k in ["test_nll", "bleu", "self_bleu", "samples"] {
                assert_eq!(x[k], y[k], "stop at {at}: {k} at {x}");
            }
        }
    }
    let o = run_with(&args(&f, "twice"), &[("TEXTGAN_TEST_SIGNAL", "3:2")]);
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
}

/// `--out` refuses a directory with anything in it; `--resume` refuses a checkpoint copied
/// from another run; neither changes a file.
#[test]
fn directories_of_other_runs_are_refused() {
    let f = Fixture::new();
    std::fs::create_dir(f.path("mine")).unwrap();
    std::fs::write(f.path("mine/notes.txt"), "keep me").unwrap();
    let mut a = args(&f, "mine");
    a.extend(["--max-steps".into(), "2".into()]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    fails(&a, "exists and is not empty");
    assert_eq!(std::fs::read_dir(f.path("mine")).unwrap().count(), 1);
    for run in ["one", "two"] {
        let mut a = args(&f, run);
        a.extend(["--max-steps".into(), "2".into()]);
        assert!(run_with(&a, &[]).status.success());
    }
    let before = std::fs::read(f.path("two/metrics.jsonl")).unwrap();
    std::fs::copy(
        f.path("one/checkpoint.safetensors"),
        f.path("two/checkpoint.safetensors"),
    )
    .unwrap();
    fails(
        &["train", "--resume", &f.s("two"), "--max-steps", "4"],
        "a checkpoint copied from another run cannot continue here",
    );
    assert_eq!(std::fs::read(f.path("two/metrics.jsonl")).unwrap(), before);
}

/// `--max-steps` caps MLE and adversarial steps together; a run without MLE pretraining
/// spends them all adversarially.
#[test]
fn max_steps_caps_the_whole_run() {
    let f = Fixture::new();
    let mut a = args(&f, "capped");
    a.extend(["--max-steps".into(), "5".into()]);
    assert!(run_with(&a, &[]).status.success());
    let m = metrics(&f.path("capped"));
    let at: Vec<(String, u64)> = m
        .iter()
        .map(|l| {
            let phase = l["phase"].as_str().unwrap().to_string();
            let n = if phase == "adv" {
                &l["adv_step"]
            } else {
                &l["step"]
            };
            (phase, n.as_u64().unwrap())
        })
        .collect();
    let want: Vec<(String, u64)> = [("mle", 2), ("mle", 4), ("adv", 0), ("adv", 1)]
        .iter()
        .map(|(p, n)| (p.to_string(), *n))
        .collect();
    assert_eq!(at, want);
    let mut a = args(&f, "adv-only");
    a.extend([
        "--set".into(),
        "train.epochs=0".into(),
        "--max-steps".into(),
        "3".into(),
    ]);
    assert!(run_with(&a, &[]).status.success());
    let m = metrics(&f.path("adv-only"));
    assert!(
        m.iter().all(|l| l["phase"] == "adv" && l["step"] == 0),
        "{m:?}"
    );
    assert_eq!(m.last().unwrap()["adv_step"], 3);
}
