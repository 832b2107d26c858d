//! Batches of real and generated text on the device, as the algorithms use them: real lines
//! padded to the discriminator's length, samples from the generator, their log-probabilities,
//! masks after `<eos>`, and the REINFORCE surrogate.
use crate::data::{Condition, Vocab};
use crate::models::{Generator, Sampling};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// What the algorithms need to know about the data and the shapes.
pub struct Shapes {
    /// Tokens a generated sequence may have (`<eos>` included).
    pub gen_len: i64,
    /// Length of the discriminator's input (at least its widest filter).
    pub d_len: i64,
    pub vocab_size: i64,
    pub bos: i64,
    pub eos: Option<i64>,
    /// Filler after `<eos>` (the oracle has none and never ends early).
    pub pad: i64,
    pub banned: Vec<i64>,
}

impl Shapes {
    pub fn new(vocab: &Vocab, gen_len: usize, d_min_len: i64) -> Self {
        Shapes {
            gen_len: gen_len as i64,
            d_len: (gen_len as i64).max(d_min_len),
            vocab_size: vocab.len() as i64,
            bos: vocab.bos,
            eos: vocab.eos,
            pad: vocab.pad.unwrap_or(0),
            banned: vocab.never_generated(),
        }
    }

    /// [V] with -inf at banned ids (or None).
    pub fn ban_mask(&self, device: Device) -> Option<Tensor> {
        (!self.banned.is_empty()).then(|| {
            let mut m = vec![0f32; self.vocab_size as usize];
            for &b in &self.banned {
                m[b as usize] = f32::NEG_INFINITY;
            }
            Tensor::from_slice(&m).to_device(device)
        })
    }

    /// 1 up to and including the first `<eos>`, 0 after: [B, T] float.
    pub fn mask(&self, tokens: &Tensor) -> Tensor {
        match self.eos {
            Some(eos) => {
                let is_eos = tokens.eq(eos).to_kind(Kind::Int64);
                let after = (is_eos.cumsum(1, Kind::Int64) - &is_eos).gt(0);
                after.logical_not().to_kind(Kind::Float)
            }
            None => Tensor::ones_like(tokens).to_kind(Kind::Float),
        }
    }

    /// Replaces everything after the first `<eos>` by padding.
    pub fn pad_after_eos(&self, tokens: &Tensor) -> Tensor {
        match self.eos {
            Some(_) => tokens.where_self(
                &self.mask(tokens).to_kind(Kind::Bool),
                &Tensor::from(self.pad).to_device(tokens.device()),
            ),
            None => tokens.shallow_clone(),
        }
    }

    /// Pads or cuts [B, T] ids to the discriminator's length.
    pub fn to_d_len(&self, tokens: &Tensor) -> Tensor {
        let (b, t) = tokens.size2().expect("[B, T]");
        if t >= self.d_len {
            tokens.narrow(1, 0, self.d_len)
        } else {
            let fill = Tensor::full(
                [b, self.d_len - t],
                self.pad,
                (Kind::Int64, tokens.device()),
            );
            Tensor::cat(&[tokens.shallow_clone(), fill], 1)
        }
    }
}

/// `n` random training sequences as [n, d_len] ids: tokens, `<eos>`, padding.
pub fn real_batch(
    real: &[Vec<i64>],
    n: i64,
    shapes: &Shapes,
    rng: &mut impl Rng,
    device: Device,
) -> Tensor {
    let picks: Vec<usize> = (0..n).map(|_| rng.gen_range(0..real.len())).collect();
    real_rows(real, &picks, shapes, device)
}

/// Training lines `picks` as [picks.len(), d_len] ids: tokens, `<eos>`, padding.
pub fn real_rows(real: &[Vec<i64>], picks: &[usize], shapes: &Shapes, device: Device) -> Tensor {
    let l = shapes.d_len as usize;
    let mut ids = vec![shapes.pad; picks.len() * l];
    for (row, &i) in picks.iter().enumerate() {
        let toks = real[i].iter().copied().chain(shapes.eos).take(l);
        for (j, t) in toks.enumerate() {
            ids[row * l + j] = t;
        }
    }
    Tensor::from_slice(&ids)
        .view([picks.len() as i64, shapes.d_len])
        .to_device(device)
}

/// `n` indices into `0..len`, each at most once while `n <= len` (more: whole shuffled passes
/// one after another, then part of one), as SeqGAN's data loader reads its positive file.
pub fn draw_without_replacement(n: usize, len: usize, rng: &mut impl Rng) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut out = Vec::with_capacity(n);
    while len > 0 && out.len() < n {
        let mut pass: Vec<usize> = (0..len).collect();
        pass.shuffle(rng);
        pass.truncate(n - out.len());
        out.extend(pass);
    }
    out
}

/// `n` random training rows as [n, d_len] ids, with their condition (labels).
pub fn real_batch_given(ctx: &mut super::Ctx, n: i64, shapes: &Shapes) -> (Tensor, Condition) {
    let picks: Vec<usize> = (0..n)
        .map(|_| ctx.rng.gen_range(0..ctx.real.len()))
        .collect();
    let ids = real_rows(ctx.real, &picks, shapes, ctx.device);
    (ids, ctx.cond_of(&picks))
}

