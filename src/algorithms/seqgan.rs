//! SeqGAN (Yu et al. 2017): REINFORCE, the reward of token t being the mean discriminator
//! probability of `rollouts` Monte Carlo completions of the prefix up to t, drawn from a delayed
//! copy of the generator (updated as rollout = r * rollout + (1 - r) * G).
//!
//! The rollouts of all prefixes and all samples run as one growing batch on the device: at
//! position p every completion in flight (prefixes 1..p) samples its next token in one step,
//! and the completions of prefix p join from the teacher-forced state. The Python toolkits loop
//! over prefixes and rollouts one batch at a time.
use super::common::{reinforce_loss, sample_tensor, token_log_probs, DiscSide, Shapes};
use super::{g_update, ids_d_step, net, Algorithm, Ctx, Stats};
use crate::config::{GanConfig, GeneratorConfig};
use crate::error::Result;
use crate::models::{Generator, GeneratorModel, Sampling, State};
use crate::optim::Adam;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};

pub struct SeqGan {
    cfg: GanConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
    rollout: GeneratorModel,
}

impl SeqGan {
    pub fn new(
        cfg: GanConfig,
        shapes: Shapes,
        disc: DiscSide,
        g_opt: Adam,
        gcfg: &GeneratorConfig,
        gen: &GeneratorModel,
        device: Device,
    ) -> Self {
        let mut rollout = GeneratorModel::new(gcfg, shapes.vocab_size, shapes.gen_len + 1, device);
        let _ = rollout.vs.copy(&gen.vs);
        SeqGan {
            cfg,
            shapes,
            disc,
            g_opt,
            rollout,
        }
    }

    fn update_rollout(&mut self, gen: &GeneratorModel) {
        let _guard = tch::no_grad_guard();
        let src = gen.vs.variables();
        for (name, mut dst) in self.rollout.vs.variables() {
            let s = &src[&name];
            let _ = dst.g_mul_scalar_(self.cfg.rollout_update);
            let _ = dst.g_add_(&(s * (1.0 - self.cfg.rollout_update)));
        }
    }

    fn d_update(&mut self, ctx: &mut Ctx) -> Stats {
        ids_d_step(&mut self.disc, &self.shapes, &self.cfg, ctx)
    }
}

/// Per-token rewards [B, T] for `samples` [B, T]: for t < T-1 the mean over `n` completions by
/// `policy` of the discriminator's probability of "real"; for the last token, that of the sample.
pub fn rollout_rewards(
    policy: &dyn Generator,
    disc: &DiscSide,
    samples: &Tensor,
    n: i64,
    shapes: &Shapes,
) -> Tensor {
    let _guard = tch::no_grad_guard();
    let (b, t) = samples.size2().expect("[B, T]");
    let device = samples.device();
    let ban = shapes.ban_mask(device);
    let sampling = Sampling::default();
    let d = disc.model.net.as_ref();
    let d_ids = |ids: &Tensor| shapes.to_d_len(&shapes.pad_after_eos(ids));
    // [N] probabilities of "real", mean over representations.
    let prob = |scores: Tensor| {
        scores
            .sigmoid()
            .mean_dim([1i64].as_slice(), false, Kind::Float)
    };
    // Teacher-forced pass of the base samples: state after <bos>, y_0 .. y_{p-1}.
    let mut base = policy.initial_state(b);
    let _ = policy.step(
        &Tensor::full([b], shapes.bos, (Kind::Int64, device)),
        &mut base,
    );
    let mut rows = Tensor::zeros([0, t], (Kind::Int64, device));
    let mut state: Option<State> = None;
    // Next-token logits of the completions in flight (those of prefixes 1..p-1).
    let mut logits: Option<Tensor> = None;
    let with_ban = |mut l: Tensor| {
        if let Some(m) = &ban {
            l += m;
        }
        l
    };
    for p in 1..t {
        // Predicts position p after the prefix of length p.
        let base_logits = with_ban(policy.step(&samples.select(1, p - 1), &mut base));
        // The completions of prefix length p: n per sample, sample-major, drawn from the
        // base's distribution without copying it n times.
        rows = Tensor::cat(&[rows, samples.repeat_interleave_self_int(n, 0, None)], 0);
        let fresh = base.repeat_interleave(n);
        state = Some(match state.take() {
            None => fresh,
            Some(s) => cat_states(&s, &fresh),
        });
        let first = sampling.pick_n(&base_logits, n).view([-1]);
        let next = match logits.take() {
            Some(l) => Tensor::cat(&[sampling.pick(&with_ban(l)), first], 0),
            None => first,
        }; // [A]: every row in flight writes position p
        rows.select(1, p).copy_(&next);
        if p + 1 < t {
            logits = Some(policy.step(&next, state.as_mut().expect("set above")));
        }
    }
    // rows: prefix-major blocks of [B * n]; mean over the n completions of each (prefix, sample).
    // Padding after <eos> keeps each completion's prefix equal to its base's.
    let base = d_ids(samples);
    let mut rewards = prob(d.score_completions(&base, &d_ids(&rows), n))
        .view([t - 1, b, n])
        .mean_dim([2i64].as_slice(), false, Kind::Float)
        .transpose(0, 1); // [B, T-1]
    let last = prob(d.score(&base, false)).unsqueeze(1); // [B, 1]
    rewards = Tensor::cat(&[rewards, last], 1);
    rewards
}

