//! torch's c10d process group from textgan, across real processes on loopback: each test
//! starts two copies of this test binary as ranks 0 and 1 (with torchrun's variables) and
//! checks what each saw. Without Gloo in the build (no libgloo-dev) they say they skipped;
//! `.ci/run` installs it.
mod common;
use common::{fails, gan_args, metrics, ok, Fixture, LEAKGAN};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};
use textgan::dist::{DistEnv, ProcessGroup};

const ROLE: &str = "TEXTGAN_TEST_DIST_ROLE";

/// Whether this build lacks Gloo; the test then says it skipped.
fn no_gloo() -> bool {
    let missing = !textgan::dist::available(Some(textgan::dist::Backend::Gloo));
    if missing {
        eprintln!("skipped: this build has no Gloo (apt-get install libgloo-dev, then rebuild)");
    }
    missing
}

/// Whether this process is a rank that a test started (it has its own role to play), or the
/// build lacks Gloo: either way the test itself does not run here.
fn not_here() -> bool {
    std::env::var(ROLE).is_ok() || no_gloo()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Runs `test` in two child processes as ranks 0 and 1 of one job; their exit codes and output.
fn two_ranks(test: &str, role: &str) -> Vec<(Option<i32>, String)> {
    let port = free_port().to_string();
    let children: Vec<_> = (0..2)
        .map(|rank| {
            Command::new(std::env::current_exe().unwrap())
                .args([test, "--exact", "--nocapture", "--test-threads=1"])
                .env(ROLE, role)
                .env("RANK", rank.to_string())
                .env("WORLD_SIZE", "2")
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", &port)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|c| {
            let o = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            (o.status.code(), text)
        })
        .collect()
}

fn group() -> ProcessGroup {
    let env = DistEnv::from_env()
        .unwrap()
        .expect("launched with WORLD_SIZE=2");
    ProcessGroup::init(&env, Duration::from_secs(20)).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.reshape([-1]).to_kind(Kind::Float)).unwrap()
}

/// Sum, broadcast, gather, barrier, and the bucketed gradient mean and parameter broadcast,
/// each against the values worked out by hand. Two 16 MB gradients fill two buckets.
fn collectives() {
    let g = group();
    let r = g.rank as f32;
    let mut t = Tensor::from_slice(&[r + 1.0, 10.0 * (r + 1.0)]);
    g.all_reduce_sum(&mut t).unwrap();
    assert_eq!(values(&t), [3.0, 30.0]);
    let mut b = Tensor::from_slice(&[r, r]);
    g.broadcast(&mut b, 1).unwrap();
    assert_eq!(values(&b), [1.0, 1.0]);
    let all = g.all_gather(&Tensor::from_slice(&[r, 2.0 * r])).unwrap();
    assert_eq!(all.size(), [2, 2]);
    assert_eq!(values(&all), [0.0, 0.0, 1.0, 2.0]);
    g.barrier().unwrap();

    let n = 4 << 20;
    let vars: Vec<Tensor> = [n, 3, n, 5]
        .iter()
        .map(|&k| Tensor::zeros([k], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true))
        .collect();
    // Gradients: rank + 1 times the position on vars 0 and 1; var 2 has none on either rank;
    // var 3 gets (rank + 1) * 7.
    let weights = Tensor::arange(n, (Kind::Float, tch::Device::Cpu));
    let loss = (&vars[0] * &weights).sum(Kind::Float) * (r as f64 + 1.0)
        + (&vars[1] * Tensor::arange(3, (Kind::Float, tch::Device::Cpu))).sum(Kind::Float)
            * (r as f64 + 1.0)
        + vars[3].sum(Kind::Float) * (7.0 * (r as f64 + 1.0));
    loss.backward();
    g.average_grads(&vars).unwrap();
    let g0 = vars[0].grad();
    assert_eq!(g0.double_value(&[12345]), 1.5 * 12345.0);
    assert_eq!(values(&vars[1].grad()), [0.0, 1.5, 3.0]);
    assert!(!vars[2].grad().defined(), "no gradient stays none");
    assert_eq!(values(&vars[3].grad()), [10.5; 5]);

    let params: Vec<Tensor> = (0..3)
        .map(|i| {
            Tensor::full(
                [i + 2],
                r as f64 + i as f64,
                (Kind::Float, tch::Device::Cpu),
            )
        })
        .collect();
    g.broadcast_all(&params, 0).unwrap();
    for (i, p) in params.iter().enumerate() {
        assert_eq!(values(p), vec![i as f32; i + 2], "rank 0's parameter {i}");
    }
    println!("rank {} collectives ok", g.rank);
}