/// A real batch and a generated batch of `n` sequences each, as discriminator-length ids; the
/// fakes are drawn under the real rows' condition, which is returned with them.
pub fn real_and_fake(ctx: &mut super::Ctx, n: i64, shapes: &Shapes) -> (Tensor, Tensor, Condition) {
    let (r, cond) = real_batch_given(ctx, n, shapes);
    let f = shapes.to_d_len(&sample_tensor(ctx.gen, n, &cond, shapes, ctx.device));
    (r, f, cond)
}

/// `n` sequences sampled from `gen` under `cond` (no gradient) as [n, gen_len] ids, padding
/// after `<eos>`.
pub fn sample_tensor(
    gen: &dyn Generator,
    n: i64,
    cond: &Condition,
    shapes: &Shapes,
    device: Device,
) -> Tensor {
    let _guard = tch::no_grad_guard();
    let ban = shapes.ban_mask(device);
    let mut state = gen.initial_state_given(n, cond);
    let mut tok = Tensor::full([n], shapes.bos, (Kind::Int64, device));
    let mut cols = Vec::with_capacity(shapes.gen_len as usize);
    for _ in 0..shapes.gen_len {
        let mut logits = gen.step(&tok, &mut state);
        if let Some(m) = &ban {
            logits += m;
        }
        tok = Sampling::default().pick(&logits);
        cols.push(tok.shallow_clone());
    }
    shapes.pad_after_eos(&Tensor::stack(&cols, 1))
}

/// `n` samples of the generator under conditions drawn like the training data's (labels,
/// sources; none for plain text), with those conditions: a generator step's samples.
pub fn fresh_samples(ctx: &mut super::Ctx, n: i64, shapes: &Shapes) -> (Tensor, Condition) {
    let cond = ctx.draw_cond(n);
    (sample_tensor(ctx.gen, n, &cond, shapes, ctx.device), cond)
}

/// This process's rows of a batch that every process drew alike (same seed, same draws).
///
/// In one process, or when some process would get no row, it is the whole batch and every
/// process computes all of it. Otherwise rank r of W takes rows `[r * ceil(B / W), ...)`
/// ([`crate::dist::shard_range`]), and its mean loss over its tokens is weighted by
/// `W * its tokens / the batch's tokens`, so the processes' averaged gradient (the optimizer
/// step's all-reduce) is the batch's.
pub struct Slice {
    /// The first row and the number of rows.
    pub rows: (i64, i64),
    /// The batch's tokens, its rows and the number of processes, when it is split.
    split: Option<(f64, i64, usize)>,
}

impl Slice {
    /// The slice of `samples` [B, T] for this process.
    pub fn of(samples: &Tensor, shapes: &Shapes) -> Slice {
        let b = samples.size()[0];
        let Some((lo, hi, world)) = crate::dist::my_rows(b as usize) else {
            return Slice {
                rows: (0, b),
                split: None,
            };
        };
        let tokens = shapes.mask(samples).sum(Kind::Float).double_value(&[]);
        Slice {
            rows: (lo as i64, (hi - lo) as i64),
            split: Some((tokens, b, world)),
        }
    }

    /// This process's rows of the samples and of their condition.
    pub fn take(&self, samples: &Tensor, cond: &Condition) -> (Tensor, Condition) {
        let (lo, len) = self.rows;
        (samples.narrow(0, lo, len), cond.narrow(lo, len))
    }

    /// The factor of this slice's mean loss over its tokens (`mask` [len, T]).
    pub fn weight(&self, mask: &Tensor) -> f64 {
        match self.split {
            Some((tokens, _, world)) => {
                world as f64 * mask.sum(Kind::Float).double_value(&[]) / tokens.max(1.0)
            }
            None => 1.0,
        }
    }

    /// The factor of this slice's part of a loss that sums over the batch's rows: the number
    /// of processes, so that their averaged gradient is the batch's sum's.
    pub fn sum_weight(&self) -> f64 {
        self.split.map_or(1.0, |(_, _, world)| world as f64)
    }

    /// The factor of this slice's mean over its rows: the number of processes times its share
    /// of the batch's rows, so that the averaged gradient is the batch's mean's.
    pub fn row_weight(&self) -> f64 {
        self.split.map_or(1.0, |(_, whole, world)| {
            world as f64 * self.rows.1 as f64 / whole as f64
        })
    }

    /// The whole batch's rows of a tensor whose rows are this slice's (every process's
    /// slice, gathered in rank order): for what needs the batch at once, such as a ranking
    /// over it. The slice itself when the batch is not split.
    pub fn gather(&self, part: &Tensor) -> Tensor {
        match self.split {
            Some((_, whole, _)) => crate::dist::gather_rows(part, whole),
            None => part.shallow_clone(),
        }
    }

