//! Checkpoints written by earlier versions keep loading.
//!
//! `tests/fixtures/v1-seqgan/checkpoint.safetensors` was written by the code before the run
//! loop's redesign (checkpoint format 1, progress as untyped JSON): a tiny SeqGAN run (LSTM
//! 8/16, CNN discriminator) on an eight-line toy corpus, 4 MLE and 2 adversarial steps.
use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/v1-seqgan");

/// The same weights give the same sentences: these three lines were sampled from the fixture
/// with `--seed 1` by the code that wrote it.
#[test]
fn a_format_1_checkpoint_samples_as_it_did() {
    let o = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args([
            "sample", "--run", FIXTURE, "-n", "3", "--seed", "1", "--device", "cpu",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        String::from_utf8(o.stdout).unwrap(),
        "cat cat birds dog sea dog over\na\nbirds fly on in dog in a\n"
    );
}

/// The library reads the format-1 fixture's typed progress and migrates its `[gan]` section
/// (format 1 stored every algorithm's keys there) to the chosen algorithm's.
#[test]
fn a_format_1_checkpoint_reads_as_typed_progress() {
    let path = std::path::Path::new(FIXTURE).join("checkpoint.safetensors");
    let ck = textgan::checkpoint::load(&path).unwrap();
    assert_eq!(ck.format, 1);
    let p = &ck.progress;
    assert_eq!(p.phase, textgan::checkpoint::Phase::Adv);
    assert_eq!((p.step, p.epoch, p.adv_step, p.max_len), (4, 2, 2, 7));
    assert_eq!(
        p.algo,
        Some(textgan::checkpoint::AdvCounts { d_t: 4, g_t: 2 })
    );
    assert_eq!(p.run_id, None);
    assert_eq!(ck.config.gan.algorithm, Some("seqgan"));
    let s: textgan::algorithms::SeqganConfig = ck.config.gan.own();
    assert_eq!(s.rollouts, 3);
}
