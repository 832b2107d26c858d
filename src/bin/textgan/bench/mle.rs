//! The MLE step's benchmark: eager, or replayed as one CUDA graph.
use super::{time, BenchArgs, Setup, Size};
use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};
use textgan::data::{Batch, Vocab};
use textgan::models::GeneratorModel;
use textgan::optim::Adam;

/// Median seconds of an MLE step at size `s` (eager, or replayed as a CUDA graph), the
/// tokens a step reads, and the repetitions.
pub fn mle_secs(
    a: &BenchArgs,
    s: &Setup,
    size: Size,
    model: &GeneratorModel,
    vocab: &Vocab,
    device: Device,
) -> Result<(f64, i64, usize)> {
    let data = Tensor::randint(s.vocab, [s.batch, s.len], (Kind::Int64, Device::Cpu));
    let rows: Vec<Vec<i64>> = (0..s.batch)
        .map(|i| Vec::try_from(data.get(i)).expect("ids"))
        .collect();
    let refs: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
    let batch = Batch::new(&refs, vocab, device);
    let mut opt = Adam::new(&model.vs, &textgan::optim::AdamConfig::default());
    // GPT-2 small's step takes seconds on a CPU: fewer repetitions, at most one untimed.
    let (warmup, reps) = match size {
        Size::Gpt2 => (a.warmup.min(1), super::gpt2::reps(a)),
        _ => (a.warmup, a.reps),
    };
    if a.cuda_graph && size == Size::Transformer {
        bail!("--cuda-graph is implemented for the LSTM sizes only");
    }
    let secs = if a.cuda_graph {
        let mut g = textgan::train::GraphedMleStep::new(
            model.net.as_ref(),
            &mut opt,
            batch.input.size().try_into().expect("[B, T]"),
            0,
            5.0,
            device,
        )?;
        time(device, a.warmup, a.reps, || {
            let _ = g.step(&mut opt, &batch, 1e-3).expect("replay");
        })
    } else {
        time(device, warmup, reps, || {
            let _ = textgan::optim::mle_step(model.net.as_ref(), &mut opt, &batch, 5.0, 1e-3);
        })
    };
    Ok((secs, s.batch * s.len, reps))
}