fn cat_states(a: &State, b: &State) -> State {
    let tensors = a
        .tensors
        .iter()
        .zip(&b.tensors)
        .map(|((x, d), (y, _))| (Tensor::cat(&[x, y], *d), *d))
        .collect();
    State {
        tensors,
        pos: a.pos,
    }
}

impl Algorithm for SeqGan {
    fn step(&mut self, ctx: &mut Ctx) -> Stats {
        let mut out = Stats::new();
        for _ in 0..self.cfg.g_steps {
            let samples =
                sample_tensor(net(ctx.gen), self.cfg.batch_size, &self.shapes, ctx.device);
            let rewards = rollout_rewards(
                self.rollout.net.as_ref(),
                &self.disc,
                &samples,
                self.cfg.rollouts,
                &self.shapes,
            );
            let mask = self.shapes.mask(&samples);
            let logp = token_log_probs(net(ctx.gen), &samples, &self.shapes);
            let loss = reinforce_loss(&logp, &rewards, &mask);
            out.insert(
                "g_loss".into(),
                g_update(&mut self.g_opt, &loss, self.cfg.grad_clip, self.cfg.g_lr),
            );
            out.insert(
                "reward".into(),
                (rewards * &mask).sum(Kind::Float).double_value(&[])
                    / mask.sum(Kind::Float).double_value(&[]),
            );
        }
        self.update_rollout(ctx.gen);
        for _ in 0..self.cfg.d_steps {
            out.extend(self.d_update(ctx));
        }
        out
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> Stats {
        self.d_update(ctx)
    }

    fn sides(&self) -> (&DiscSide, &Adam) {
        (&self.disc, &self.g_opt)
    }

    fn sides_mut(&mut self) -> (&mut DiscSide, &mut Adam) {
        (&mut self.disc, &mut self.g_opt)
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        crate::checkpoint::named_vars(&self.rollout.vs, "rollout.")
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        crate::checkpoint::restore_vars(&mut self.rollout.vs, tensors, "rollout.", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LstmConfig, Tokenizer};
    use crate::data::Vocab;
    use crate::models::disc::{Discriminator, DiscriminatorModel};

    /// Scores a sequence by its first token alone: logit +5 if it is `target`, else -5.
    struct FirstToken {
        vocab: i64,
        target: i64,
    }

    impl Discriminator for FirstToken {
        fn embed(&self, tokens: &Tensor) -> Tensor {
            tokens.one_hot(self.vocab).to_kind(Kind::Float)
        }
        fn embed_soft(&self, probs: &Tensor) -> Tensor {
            probs.shallow_clone()
        }
        fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
            (emb.select(1, 0).select(1, self.target) * 10.0 - 5.0).unsqueeze(1) // [B, 1]
        }
    }

    /// Every completion keeps its prefix, so with a discriminator that reads only the first
    /// token, all rewards of a sample equal sigmoid(+-5) exactly, whatever the rollouts drew.
    #[test]
    fn rollouts_keep_their_prefixes_and_average_per_prefix() {
        tch::manual_seed(5);
        let vocab = Vocab::build(["a b c d e f g"].iter().copied(), Tokenizer::Word, 0, 1);
        let v = vocab.len() as i64;
        let target = vocab.id("c").unwrap();
        let shapes = Shapes::new(&vocab, 6, 1);
        let cfg = GanConfig::default();
        let model = DiscriminatorModel {
            vs: tch::nn::VarStore::new(Device::Cpu),
            net: Box::new(FirstToken { vocab: v, target }),
        };
        let disc = DiscSide::new(model, &cfg);
        let gcfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 4,
            hidden_dim: 8,
            num_layers: 1,
            dropout: 0.0,
        });
        let policy = GeneratorModel::new(&gcfg, v, 7, Device::Cpu);
        let mut ids = vec![vocab.id("a").unwrap(); 18];
        ids[0] = target; // sample 0 starts with the target, sample 1 and 2 do not
        ids[6] = vocab.id("b").unwrap();
        let samples = Tensor::from_slice(&ids).view([3, 6]);
        let r = rollout_rewards(policy.net.as_ref(), &disc, &samples, 4, &shapes);
        assert_eq!(r.size(), vec![3, 6]);
        let hi = 1.0 / (1.0 + (-5.0f64).exp());
        let got: Vec<f32> = Vec::try_from(r.view([-1])).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = if i < 6 { hi } else { 1.0 - hi };
            assert!((*g as f64 - want).abs() < 1e-6, "reward {i}: {g} vs {want}");
        }
    }

    /// The discriminator can tell the completions apart when it reads the last token: then the
    /// rewards of early prefixes are averages strictly between the two extremes.
    #[test]
    fn rollout_rewards_average_over_completions() {
        tch::manual_seed(6);
        struct LastToken {
            vocab: i64,
            target: i64,
        }
        impl Discriminator for LastToken {
            fn embed(&self, tokens: &Tensor) -> Tensor {
                tokens.one_hot(self.vocab).to_kind(Kind::Float)
            }
            fn embed_soft(&self, probs: &Tensor) -> Tensor {
                probs.shallow_clone()
            }
            fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
                let t = emb.size()[1];
                (emb.select(1, t - 1).select(1, self.target) * 10.0 - 5.0).unsqueeze(1)
            }
        }
        let vocab = Vocab::numeric(4);
        let shapes = Shapes::new(&vocab, 5, 1);
        let model = DiscriminatorModel {
            vs: tch::nn::VarStore::new(Device::Cpu),
            net: Box::new(LastToken {
                vocab: 4,
                target: 2,
            }),
        };
        let disc = DiscSide::new(model, &GanConfig::default());
        let gcfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 4,
            hidden_dim: 8,
            num_layers: 1,
            dropout: 0.0,
        });
        let policy = GeneratorModel::new(&gcfg, 4, 6, Device::Cpu);
        let samples = Tensor::from_slice(&[0i64, 1, 3, 1, 2]).view([1, 5]);
        let r: Vec<f32> = Vec::try_from(
            rollout_rewards(policy.net.as_ref(), &disc, &samples, 256, &shapes).view([-1]),
        )
        .unwrap();
        let hi = (1.0 / (1.0 + (-5.0f64).exp())) as f32;
        assert!(
            (r[4] - hi).abs() < 1e-6,
            "the full sample ends in the target: {r:?}"
        );
        // A near-uniform policy draws the target last about a quarter of the time.
        let p = (r[0] - (1.0 - hi)) / (2.0 * hi - 1.0);
        assert!(p > 0.1 && p < 0.45, "{r:?}");
    }
}