#[test]
fn two_processes_sum_broadcast_gather_and_average_gradients() {
    if std::env::var(ROLE).is_ok_and(|r| r == "collectives") {
        return collectives();
    }
    if no_gloo() {
        return;
    }
    for (rank, (code, out)) in two_ranks(
        "two_processes_sum_broadcast_gather_and_average_gradients",
        "collectives",
    )
    .into_iter()
    .enumerate()
    {
        assert_eq!(code, Some(0), "rank {rank}:\n{out}");
        assert!(
            out.contains(&format!("rank {rank} collectives ok")),
            "{out}"
        );
    }
}

/// Rank 1 dies after the group forms; rank 0's next all-reduce fails with an error naming
/// itself and the likely cause, well within the timeout, instead of hanging.
fn dead_peer() {
    let g = group();
    if g.rank == 1 {
        std::process::exit(3);
    }
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    let mut t = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
    let err = g
        .all_reduce_sum(&mut t)
        .expect_err("the peer is gone")
        .to_string();
    println!("error after {:.1} s: {err}", start.elapsed().as_secs_f64());
    assert!(
        err.contains("rank 0") && err.contains("another process of the job may have stopped"),
        "{err}"
    );
    std::process::exit(7);
}

#[test]
fn a_dead_rank_makes_the_other_fail_instead_of_hanging() {
    if std::env::var(ROLE).is_ok_and(|r| r == "dead") {
        return dead_peer();
    }
    if no_gloo() {
        return;
    }
    let start = Instant::now();
    let out = two_ranks(
        "a_dead_rank_makes_the_other_fail_instead_of_hanging",
        "dead",
    );
    assert_eq!(out[1].0, Some(3), "rank 1:\n{}", out[1].1);
    assert_eq!(out[0].0, Some(7), "rank 0 failed cleanly:\n{}", out[0].1);
    assert!(
        start.elapsed() < Duration::from_secs(19),
        "within the 20 s timeout"
    );
}

