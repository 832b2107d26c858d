//! One optimizer step on a loss (clipped), and the MLE step built on it: the one update rule
//! that MLE training, the adversarial algorithms and the evaluation's reverse language model share.
use super::Adam;
use crate::data::Batch;
use crate::models::{lm_loss, Generator};
use std::cell::{Cell, RefCell};
use tch::Tensor;

thread_local! {
    /// What went bad in the updates skipped on this thread since [`take_skipped`].
    static SKIPPED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    /// Test hook: how many of the next updates on this thread see a NaN loss.
    static POISON: Cell<usize> = const { Cell::new(0) };
}

/// Test hook: the next `n` updates on this thread have their loss replaced by NaN (0 ends
/// it), as a diverging run's would be.
pub fn poison_updates(n: usize) {
    POISON.with(|p| p.set(n));
}

/// The updates skipped on this thread since the last call, each as "model: what went bad".
pub fn take_skipped() -> Vec<String> {
    SKIPPED.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

/// One update of `opt` on `loss`'s gradient, clipped to global norm `clip` when it is positive;
/// returns the norm before clipping when it clips.
///
/// The divergence guard: the loss and the gradients' global norm are read together before
/// the update; when either is NaN or infinite the update is skipped (the weights and the
/// optimizer's moments are left as they were) and recorded for [`take_skipped`].
pub fn minimize(opt: &mut Adam, loss: &Tensor, clip: f64, lr: f64) -> Option<f64> {
    let poisoned = POISON.with(|p| {
        let n = p.get();
        p.set(n.saturating_sub(1));
        n > 0
    });
    let nan;
    let loss = match poisoned {
        true => {
            nan = loss * f64::NAN;
            &nan
        }
        false => loss,
    };
    opt.zero_grad();
    loss.backward();
    let (norm, value) = opt.grad_norm_and_loss(loss);
    let spike = spike_of(opt, value);
    if !value.is_finite() || !norm.is_finite() || spike.is_some() {
        let what = match (value.is_finite(), spike) {
            (false, _) => format!("loss is {value}"),
            (true, Some(median)) => format!(
                "loss {value:.4} is over {} times the recent median {median:.4}",
                opt.spike_factor
            ),
            (true, None) => format!("gradient norm is {norm}"),
        };
        SKIPPED.with(|s| s.borrow_mut().push(format!("{}: {what}", opt.name)));
        opt.zero_grad();
        return None;
    }
    if opt.spike_factor > 0.0 {
        if opt.recent.len() == super::adam::SPIKE_WINDOW {
            opt.recent.pop_front();
        }
        opt.recent.push_back(value);
    }
    let clipped = (clip > 0.0).then(|| {
        opt.scale_grads(norm, clip);
        norm
    });
    opt.step(lr);
    clipped
}

/// The median of the recent good losses when `value` is a spike over it (the guard on, and at
/// least 10 losses seen). Losses at or below zero (some GAN losses) are never spikes.
fn spike_of(opt: &Adam, value: f64) -> Option<f64> {
    if opt.spike_factor <= 0.0 || opt.recent.len() < 10 || !value.is_finite() {
        return None;
    }
    let mut v: Vec<f64> = opt.recent.iter().copied().collect();
    v.sort_by(f64::total_cmp);
    let median = v[v.len() / 2];
    (median > 0.0 && value > opt.spike_factor * median).then_some(median)
}

/// One maximum-likelihood step on `batch` (teacher forcing, padding masked); returns the
/// detached loss for logging.
pub fn mle_step(
    gen: &dyn Generator,
    opt: &mut Adam,
    batch: &Batch,
    grad_clip: f64,
    lr: f64,
) -> Tensor {
    let loss = lm_loss(gen, batch, true);
    minimize(opt, &loss, grad_clip, lr);
    loss.detach()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the spike guard on, a loss far over the recent median is skipped, a finite
    /// ordinary one is not, and a non-finite one always is.
    #[test]
    fn the_guard_skips_spikes_and_non_finite_losses() {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let w = vs
            .root()
            .var_copy("w", &Tensor::from_slice(&[1.0f32, -2.0]));
        let mut opt = Adam::new(&vs, &crate::optim::AdamConfig::default()).named("toy");
        opt.spike_factor = 10.0;
        let loss = |scale: f64| w.square().sum(tch::Kind::Float) * scale;
        for _ in 0..12 {
            minimize(&mut opt, &loss(1.0), 0.0, 1e-3);
        }
        assert!(take_skipped().is_empty());
        let before = Vec::<f32>::try_from(&w).unwrap();
        minimize(&mut opt, &loss(1e3), 0.0, 1e-3);
        let skipped = take_skipped();
        assert!(
            skipped[0].starts_with("toy: loss") && skipped[0].contains("over 10 times"),
            "{skipped:?}"
        );
        assert_eq!(
            Vec::<f32>::try_from(&w).unwrap(),
            before,
            "a skipped update leaves the weights"
        );
        minimize(&mut opt, &loss(2.0), 0.0, 1e-3);
        assert!(take_skipped().is_empty(), "twice the median is no spike");
        minimize(&mut opt, &loss(f64::INFINITY), 0.0, 1e-3);
        assert_eq!(take_skipped(), vec!["toy: loss is inf".to_string()]);
        assert_eq!(opt.t, 13, "skipped updates do not count");
    }
    use crate::data::Vocab;
    use crate::models::GeneratorModel;
    use crate::optim::AdamConfig;
    use tch::Device;

    /// A tiny model must memorise three sentences: mean loss below 0.2 nats after 300 steps
    /// (the entropy left is the choice of the first word among three).
    #[test]
    fn tiny_generators_overfit_a_tiny_corpus() {
        let lines = [
            "the cat sat on the mat",
            "a dog ran in the park",
            "birds fly over the sea",
        ];
        let vocab = Vocab::build(lines.iter().copied(), crate::data::Tokenizer::Word, 0, 1);
        let seqs: Vec<Vec<i64>> = lines.iter().map(|l| vocab.encode(l).unwrap()).collect();
        let rows: Vec<&[i64]> = seqs.iter().map(Vec::as_slice).collect();
        let batch = Batch::new(&rows, &vocab, Device::Cpu);
        tch::manual_seed(0);
        for cfg in crate::models::tiny_configs() {
            let m = GeneratorModel::new(&cfg, vocab.len() as i64, 8, Device::Cpu);
            let mut opt = Adam::new(&m.vs, &AdamConfig::default());
            let mut loss = f64::NAN;
            for _ in 0..300 {
                loss = mle_step(m.net.as_ref(), &mut opt, &batch, 5.0, 1e-2).double_value(&[]);
            }
            // log(3) / 7 tokens = 0.157 is the floor: the first word is a three-way choice.
            assert!(loss < 0.2, "loss {loss}");
            assert!(
                loss > 0.15,
                "loss {loss} is below the entropy floor: the mask or the shift is wrong"
            );
        }
    }
}
