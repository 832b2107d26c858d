//! GPT-2's benchmark (`--size gpt2`, `--size gpt2tiny`, random weights): a forward pass without
//! gradients here, and generation with the key/value cache (the sampling step every size has),
//! beside `transformers`' GPT-2 doing the
//! same (`--reference`).
use super::{time, BenchArgs, Setup};
use tch::{Device, Kind, Tensor};
use textgan::models::{GeneratorConfig, GeneratorModel, Gpt2Config};

/// GPT-2 small's shape (12 layers, 768 wide, 50,257 tokens; batch 4, 64 tokens), or a tiny
/// GPT-2 (2 layers, 64 wide, 300 tokens; batch 64, 32 tokens).
pub fn setup(small: bool) -> Setup {
    match small {
        true => Setup {
            gen: GeneratorConfig::Gpt2(Gpt2Config {
                dropout: 0.0,
                ..Default::default()
            }),
            vocab: 50257,
            batch: 4,
            len: 64,
        },
        false => Setup {
            gen: GeneratorConfig::Gpt2(Gpt2Config {
                n_layer: 2,
                n_head: 4,
                n_embd: 64,
                n_positions: 64,
                dropout: 0.0,
                ..Default::default()
            }),
            vocab: 300,
            batch: 64,
            len: 32,
        },
    }
}

/// At most this many timed repetitions (the 124M shape takes seconds a repetition on a CPU).
pub fn reps(a: &BenchArgs) -> usize {
    a.reps.clamp(1, 5)
}

/// Median seconds of a forward pass over `s.batch` random sequences of `s.len` tokens.
pub fn forward_secs(
    a: &BenchArgs,
    s: &Setup,
    model: &GeneratorModel,
    device: Device,
) -> (f64, i64, usize) {
    let x = Tensor::randint(s.vocab, [s.batch, s.len], (Kind::Int64, device));
    let reps = reps(a);
    let secs = time(device, 1, reps, || {
        let _ = tch::no_grad(|| model.net.forward(&x, false));
    });
    (secs, s.batch * s.len, reps)
}
