//! The encoder-decoder's benchmark (`--size seq2seq`, Multi30k de->en sizes): its MLE step on a
//! batch of sources and targets, and (`--step sample`) translating 1,000 sources with beam 5.
use super::{time, BenchArgs, Setup};
use tch::{Device, Kind, Tensor};
use textgan::data::{Batch, Condition, Vocab};
use textgan::models::{beam_search, Beam, CondSpec, GenerateSpec, GeneratorModel};
use textgan::optim::Adam;

/// The German vocabulary of Multi30k's training words seen twice (the English is the
/// setup's `vocab`).
pub const SRC_VOCAB: i64 = 7853;

/// Sources: 1,000 of the setup's length, ids past the specials.
fn sources(s: &Setup, device: Device) -> Tensor {
    Tensor::randint_low(4, SRC_VOCAB, [1000, s.len], (Kind::Int64, device))
}

pub fn model(s: &Setup, device: Device) -> GeneratorModel {
    let cond = CondSpec::Source {
        vocab: Some(SRC_VOCAB),
        max_len: 128,
    };
    GeneratorModel::conditional(&s.gen, s.vocab, s.len + 1, cond, device)
}

/// Median seconds of an MLE step on `s.batch` pairs.
pub fn mle_secs(
    a: &BenchArgs,
    s: &Setup,
    model: &GeneratorModel,
    vocab: &Vocab,
    device: Device,
) -> (f64, i64, usize) {
    let data = Tensor::randint(s.vocab, [s.batch, s.len], (Kind::Int64, Device::Cpu));
    let rows: Vec<Vec<i64>> = (0..s.batch)
        .map(|i| Vec::try_from(data.get(i)).expect("ids"))
        .collect();
    let refs: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
    let src = sources(s, device).narrow(0, 0, s.batch);
    let batch = Batch::new(&refs, vocab, device).given(Condition::Source { ids: src, pad: 0 });
    let mut opt = Adam::new(&model.vs, &textgan::optim::AdamConfig::default());
    let secs = time(device, a.warmup, a.reps, || {
        let _ = textgan::optim::mle_step(model.net.as_ref(), &mut opt, &batch, 5.0, 1e-3);
    });
    (secs, s.batch * s.len, a.reps)
}

/// Median seconds of translating 1,000 sources with beam 5, `s.batch` at a time, for
/// `s.len + 1` steps (an untrained model rarely ends early: every run takes them all).
pub fn translate_secs(
    a: &BenchArgs,
    s: &Setup,
    model: &GeneratorModel,
    device: Device,
) -> (f64, i64, usize) {
    let spec = GenerateSpec {
        count: 1000,
        max_len: s.len as usize + 1,
        batch_size: s.batch as usize,
        bos: 1,
        eos: Some(2),
        banned: vec![0, 1],
        prefix: vec![],
        cond: Condition::Source {
            ids: sources(s, device),
            pad: 0,
        },
    };
    let beam = Beam {
        width: 5,
        length_penalty: 1.0,
    };
    let reps = a.reps.clamp(1, 3);
    let secs = time(device, 1, reps, || {
        let _ = beam_search(model.net.as_ref(), &spec, &beam, device);
    });
    (secs, 1000 * (s.len + 1), reps)
}
