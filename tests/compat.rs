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