/// `textgan ARGS` with the system's temporary folder inside the fixture, where rank 1 keeps
/// its scratch copy of the run; fails the test unless it succeeds.
fn run_in(f: &Fixture, args: &[&str]) {
    let tmp = f.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// [`Fixture::train`] in two local processes.
fn two_procs(f: &Fixture, out: &str, steps: usize, extra: &[&str]) {
    let (out, steps) = (f.s(out), steps.to_string());
    let mut args = vec!["train", "--out", &out, "--max-steps", &steps];
    let tiny = f.tiny();
    args.extend(tiny.iter().map(String::as_str));
    args.extend(extra);
    run_in(f, &args);
}

/// `textgan train` on the fixture as rank `rank` of a 2-process job at `port`, writing `out`,
/// for `steps` steps, with `extra` settings and a collective timeout of `timeout` seconds.
fn spawn_rank(
    f: &Fixture,
    (rank, port): (usize, &str),
    (out, steps): (&str, &str),
    extra: &[String],
    timeout: &str,
) -> std::process::Child {
    let mut args = vec!["train".to_string(), "--out".into(), f.s(out)];
    args.extend(["--max-steps".into(), steps.into()]);
    args.extend(f.tiny());
    args.extend(extra.iter().cloned());
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(&args)
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port)
        .env("TEXTGAN_DIST_TIMEOUT", timeout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A run's checkpoint tensors by name.
fn checkpoint(run: &Path) -> Vec<(String, Tensor)> {
    let mut v = Tensor::read_safetensors(run.join("checkpoint.safetensors")).unwrap();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// The largest difference between two runs' checkpoints, over every float tensor (weights,
/// both optimizers' moments); the names must match.
fn max_diff(a: &Path, b: &Path) -> f64 {
    let (x, y) = (checkpoint(a), checkpoint(b));
    assert_eq!(
        x.iter().map(|t| &t.0).collect::<Vec<_>>(),
        y.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    x.iter()
        .zip(&y)
        .filter(|(p, _)| p.1.is_floating_point())
        .map(|(p, q)| (&p.1 - &q.1).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

/// With dropout in the generator (MLE) and in D, each rank draws masks for its own rows and
/// the ranks' random streams part; the job still keeps one set of weights: D starts from rank
/// 0's at the adversarial phase, and every evaluation checks that the ranks hold the same
/// weights (it fails the run, naming the rank, when they do not).
#[test]
fn ranks_keep_one_set_of_weights_with_dropout_everywhere() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let mut extra = gan_args("seqgan", 4);
    for s in [
        "generator.dropout=0.3",
        "discriminator.dropout=0.5",
        "train.batch_size=8",
    ] {
        extra.extend(["--set".into(), s.into()]);
    }
    extra.extend(["--nproc-per-node".into(), "2".into()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    two_procs(&f, "drop", 6, &extra);
    let m = metrics(&f.path("drop"));
    assert!(
        m.iter().any(|r| r["phase"] == "adv" && r["adv_step"] == 4),
        "the adversarial phase ran to its end: {m:?}"
    );
    // The check itself: a rank whose weights moved on their own stops the job.
    if !common::hooks_here() {
        return;
    }
    let mut args = vec!["train".to_string(), "--out".into(), f.s("parted")];
    args.extend(["--max-steps".into(), "6".into()]);
    args.extend(f.tiny());
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(&args)
        .env("TMPDIR", f.path("tmp"))
        .env("TEXTGAN_TEST_PART", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a parted rank must fail the job");
    assert!(
        err.contains("rank 1's weights are not rank 0's") && !err.contains("panicked"),
        "{err}"
    );
    // One failure, one error line: the launcher prints the first cause, not every rank's.
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
}

/// `textgan train --nproc-per-node 2` against one process with the same global batch: after
/// MLE steps (each rank takes half of every batch) and after SeqGAN's (each rank rolls out and
/// takes the policy gradient of half the samples), RankGAN's and SentiGAN's (the same, ranked
/// or classified), MaliGAN's and JSDGAN's (the batch's weights, half the log-probabilities
/// each), ScratchGAN's (half the rows, the baseline from both halves' sums), DPGAN's (half the
/// teacher-forced rows), CoT's and DGSAN's (half the rows, each mean over tokens weighted),
/// Gumbel-softmax's and LeakGAN's (half the
/// rollouts each, the rewards gathered) adversarial steps, each rank updating D on half the
/// rows (D without dropout here, see below), the weights and moments agree to
/// 1e-5, the logged test NLL (each rank scores half the test set) to 1e-5, and the
/// evaluations' samples (each rank draws half of them) are the same.
/// The tolerance covers float sums taken in another order (the two halves' gradients are
/// added after each is reduced, where one process reduces the whole batch at once): those
/// differ by a few units in the last place, about 1e-7 relative, over a few steps. A resume
/// of the 2-process run in one process ends where the straight run ends. Rank 0 alone writes.
#[test]
fn training_in_two_processes_matches_one() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let algorithms = [
        "mle",
        "seqgan",
        "gumbel",
        "leakgan",
        "rankgan",
        "maligan",
        "sentigan",
        "scratchgan",
        "cot",
        "dgsan",
        "jsdgan",
        "dpgan",
    ];
    for algo in algorithms {
        let mut extra: Vec<String> = match algo {
            "mle" => vec![],
            a => gan_args(a, 4),
        };
        if algo == "sentigan" {
            extra.extend(labelled(&f));
        }
        if algo == "leakgan" {
            let sets = LEAKGAN.iter().chain(&["generator.features.dropout=0"]);
            extra.extend(sets.flat_map(|s| ["--set".to_string(), s.to_string()]));
        }
        if algo != "mle" {
            // Each rank's D update draws dropout masks for its own rows, from the same
            // distribution but not the numbers one process draws for the batch: equal only
            // without dropout.
            extra.extend(["--set".into(), "discriminator.dropout=0".into()]);
        }
        extra.extend(["--set".into(), "train.batch_size=8".into()]);
        // MLE alone: 6 steps; a GAN: 2 epochs of one 8-row batch, then 4 adversarial steps.
        // DPGAN's generator texts are its argmax tokens under teacher forcing, which after 2
        // epochs end at once (every row the same <eos>, nothing to tell the rows apart): it
        // takes 40 epochs, so that they are sentences.
        let mut steps = 6;
        if algo == "dpgan" {
            extra.extend(["--set".into(), "train.epochs=40".into()]);
            steps = 44;
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (one, two) = (format!("one-{algo}"), format!("two-{algo}"));
        f.train(&one, steps, &extra);
        let mut both = extra.clone();
        both.extend(["--nproc-per-node", "2"]);
        two_procs(&f, &two, steps, &both);
        let d = max_diff(&f.path(&one), &f.path(&two));
        // ScratchGAN's advantage is a return minus the batch's mean return, which nearly
        // cancel: the mean's rounding (two halves' sums added, against one sum) comes out
        // larger relative to it, 1e-5 on weights of 0.3 after 4 steps at lr 1e-2.
        let tolerance = if algo == "scratchgan" { 3e-5 } else { 1e-5 };
        assert!(d < tolerance, "{algo}: checkpoints differ by {d}");
        let (m1, m2) = (metrics(&f.path(&one)), metrics(&f.path(&two)));
        assert_eq!(
            m1.len(),
            m2.len(),
            "{algo}: one metrics record per evaluation, from rank 0"
        );
        for (a, b) in m1.iter().zip(&m2) {
            let (x, y) = (
                a["test_nll"].as_f64().unwrap(),
                b["test_nll"].as_f64().unwrap(),
            );
            assert!((x - y).abs() < 1e-5, "{algo}: test NLL {x} vs {y}");
            // BLEU and Self-BLEU, each rank scoring half the samples: the same samples, the
            // sums added in another order.
            for key in ["bleu", "self_bleu"] {
                let (x, y) = (a[key].as_array().unwrap(), b[key].as_array().unwrap());
                assert_eq!(x.len(), 4, "{algo}: {key} recorded");
                for (x, y) in x.iter().zip(y) {
                    let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                    assert!((x - y).abs() < 1e-9, "{algo}: {key} {x} vs {y}");
                }
            }
        }
        // Each rank samples its rows of an evaluation with one process's draws for them.
        let samples = |run: &str| {
            let mut files: Vec<_> = std::fs::read_dir(f.path(run).join("samples"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            let texts: Vec<String> = files
                .iter()
                .map(|p| std::fs::read_to_string(p).unwrap())
                .collect();
            (files.len(), texts)
        };
        let (s1, s2) = (samples(&one), samples(&two));
        assert!(s1.0 >= 2, "{algo}: evaluations wrote samples");
        assert_eq!(s1, s2, "{algo}: the evaluations' samples");
        if algo == "mle" || algo == "seqgan" {
            // Half the run in two processes, the rest in one (SeqGAN: from its first
            // adversarial step, the rollouts split, on).
            let name = format!("part-{algo}");
            let part = f.s(&name);
            let mut args = vec!["train", "--out", &part, "--max-steps", "3"];
            let tiny = f.tiny();
            args.extend(tiny.iter().map(String::as_str));
            args.extend(&both);
            run_in(&f, &args);
            ok(&[
                "train",
                "--resume",
                &part,
                "--max-steps",
                &steps.to_string(),
            ]);
            let d = max_diff(&f.path(&one), &f.path(&name));
            assert!(
                d < 1e-5,
                "{algo}: 2 processes then 1: checkpoints differ by {d}"
            );
        }
    }
    let left = std::fs::read_dir(f.path("tmp")).unwrap().count();
    assert_eq!(left, 0, "rank 1's scratch copies are removed");
}

/// Ranks started with different settings refuse to train together, in one line each.
#[test]
fn ranks_with_different_configs_refuse_to_start() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let port = free_port().to_string();
    let children: Vec<_> = (0..2)
        .map(|rank| {
            let lr = format!("train.lr={}", 0.01 * (rank + 1) as f64);
            let out = format!("r{rank}");
            spawn_rank(&f, (rank, &port), (&out, "2"), &["--set".into(), lr], "30")
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("runs a different textgan build or config than rank 0"),
            "{err}"
        );
    }
    assert!(
        !f.path("r0").exists(),
        "a refused job leaves no run directory"
    );
    fails(
        &["train", "--out", &f.s("zero"), "--nproc-per-node", "0"],
        "--nproc-per-node must be at least 1",
    );
    // More processes than cores: refused before any starts, unless asked for.
    fails(
        &["train", "--out", &f.s("many"), "--nproc-per-node", "100000"],
        "--oversubscribe",
    );
    assert!(!f.path("many").exists(), "a refused job leaves nothing");
    let mut many = vec!["train", "--out", "x", "--nproc-per-node", "100000"];
    let x = f.s("many");
    many[2] = &x;
    many.push("--oversubscribe");
    fails(&many, "even with --oversubscribe");
    assert!(!f.path("many").exists(), "a refused job leaves nothing");
    if !tch::Cuda::is_available() {
        let args = ["train", "--out", &f.s("nccl"), "--backend", "nccl"];
        fails(
            &[&args[..], &["--nproc-per-node", "2"]].concat(),
            "--backend nccl",
        );
        assert!(!f.path("nccl").exists(), "a refused job leaves nothing");
    }
}

/// A job of one process on loopback, at a free port.
fn alone() -> DistEnv {
    DistEnv {
        rank: 0,
        world: 1,
        local_rank: 0,
        master_addr: "127.0.0.1".into(),
        master_port: free_port(),
    }
}

/// On a machine with a GPU (scripts/gpu-bench.sh runs this): an NCCL group of one process,
/// its collectives on CUDA tensors and on CPU tensors staged through the GPU, against the
/// values a group of one must give back.
fn nccl_group_of_one() {
    use textgan::dist::Backend;
    assert_eq!(Backend::choose("auto", true).unwrap(), Backend::Nccl);
    let g = ProcessGroup::init_with(&alone(), Duration::from_secs(60), Backend::Nccl).unwrap();
    assert_eq!(g.device, tch::Device::Cuda(0));
    let cuda = tch::Device::Cuda(0);
    let mut t = Tensor::from_slice(&[1.5f32, -2.0]).to_device(cuda);
    g.all_reduce_sum(&mut t).unwrap();
    assert_eq!(values(&t), [1.5, -2.0]);
    let mut c = Tensor::from_slice(&[3.0f64, 4.0]);
    g.all_reduce_sum(&mut c).unwrap();
    assert_eq!(c.device(), tch::Device::Cpu);
    assert_eq!(values(&c), [3.0, 4.0]);
    let all = g.all_gather(&Tensor::from_slice(&[7i64, 8])).unwrap();
    assert_eq!(all.size(), [1, 2]);
    g.barrier().unwrap();
    let v = Tensor::from_slice(&[2.0f32])
        .to_device(cuda)
        .set_requires_grad(true);
    (&v * &v).sum(Kind::Float).backward();
    g.average_grads(std::slice::from_ref(&v)).unwrap();
    assert_eq!(values(&v.grad()), [4.0]);
    g.broadcast_all(std::slice::from_ref(&v), 0).unwrap();
    assert_eq!(values(&v), [2.0]);
}

/// The engine: gloo as asked, auto picks NCCL only for a CUDA run on a machine with CUDA and a
/// build with NCCL, and NCCL where it cannot run is refused in words. Where the build has NCCL
/// and the machine no GPU, forming an NCCL group goes through the whole shim (store, the
/// wheel's ProcessGroupNCCL) and comes back as an error, not a crash.
#[test]
fn the_backend_is_chosen_and_nccl_refused_where_it_cannot_run() {
    use textgan::dist::Backend;
    if not_here() {
        return;
    }
    assert_eq!(Backend::choose("gloo", true).unwrap(), Backend::Gloo);
    assert_eq!(Backend::choose("auto", false).unwrap(), Backend::Gloo);
    let err = Backend::choose("mpi", false).unwrap_err().to_string();
    assert!(err.contains("expected gloo, nccl or auto"), "{err}");
    if tch::Cuda::is_available() {
        return nccl_group_of_one(); // the refusals below are for machines without a GPU
    }
    assert_eq!(Backend::choose("auto", true).unwrap(), Backend::Gloo);
    let err = Backend::choose("nccl", true).unwrap_err().to_string();
    let why = match textgan::dist::available(Some(Backend::Nccl)) {
        true => "this machine has none",
        false => "built without NCCL",
    };
    assert!(err.contains(why), "{err}");
    if textgan::dist::available(Some(Backend::Nccl)) {
        let e = ProcessGroup::init_with(&alone(), Duration::from_secs(20), Backend::Nccl);
        let err = e.err().expect("no NCCL group without a GPU").to_string();
        assert!(
            err.contains("rank 0: init:") && err.contains("GPU"),
            "{err}"
        );
    }
}

/// `--set` arguments for a labelled corpus of two classes (SentiGAN generates under labels).
fn labelled(f: &Fixture) -> Vec<String> {
    let words = [
        ["cat", "dog", "owl", "cow"],
        ["red", "blue", "pink", "gold"],
    ];
    let tab = |rows: std::ops::Range<usize>| {
        let mut tab = String::new();
        for i in rows {
            for (label, w) in ["animal", "colour"].iter().zip(&words) {
                let line = format!("{} {} {}", w[i % 4], w[(i + 1) % 4], w[(i * 3 + 2) % 4]);
                tab.push_str(&format!("{label}\t{line}\n"));
            }
        }
        tab
    };
    // One 8-row batch an epoch, as the unlabelled fixture's.
    std::fs::write(f.path("labelled.tsv"), tab(0..4)).unwrap();
    std::fs::write(f.path("labelled-test.tsv"), tab(4..7)).unwrap();
    let sets = [
        "data.source=text".to_string(),
        format!("data.train=\"{}\"", f.s("labelled.tsv")),
        format!("data.test=\"{}\"", f.s("labelled-test.tsv")),
        "data.labelled=true".into(),
    ];
    sets.iter()
        .flat_map(|s| ["--set".to_string(), s.clone()])
        .collect()
}

/// One of two training ranks killed mid-run: the other exits non-zero with the group's error
/// within the timeout, and the launcher names the first rank that failed.
#[test]
fn a_killed_training_rank_stops_the_job() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let port = free_port().to_string();
    let mut children: Vec<_> = (0..2)
        .map(|rank| {
            let out = format!("k{rank}");
            // Epochs without end: the run goes on until the kill.
            let forever = ["--set".to_string(), "train.epochs=100000".into()];
            spawn_rank(&f, (rank, &port), (&out, "100000"), &forever, "20")
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let start = Instant::now();
    children[1].kill().unwrap();
    let o = children.remove(0).wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("rank 0") && err.contains("another process of the job may have stopped"),
        "{err}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "within the timeout: {:?}",
        start.elapsed()
    );
}

/// The same binary under PyTorch's own launcher (`torchrun`, from the torch wheel the project
/// installs in .venv), whose agent serves the store: the run matches one process's.
#[test]
fn runs_under_torchrun() {
    let torchrun = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/torchrun");
    if not_here() {
        return;
    }
    if !torchrun.exists() {
        eprintln!("skipped: no torchrun in .venv (scripts/setup-torch.sh installs it)");
        return;
    }
    let f = Fixture::new();
    f.train("one", 6, &[]);
    let (out, port) = (f.s("tr"), free_port().to_string());
    let mut args = vec![
        "--nproc-per-node",
        "2",
        "--master-port",
        &port,
        "--no-python",
        env!("CARGO_BIN_EXE_textgan"),
        "train",
        "--out",
        &out,
        "--max-steps",
        "6",
    ];
    let tiny = f.tiny();
    args.extend(tiny.iter().map(String::as_str));
    let o = Command::new(&torchrun)
        .args(&args)
        .env("TMPDIR", f.path("."))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let d = max_diff(&f.path("one"), &f.path("tr"));
    assert!(d < 1e-5, "torchrun: checkpoints differ by {d}");
}

/// The job's temporary directory is empty: the launcher's job folder, with the ranks' scratch
/// copies and error lines, went with it.
fn assert_nothing_left(tmp: &Path) {
    let left: Vec<_> = std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in the temporary directory: {left:?}");
}

/// `train --nproc-per-node 2` of the fixture's tiny run into `job`, with epochs without end
/// (it goes on until a kill or a signal), its temporary directory the fixture's `tmp`.
fn endless_job(f: &Fixture) -> (std::process::Child, std::path::PathBuf) {
    let tmp = f.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let out = f.s("job");
    let mut args = vec!["train", "--out", &out, "--nproc-per-node", "2"];
    let tiny = f.tiny();
    args.extend(tiny.iter().map(String::as_str));
    args.extend(["--max-steps", "100000", "--set", "train.epochs=100000"]);
    let launcher = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(&args)
        .env("TMPDIR", &tmp)
        .env("TEXTGAN_DIST_TIMEOUT", "20")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (launcher, tmp)
}

/// The launcher names the rank that was lost: rank 1 of `--nproc-per-node 2` killed mid-run
/// makes the job exit 1 with "rank 1 of 2 failed" (rank 0's own failure, which follows, is an
/// effect), within the timeout.
#[test]
fn the_launcher_names_the_lost_rank() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let (launcher, tmp) = endless_job(&f);
    std::thread::sleep(Duration::from_secs(4));
    let pid = launcher.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let rank1 = children
        .split_whitespace()
        .find(|c| {
            let env = std::fs::read(format!("/proc/{c}/environ")).unwrap_or_default();
            env.split(|&b| b == 0).any(|kv| kv == b"RANK=1")
        })
        .expect("a rank-1 child")
        .to_string();
    let start = Instant::now();
    assert!(Command::new("kill")
        .args(["-9", &rank1])
        .status()
        .unwrap()
        .success());
    let o = launcher.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("rank 1 of 2 failed"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(25),
        "{:?}",
        start.elapsed()
    );
    // One line for the one failure (not rank 0's lost peer too), and the killed rank's
    // scratch copy of the run is gone with the job.
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    assert_nothing_left(&tmp);
}

/// SIGTERM to `train --nproc-per-node 2` stops the job as it stops one process: the launcher
/// passes it on, every rank stops after the same step with a checkpoint, the launcher waits
/// for them and exits 0, and no rank is left running; the run resumes.
#[test]
fn sigterm_to_the_launcher_stops_every_rank_after_the_step() {
    if not_here() {
        return;
    }
    let f = Fixture::new();
    let (launcher, tmp) = endless_job(&f);
    let out = f.s("job");
    let pid = launcher.id();
    // Both ranks started and training (rank 0's first checkpoint is there).
    let start = Instant::now();
    while !f.path("job/checkpoint.safetensors").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "no checkpoint");
        std::thread::sleep(Duration::from_millis(100));
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let ranks: Vec<String> = children.split_whitespace().map(String::from).collect();
    assert_eq!(ranks.len(), 2, "{children}");
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let o = launcher.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("stopped after"), "{err}");
    for r in &ranks {
        assert!(
            !Path::new(&format!("/proc/{r}")).exists(),
            "rank {r} is left behind"
        );
    }
    assert_nothing_left(&tmp);
    // (The stop may come before the first evaluation: the checkpoint says where it stood.)
    let ck = textgan::checkpoint::load(&f.path("job/checkpoint.safetensors")).unwrap();
    let more = (ck.progress.steps() + 2).to_string();
    let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(["train", "--resume", &out, "--max-steps", &more])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