    /// The batch's totals of tensors of sums over the slices (the same shapes on every
    /// process), in their kind and device: one all-reduce when split, the tensors themselves
    /// otherwise (so one process computes what it always did, to the bit).
    pub fn sum_tensors(&self, parts: Vec<Tensor>) -> Vec<Tensor> {
        if self.split.is_some() {
            if let Some(Err(e)) = crate::dist::with_group(|g| g.sum_all(&parts)) {
                crate::dist::fail(&e); // the run loop ends the run after this step
            }
        }
        parts
    }

    /// The batch's totals of sums over the slices: one all-reduce when split.
    pub fn sum<const N: usize>(&self, sums: [f64; N]) -> [f64; N] {
        match self.split {
            Some(_) => crate::dist::sum_all(sums),
            None => sums,
        }
    }
}

/// Log-probabilities [B, T] of the tokens of `tokens` [B, T] under `gen` given `cond` (with
/// gradient).
pub fn token_log_probs(
    gen: &dyn Generator,
    tokens: &Tensor,
    cond: &Condition,
    shapes: &Shapes,
) -> Tensor {
    token_log_probs_in(gen, tokens, cond, shapes, true)
}

/// [`token_log_probs`] in training mode (dropout on) or not.
pub fn token_log_probs_in(
    gen: &dyn Generator,
    tokens: &Tensor,
    cond: &Condition,
    shapes: &Shapes,
    train: bool,
) -> Tensor {
    next_log_probs(gen, tokens, cond, shapes.bos, train)
        .gather(2, &tokens.unsqueeze(2), false)
        .squeeze_dim(2)
}

/// Next-token log-probabilities [B, T, V] of `net` along `tokens` [B, T] (from `<bos>`).
pub fn next_log_probs(
    net: &dyn Generator,
    tokens: &Tensor,
    cond: &Condition,
    bos: i64,
    train: bool,
) -> Tensor {
    let (b, t) = tokens.size2().expect("[B, T]");
    let start = Tensor::full([b, 1], bos, (Kind::Int64, tokens.device()));
    let input = Tensor::cat(&[start, tokens.narrow(1, 0, t - 1)], 1);
    net.forward_given(&input, cond, train)
        .log_softmax(-1, Kind::Float)
}

/// The REINFORCE surrogate: minimising it follows the score-function estimate of the gradient
/// of E[reward], `-mean over counted tokens of log p(token) * reward`.
pub fn reinforce_loss(log_probs: &Tensor, rewards: &Tensor, mask: &Tensor) -> Tensor {
    -(log_probs * rewards.detach() * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// One-hot rows of ids: [B, L] -> [B, L, V].
pub fn one_hot(ids: &Tensor, vocab: i64) -> Tensor {
    ids.one_hot(vocab).to_kind(Kind::Float)
}

#[cfg(test)]
mod tests {
    use super::*;
    /// REINFORCE on a three-armed bandit with known answer: pi = softmax(theta), rewards
    /// [1, 2, 5]; d E[r] / d theta_i = pi_i (r_i - E[r]). The estimate from 200,000 draws is
    /// within Monte Carlo error of it (the surrogate's gradient is minus the estimate).
    #[test]
    fn reinforce_estimator_is_unbiased_on_a_bandit() {
        tch::manual_seed(11);
        let theta = Tensor::from_slice(&[0.2f32, -0.4, 0.1]).set_requires_grad(true);
        let rewards_by_arm = Tensor::from_slice(&[1.0f32, 2.0, 5.0]);
        let n = 200_000;
        let logp_all = theta.log_softmax(0, Kind::Float); // [3]
        let probs = logp_all.exp().detach();
        let arms = probs.multinomial(n, true); // [n]
        let logp = logp_all.index_select(0, &arms).view([n, 1]);
        let rewards = rewards_by_arm.index_select(0, &arms).view([n, 1]);
        let mask = Tensor::ones([n, 1], (Kind::Float, Device::Cpu));
        reinforce_loss(&logp, &rewards, &mask).backward();
        let est: Vec<f32> = Vec::try_from(-theta.grad()).unwrap();
        let p: Vec<f32> = Vec::try_from(&probs).unwrap();
        let r = [1.0f32, 2.0, 5.0];
        let mean: f32 = p.iter().zip(r).map(|(a, b)| a * b).sum();
        for i in 0..3 {
            let exact = p[i] * (r[i] - mean);
            assert!(
                (est[i] - exact).abs() < 0.02,
                "arm {i}: estimate {} vs exact {exact}",
                est[i]
            );
        }
    }

    #[test]
    fn draws_without_replacement_pass_by_pass() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let sorted = |v: &[usize]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v
        };
        let few = draw_without_replacement(7, 10, &mut rng);
        let mut distinct = sorted(&few);
        distinct.dedup();
        assert_eq!((few.len(), distinct.len()), (7, 7));
        assert!(few.iter().all(|&i| i < 10));
        let many = draw_without_replacement(25, 10, &mut rng);
        assert_eq!(many.len(), 25);
        let all: Vec<usize> = (0..10).collect();
        assert_eq!(sorted(&many[..10]), all, "a whole pass first");
        assert_eq!(sorted(&many[10..20]), all, "then another");
        assert_ne!(many[..10], many[10..20], "each pass shuffled afresh");
        assert!(draw_without_replacement(3, 0, &mut rng).is_empty());
    }
}
