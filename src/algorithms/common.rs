//! Pieces every adversarial algorithm uses: real and fake batches on the device, log-probabilities
//! of sampled sequences, masks after `<eos>`, the discriminator's update, and Gumbel-softmax decoding.
use super::losses;
use crate::config::{GanConfig, GanLoss};
use crate::data::Vocab;
use crate::models::disc::DiscriminatorModel;
use crate::models::{Generator, Sampling};
use crate::optim::Adam;
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

/// A real batch and a generated batch of `n` sequences each, as discriminator-length ids.
pub fn real_and_fake(
    gen: &dyn Generator,
    real: &[Vec<i64>],
    n: i64,
    shapes: &Shapes,
    rng: &mut impl Rng,
    device: Device,
) -> (Tensor, Tensor) {
    let r = real_batch(real, n, shapes, rng, device);
    let f = shapes.to_d_len(&sample_tensor(gen, n, shapes, device));
    (r, f)
}

/// `n` sequences sampled from `gen` (no gradient) as [n, gen_len] ids, padding after `<eos>`.
pub fn sample_tensor(gen: &dyn Generator, n: i64, shapes: &Shapes, device: Device) -> Tensor {
    let _guard = tch::no_grad_guard();
    let ban = shapes.ban_mask(device);
    let mut state = gen.initial_state(n);
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

/// Log-probabilities [B, T] of the tokens of `tokens` [B, T] under `gen` (with gradient).
pub fn token_log_probs(gen: &dyn Generator, tokens: &Tensor, shapes: &Shapes) -> Tensor {
    let (b, t) = tokens.size2().expect("[B, T]");
    let start = Tensor::full([b, 1], shapes.bos, (Kind::Int64, tokens.device()));
    let input = Tensor::cat(&[start, tokens.narrow(1, 0, t - 1)], 1);
    let logp = gen.forward(&input, true).log_softmax(-1, Kind::Float); // [B, T, V]
    logp.gather(2, &tokens.unsqueeze(2), false).squeeze_dim(2)
}

/// The REINFORCE surrogate: minimising it follows the score-function estimate of the gradient
/// of E[reward], `-mean over counted tokens of log p(token) * reward`.
pub fn reinforce_loss(log_probs: &Tensor, rewards: &Tensor, mask: &Tensor) -> Tensor {
    -(log_probs * rewards.detach() * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// The discriminator, its optimizer and its loss.
pub struct DiscSide {
    pub model: DiscriminatorModel,
    pub opt: Adam,
    pub loss: GanLoss,
    pub gp_weight: f64,
    /// `gan.d_grad_clip`: global-norm bound on each update's gradient (0: none).
    pub grad_clip: f64,
}

/// What one discriminator update saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct DStats {
    pub loss: f64,
    /// Fraction of real inputs scored as real and of fake ones scored as fake, by the decision
    /// rule of the loss ([`losses::accuracy`]).
    pub real_acc: f64,
    pub fake_acc: f64,
    /// The gradient's global norm before clipping, when the update clips.
    pub grad_norm: Option<f64>,
}

impl DiscSide {
    pub fn new(model: DiscriminatorModel, cfg: &GanConfig) -> Self {
        let tc = crate::optim::AdamConfig {
            beta1: cfg.d_beta1,
            ..Default::default()
        };
        let opt = Adam::new(&model.vs, &tc);
        DiscSide {
            model,
            opt,
            loss: cfg.loss,
            gp_weight: cfg.gp_weight,
            grad_clip: cfg.d_grad_clip,
        }
    }

    /// One update on embedded real and fake inputs ([B, L, E], fake detached by the caller).
    pub fn update(&mut self, real_emb: &Tensor, fake_emb: &Tensor, lr: f64) -> DStats {
        let d = self.model.net.as_ref();
        let (r, f) = if real_emb.size()[1..] == fake_emb.size()[1..] {
            // One pass over both: every discriminator scores its rows independently, and one
            // [2B, ...] pass makes fewer, larger matrix products than two.
            let n = real_emb.size()[0];
            let both = d.forward_embedded(&Tensor::cat(&[real_emb, fake_emb], 0), true);
            (both.narrow(0, 0, n), both.narrow(0, n, both.size()[0] - n))
        } else {
            (
                d.forward_embedded(real_emb, true),
                d.forward_embedded(fake_emb, true),
            )
        };
        let mut loss = losses::d_loss(self.loss, &r, &f);
        if self.loss == GanLoss::Wgan && self.gp_weight > 0.0 {
            loss += self.gradient_penalty(real_emb, fake_emb) * self.gp_weight;
        }
        let grad_norm = crate::optim::minimize(&mut self.opt, &loss, self.grad_clip, lr);
        let (real_acc, fake_acc) = losses::accuracy(self.loss, &r, &f);
        DStats {
            loss: loss.double_value(&[]),
            real_acc,
            fake_acc,
            grad_norm,
        }
    }

    /// (|grad D(x_hat)| - 1)^2 at random interpolates of the embedded real and fake inputs.
    fn gradient_penalty(&self, real: &Tensor, fake: &Tensor) -> Tensor {
        let b = real.size()[0];
        let eps = Tensor::rand([b, 1, 1], (Kind::Float, real.device()));
        let mix: Tensor = &eps * real.detach() + (1.0 - &eps) * fake.detach();
        let x_hat = mix.set_requires_grad(true);
        let net = self.model.net.as_ref();
        let score =
            crate::models::disc::twice_differentiable(|| net.forward_embedded(&x_hat, true))
                .sum(Kind::Float);
        let grad = Tensor::run_backward(&[score], &[&x_hat], true, true).remove(0);
        let norm = grad
            .reshape([b, -1])
            .norm_scalaropt_dim(2.0, [1i64].as_slice(), false);
        (norm - 1.0).square().mean(Kind::Float)
    }

    /// Update on real ids [B, L] against fake ids [B, L].
    pub fn update_ids(&mut self, real: &Tensor, fake: &Tensor, lr: f64) -> DStats {
        let (re, fe) = {
            let d = self.model.net.as_ref();
            (d.embed(real), d.embed(fake).detach())
        };
        self.update(&re, &fe, lr)
    }
}

/// Gumbel-softmax decoding of `n` sequences with inverse temperature `beta`: soft one-hot rows
/// [n, gen_len, V] that carry gradients into `gen`. The next input is the hard sample
/// `argmax(logits + g)` (RelGAN); after `<eos>` a row continues as one-hot padding, as real data does.
pub fn gumbel_decode(
    gen: &dyn Generator,
    n: i64,
    beta: f64,
    shapes: &Shapes,
    device: Device,
) -> Tensor {
    let ban = shapes.ban_mask(device);
    let pad_row = Tensor::from(shapes.pad)
        .to_device(device)
        .one_hot(shapes.vocab_size)
        .to_kind(Kind::Float); // [V]
    let mut state = gen.initial_state(n);
    let mut tok = Tensor::full([n], shapes.bos, (Kind::Int64, device));
    let mut done = Tensor::zeros([n, 1], (Kind::Bool, device));
    let mut outs = Vec::with_capacity(shapes.gen_len as usize);
    for _ in 0..shapes.gen_len {
        let mut logits = gen.step(&tok, &mut state); // [n, V]
        if let Some(m) = &ban {
            logits += m;
        }
        let u = Tensor::rand_like(&logits);
        let g = -(-(u + 1e-10).log() + 1e-10).log();
        let noisy = &logits + g;
        let soft = (&noisy * beta).softmax(-1, Kind::Float);
        tok = noisy.detach().argmax(-1, false);
        // Without an end token no row finishes early (the oracle's fixed length): nothing to pad.
        if let Some(eos) = shapes.eos {
            outs.push(pad_row.expand_as(&soft).where_self(&done, &soft));
            tok = tok.where_self(
                &done.squeeze_dim(1).logical_not(),
                &Tensor::from(shapes.pad).to_device(device),
            );
            done = done.logical_or(&tok.eq(eos).unsqueeze(1));
        } else {
            outs.push(soft);
        }
    }
    Tensor::stack(&outs, 1) // [n, T, V]
}

/// One-hot rows of ids: [B, L] -> [B, L, V].
pub fn one_hot(ids: &Tensor, vocab: i64) -> Tensor {
    ids.one_hot(vocab).to_kind(Kind::Float)
}

/// Pads soft rows [B, T, V] with one-hot padding to the discriminator's length.
pub fn soft_to_d_len(soft: &Tensor, shapes: &Shapes) -> Tensor {
    let (b, t, v) = soft.size3().expect("[B, T, V]");
    if t >= shapes.d_len {
        return soft.narrow(1, 0, shapes.d_len);
    }
    let pad = Tensor::full(
        [b, shapes.d_len - t],
        shapes.pad,
        (Kind::Int64, soft.device()),
    )
    .one_hot(v)
    .to_kind(Kind::Float);
    Tensor::cat(&[soft.shallow_clone(), pad], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CnnDiscConfig, DiscriminatorConfig, GeneratorConfig, LstmConfig};
    use crate::models::GeneratorModel;

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

    /// `gan.d_grad_clip` bounds the gradient D's update steps with, and reports the norm before.
    #[test]
    fn discriminator_updates_clip_their_gradient() {
        tch::manual_seed(5);
        let dcfg = tiny_cnn();
        let real = Tensor::randint(9, [8, 6], (Kind::Int64, Device::Cpu));
        let fake = Tensor::randint(9, [8, 6], (Kind::Int64, Device::Cpu));
        for clip in [0.0, 1e-3] {
            let cfg = GanConfig {
                d_grad_clip: clip,
                ..GanConfig::default()
            };
            let model = DiscriminatorModel::new(&dcfg, 9, 6, Device::Cpu);
            let mut side = DiscSide::new(model, &cfg);
            let stats = side.update_ids(&real, &fake, 1e-3);
            let norm = side
                .model
                .vs
                .trainable_variables()
                .iter()
                .map(|v| v.grad().square().sum(Kind::Double).double_value(&[]))
                .sum::<f64>()
                .sqrt();
            match stats.grad_norm {
                None => assert_eq!(clip, 0.0),
                Some(before) => {
                    assert!(
                        before > 10.0 * clip,
                        "the unclipped norm {before} is reported"
                    );
                    assert!(
                        (norm - clip).abs() < 1e-6 * clip.max(1.0),
                        "stepped with {norm}"
                    );
                }
            }
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

    /// `gan.d_epochs`: one discriminator step is a round of d_epochs passes over d_samples
    /// rows in batches (here 3 batches of at most 4, twice); without it, one update.
    #[test]
    fn seqgans_discriminator_schedule_runs_epochs_over_fresh_samples() {
        use rand::SeedableRng;
        tch::manual_seed(2);
        let (vocab, shapes, gen) = tiny_setup();
        let real: Vec<Vec<i64>> = (0..6)
            .map(|i| vec![vocab.id(["a", "b", "c"][i % 3]).unwrap(); 1 + i % 4])
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (epochs, updates) in [(0, 1), (2, 6)] {
            let cfg = GanConfig {
                batch_size: 4,
                d_epochs: epochs,
                d_samples: 10,
                ..GanConfig::default()
            };
            let model = DiscriminatorModel::new(&tiny_cnn(), vocab.len() as i64, 6, Device::Cpu);
            let mut side = DiscSide::new(model, &cfg);
            let mut ctx = crate::algorithms::Ctx {
                gen: &gen,
                real: &real,
                device: Device::Cpu,
                step: 0,
                total: 1,
                rng: &mut rng,
            };
            let stats = crate::algorithms::ids_d_step(&mut side, &shapes, &cfg, &mut ctx);
            assert_eq!(side.opt.t, updates, "d_epochs = {epochs}");
            for k in ["d_real_acc", "d_fake_acc"] {
                assert!((0.0..=1.0).contains(&stats[k]), "{k} = {}", stats[k]);
            }
            assert!(stats["d_loss"].is_finite() && stats["d_loss"] > 0.0);
        }
    }

    /// A CNN discriminator small enough for unit tests.
    fn tiny_cnn() -> DiscriminatorConfig {
        DiscriminatorConfig::Cnn(CnnDiscConfig {
            embed_dim: 4,
            filter_sizes: vec![2, 3],
            num_filters: vec![3, 3],
            num_rep: 1,
            dropout: 0.0,
            highway: Default::default(),
        })
    }

    /// A six-word vocabulary, its shapes and a small LSTM generator.
    fn tiny_setup() -> (Vocab, Shapes, GeneratorModel) {
        let vocab = Vocab::build(
            ["a b c d e f"].iter().copied(),
            crate::config::Tokenizer::Word,
            0,
            1,
        );
        let shapes = Shapes::new(&vocab, 5, 3);
        let gen = GeneratorModel::new(
            &GeneratorConfig::Lstm(LstmConfig {
                embed_dim: 4,
                hidden_dim: 8,
                num_layers: 1,
                dropout: 0.0,
            }),
            vocab.len() as i64,
            6,
            Device::Cpu,
        );
        (vocab, shapes, gen)
    }

    #[test]
    fn gradients_reach_the_generator_through_gumbel_softmax() {
        tch::manual_seed(3);
        let (vocab, shapes, gen) = tiny_setup();
        let dcfg = tiny_cnn();
        let disc = DiscriminatorModel::new(&dcfg, vocab.len() as i64, 6, Device::Cpu);
        for beta in [1.0, 100.0] {
            let soft = gumbel_decode(gen.net.as_ref(), 4, beta, &shapes, Device::Cpu);
            assert_eq!(soft.size(), vec![4, 5, vocab.len() as i64]);
            let rows = soft.sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
            assert!(
                (rows - 1.0).abs().max().double_value(&[]) < 1e-4,
                "soft rows sum to one"
            );
            // Once a row has given the end token, the rows after it are the padding one-hot.
            let wide = gumbel_decode(gen.net.as_ref(), 64, beta, &shapes, Device::Cpu);
            let ids = wide.argmax(-1, false);
            let (eos, pad) = (shapes.eos.expect("a word vocabulary ends"), shapes.pad);
            let mut ended = 0;
            for r in 0..64 {
                let row: Vec<i64> = Vec::try_from(ids.get(r)).unwrap();
                if let Some(e) = row.iter().position(|&t| t == eos).filter(|&e| e + 1 < 5) {
                    ended += 1;
                    let after = wide.get(r).narrow(0, e as i64 + 1, 4 - e as i64);
                    let want = Tensor::from(pad)
                        .one_hot(vocab.len() as i64)
                        .to_kind(Kind::Float);
                    assert_eq!((after - want).abs().max().double_value(&[]), 0.0);
                }
            }
            assert!(ended > 0, "some row ends early");
            let score = disc.net.score_soft(&soft_to_d_len(&soft, &shapes), true);
            losses::g_loss(GanLoss::Rsgan, &score.detach(), &score).backward();
            let mut total = 0.0;
            for (name, v) in gen.vs.variables() {
                let g = v.grad();
                assert!(g.defined(), "{name} got no gradient");
                let s = g.abs().sum(Kind::Float).double_value(&[]);
                assert!(s.is_finite(), "{name}: {s}");
                total += s;
                let _ = v.grad().zero_();
            }
            assert!(
                total > 0.0,
                "beta {beta}: no gradient reached the generator"
            );
        }
    }
}
