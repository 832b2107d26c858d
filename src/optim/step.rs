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
    minimize_parts(opt, 1, |_| loss.shallow_clone(), clip, lr).0
}

/// [`minimize`], returning also the loss to report: `loss` itself, or in a job of several
/// processes its average over them (each may hold only its slice's share of the batch's loss).
pub fn minimize_reported(opt: &mut Adam, loss: &Tensor, clip: f64, lr: f64) -> (Option<f64>, f64) {
    let (norm, total) = minimize_parts(opt, 1, |_| loss.shallow_clone(), clip, lr);
    let value = match crate::dist::rank_and_world().1 {
        1 => loss.double_value(&[]),
        _ => total.double_value(&[]),
    };
    (norm, value)
}

/// One update of `opt` on the summed gradients of `parts` losses (gradient accumulation):
/// part `i`'s loss, `loss_of(i)`, is backpropagated as soon as it is made, so one part's
/// activations are alive at a time. The guard and clipping of [`minimize`] see the sum;
/// returns the norm before clipping (when it clips) and the summed loss, detached.
pub fn minimize_parts(
    opt: &mut Adam,
    parts: usize,
    mut loss_of: impl FnMut(usize) -> Tensor,
    clip: f64,
    lr: f64,
) -> (Option<f64>, Tensor) {
    let poisoned = POISON.with(|p| {
        let n = p.get();
        p.set(n.saturating_sub(1));
        n > 0
    });
    opt.zero_grad();
    let mut total: Option<Tensor> = None;
    for i in 0..parts.max(1) {
        let mut loss = loss_of(i);
        if poisoned && i == 0 {
            loss = &loss * f64::NAN; // a new tensor: the caller's loss keeps its value
        }
        loss.backward();
        let l = loss.detach();
        total = Some(match total {
            None => l,
            Some(t) => t + l,
        });
    }
    let mut total = total.expect("at least one part");
    // Several processes: the gradients and the loss are averaged over the ranks before the
    // guard, clipping and the step, so every rank takes the same step. A rank that computed a
    // shard of the batch scaled its loss by the world size (the sharded MLE step); one
    // that computed what every rank computes averages identical values.
    let reduced = crate::dist::with_group(|g| -> crate::Result<Tensor> {
        // The loss rides in the gradients' buckets: one all-reduce a step.
        let l = total.to_kind(tch::Kind::Float).reshape([1]);
        let mut both = crate::dist::grads_of(opt.params());
        both.push(l.shallow_clone());
        g.average(&both)?;
        Ok(l.reshape([]))
    });
    match reduced {
        Some(Ok(l)) => total = l,
        // A lost peer or a timeout: recorded; the run loop ends the run after this step with
        // the group's message.
        Some(Err(e)) => crate::dist::fail(&e),
        None => {}
    }
    (guarded_step(opt, &total, clip, lr), total)
}

/// The guard, clipping and the step of [`minimize_parts`], once the gradients are in.
fn guarded_step(opt: &mut Adam, loss: &Tensor, clip: f64, lr: f64) -> Option<f64> {
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

/// One maximum-likelihood step on the micro-batches `parts` together (gradient
/// accumulation): each part's mean token loss is weighted by its share of the tokens, so the
/// update is the one a single batch of all their rows would make, with one part's
/// activations in memory at a time. Returns the detached loss of the whole.
pub fn mle_step_accumulated(
    gen: &dyn Generator,
    opt: &mut Adam,
    parts: &[Batch],
    grad_clip: f64,
    lr: f64,
) -> Tensor {
    if let [one] = parts {
        return mle_step(gen, opt, one, grad_clip, lr);
    }
    let tokens: i64 = parts.iter().map(|b| b.tokens).sum();
    let weights: Vec<f64> = parts
        .iter()
        .map(|b| b.tokens as f64 / tokens.max(1) as f64)
        .collect();
    mle_step_weighted(gen, opt, parts, &weights, grad_clip, lr)
}

/// One maximum-likelihood step on the sum of `weights[i]` times part `i`'s mean token loss.
/// With no parts (a rank whose shard of a short last batch is empty) the loss is a zero that
/// still reaches every parameter, so the rank takes part in the step's all-reduce.
pub fn mle_step_weighted(
    gen: &dyn Generator,
    opt: &mut Adam,
    parts: &[Batch],
    weights: &[f64],
    grad_clip: f64,
    lr: f64,
) -> Tensor {
    if parts.is_empty() {
        let ps: Vec<Tensor> = opt.params().iter().map(Tensor::shallow_clone).collect();
        let zero = |_: usize| {
            ps.iter()
                .map(|p| p.sum(tch::Kind::Float).to_device(tch::Device::Cpu) * 0.0)
                .fold(
                    Tensor::zeros([], (tch::Kind::Float, tch::Device::Cpu)),
                    |a, b| a + b,
                )
        };
        return minimize_parts(opt, 1, zero, grad_clip, lr).1;
    }
    let loss_of = |i: usize| lm_loss(gen, &parts[i], true) * weights[i];
    minimize_parts(opt, parts.len(), loss_of, grad_clip, lr).1
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
    /// Two micro-batches of 4 rows accumulated make the gradient one batch of their 8 rows
    /// makes (rows of different lengths, so the token weighting matters), for every
    /// generator. Gradients, not weights after Adam: Adam scales near-zero gradients (a
    /// Transformer's key bias has none) up to full steps, so rounding noise would dominate.
    #[test]
    fn accumulated_micro_batches_update_as_one_batch() {
        let vocab = Vocab::numeric(30);
        let rows: Vec<Vec<i64>> = (0..8)
            .map(|i| {
                (0..2 + (i * 5) % 7)
                    .map(|j| 4 + (i * 3 + j * 7) % 26)
                    .collect()
            })
            .collect();
        let refs: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
        for cfg in crate::models::tiny_configs() {
            let make = || {
                tch::manual_seed(3);
                let m = GeneratorModel::new(&cfg, 30, 10, Device::Cpu);
                let opt = Adam::new(&m.vs, &AdamConfig::default());
                (m, opt)
            };
            let (one, mut one_opt) = make();
            let (acc, mut acc_opt) = make();
            let whole = Batch::new(&refs, &vocab, Device::Cpu);
            let parts = [
                Batch::new(&refs[..4], &vocab, Device::Cpu),
                Batch::new(&refs[4..], &vocab, Device::Cpu),
            ];
            let a = mle_step(one.net.as_ref(), &mut one_opt, &whole, 0.0, 1e-2);
            let b = mle_step_accumulated(acc.net.as_ref(), &mut acc_opt, &parts, 0.0, 1e-2);
            let (a, b) = (a.double_value(&[]), b.double_value(&[]));
            assert!((a - b).abs() < 1e-6, "{cfg:?}: loss {a} vs {b}");
            let theirs = acc.vs.variables();
            for (name, x) in one.vs.variables() {
                let (g, h) = (x.grad(), theirs[&name].grad());
                let d = (&g - &h).abs().max().double_value(&[]);
                let scale = g.abs().max().double_value(&[]).max(1e-3);
                assert!(
                    d < 1e-5 * scale,
                    "{cfg:?}: {name}'s gradient differs by {d}"
                );
            }
        }
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
