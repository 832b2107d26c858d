//! torch's c10d process group from textgan, across real processes on loopback: each test
//! starts two copies of this test binary as ranks 0 and 1 (with torchrun's variables) and
//! checks what each saw. Without Gloo in the build (no libgloo-dev) they say they skipped;
//! `.ci/run` installs it.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tch::{Kind, Tensor};
use textgan::dist::{DistEnv, ProcessGroup};

const ROLE: &str = "TEXTGAN_TEST_DIST_ROLE";

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
    if !textgan::dist::available() {
        eprintln!("skipped: this build has no Gloo (apt-get install libgloo-dev, then rebuild)");
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
    if !textgan::dist::available() {
        eprintln!("skipped: this build has no Gloo (apt-get install libgloo-dev, then rebuild)");
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
