//! LeakGAN's hierarchical generator (Guo et al., AAAI 2018, Eq. 1-7): a Manager LSTM reads the
//! discriminator's feature vector of the text written so far, `f_t = F(s_t)`, and emits a unit
//! goal `g_t` in feature space; a Worker LSTM reads the last token and outputs a matrix
//! `O_t` (V x k) whose product with the goal embedding `w_t = W_psi sum_{i=1..c} g_{t-i}` gives
//! the next token's logits. The goals before the first are a learned `goal_init / c`.
//!
//! The feature extractor is a copy of the CNN discriminator's layers (`leak.*`), frozen here:
//! LeakGAN's training copies D's weights into it after every D update, so the copy is what D
//! leaks, and a checkpoint holds it, so sampling, evaluation and serving need no discriminator.
//! A prefix of k tokens reads as its k embedded tokens followed by zero embeddings.
//!
//! Teacher forcing computes every prefix's features at about one CNN pass's cost
//! ([`CnnDiscriminator::prefix_features`]) and never forms the
//! [B, T, V, k] tensor: `O_t w_t = W (w_t (x) h_t) + B w_t` with the Worker's output matrix
//! read as [V, k * H].
use super::disc::{CnnDiscConfig, CnnDiscriminator};
use super::{Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

/// `[generator] kind = "leakgan"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LeakganConfig {
    /// The Worker's token embedding and both LSTMs' hidden size.
    pub embed_dim: i64,
    pub hidden_dim: i64,
    /// k: the goal embedding's size.
    pub goal_dim: i64,
    /// c: how many past goals the goal embedding sums (the Manager's horizon).
    pub horizon: i64,
    /// The leaked feature extractor: must equal the run's `[discriminator]` (a CNN).
    pub features: CnnDiscConfig,
}

impl Default for LeakganConfig {
    /// The LeakGAN code's synthetic-data sizes: 32/32, k = 16, c = 4, SeqGAN's CNN.
    fn default() -> Self {
        LeakganConfig {
            embed_dim: 32,
            hidden_dim: 32,
            goal_dim: 16,
            horizon: 4,
            features: CnnDiscConfig::default(),
        }
    }
}

impl LeakganConfig {
    pub fn validate(&self) -> Result<()> {
        let c = self;
        for (k, v) in [
            ("embed_dim", c.embed_dim),
            ("hidden_dim", c.hidden_dim),
            ("goal_dim", c.goal_dim),
        ] {
            ensure((1..=65_536).contains(&v), || {
                format!("generator.{k} must be in 1..=65536, got {v}")
            })?;
        }
        ensure((1..=64).contains(&c.horizon), || {
            format!("generator.horizon must be in 1..=64, got {}", c.horizon)
        })?;
        ensure(c.features.num_rep == 1, || {
            "generator.features.num_rep must be 1 (one feature vector per text)".into()
        })?;
        c.features.validate()
    }

    /// The feature vector's size: the CNN's filters.
    pub fn feature_dim(&self) -> i64 {
        self.features.num_filters.iter().sum()
    }
}

/// What one teacher-forced pass gives LeakGAN's training.
pub struct LeakPass {
    /// Next-token logits [B, T, V].
    pub logits: Tensor,
    /// Features of the prefixes of 0..=T tokens [B, T + 1, F] (no gradient).
    pub features: Tensor,
    /// The Manager's unit goals g_0 .. g_{T-1} [B, T, F], with their gradient.
    pub goals: Tensor,
}

pub struct LeakganGenerator {
    embed: nn::Embedding,
    worker: Vec<Tensor>,
    /// The Worker's output `O_t`: [V * k, H] and its bias, read as [V, k * H].
    work_out: nn::Linear,
    manager: Vec<Tensor>,
    to_goal: nn::Linear,
    psi: nn::Linear,
    goal_init: Tensor,
    leak: CnnDiscriminator,
    cfg: LeakganConfig,
    vocab_size: i64,
    max_len: i64,
}

fn lstm_vars(p: nn::Path, input: i64, h: i64) -> Vec<Tensor> {
    let bound = 1.0 / (h as f64).sqrt();
    let init = nn::Init::Uniform {
        lo: -bound,
        up: bound,
    };
    vec![
        p.var("weight_ih_l0", &[4 * h, input], init),
        p.var("weight_hh_l0", &[4 * h, h], init),
        p.var("bias_ih_l0", &[4 * h], init),
        p.var("bias_hh_l0", &[4 * h], init),
    ]
}

fn run_lstm(w: &[Tensor], x: &Tensor, h: &Tensor, c: &Tensor) -> (Tensor, Tensor, Tensor) {
    let w: Vec<&Tensor> = w.iter().collect();
    x.lstm(&[h, c], &w, true, 1, 0.0, false, false, true)
}

impl LeakganGenerator {
    pub fn new(p: &nn::Path, cfg: &LeakganConfig, vocab_size: i64, max_len: i64) -> Self {
        let (h, k, f) = (cfg.hidden_dim, cfg.goal_dim, cfg.feature_dim());
        let small = nn::Init::Randn {
            mean: 0.0,
            stdev: 0.1,
        };
        let embed = nn::embedding(
            p / "embed",
            vocab_size,
            cfg.embed_dim,
            nn::EmbeddingConfig {
                ws_init: small,
                ..Default::default()
            },
        );
        // Frozen by `GeneratorModel`: the copy of D's layers trains only by being copied into.
        let leak = CnnDiscriminator::new(&(p / "leak"), &cfg.features, vocab_size);
        LeakganGenerator {
            embed,
            worker: lstm_vars(p / "worker", cfg.embed_dim, h),
            work_out: nn::linear(p / "work_out", h, vocab_size * k, Default::default()),
            manager: lstm_vars(p / "manager", f, h),
            to_goal: nn::linear(p / "to_goal", h, f, Default::default()),
            psi: nn::linear(
                p / "psi",
                f,
                k,
                nn::LinearConfig {
                    bias: false,
                    ..Default::default()
                },
            ),
            goal_init: p.var("goal_init", &[f], small),
            leak,
            cfg: cfg.clone(),
            vocab_size,
            max_len,
        }
    }

    /// Logits [.., V] from Worker outputs `h` [.., H] and goal embeddings `w` [.., k].
    fn logits(&self, h: &Tensor, w: &Tensor) -> Tensor {
        let (v, k, hd) = (self.vocab_size, self.cfg.goal_dim, self.cfg.hidden_dim);
        let outer = (w.unsqueeze(-1) * h.unsqueeze(-2)).flatten(-2, -1); // [.., k * H]
        let weight = self.work_out.ws.view([v, k * hd]);
        let bias = self.work_out.bs.as_ref().expect("a bias").view([v, k]);
        outer.matmul(&weight.tr()) + w.matmul(&bias.tr())
    }

    fn unit(x: &Tensor) -> Tensor {
        x / x
            .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
            .clamp_min(1e-12)
    }

    /// Teacher forcing on `input` [B, T] (`<bos>` first) with `text` [B, N] the tokens
    /// written (N = T - 1 in MLE, where the last target is not read; N = T for LeakGAN's
    /// training, which needs the whole text's features): logits, the features of the
    /// prefixes of 0..=N tokens, and the goals. With `detach_goals`, the Worker reads the
    /// goals without their gradient (LeakGAN's Worker update leaves the Manager alone).
    pub fn pass(&self, input: &Tensor, text: &Tensor, detach_goals: bool) -> LeakPass {
        let (b, t) = input.size2().expect("[B, T]");
        let l = self.max_len;
        let c = self.cfg.horizon;
        let device = input.device();
        // The written tokens in an L-long row.
        let written = Tensor::zeros([b, l], (Kind::Int64, device));
        let n = text.size()[1].min(l);
        if n > 0 {
            written.narrow(1, 0, n).copy_(&text.narrow(1, 0, n));
        }
        // The features [B, N + 1, F] of the prefixes of 0..=N tokens, in one pass over the
        // shared windows.
        let lens = Tensor::arange(n + 1, (Kind::Int64, device));
        let features = self.leak.prefix_features(&written, &lens);
        // The Manager over f_0 .. f_{T-1}.
        let h0 = Tensor::zeros([1, b, self.cfg.hidden_dim], (Kind::Float, device));
        let (m, _, _) = run_lstm(&self.manager, &features.narrow(1, 0, t), &h0, &h0);
        // The unit goals [B, T, F].
        let goals = Self::unit(&self.to_goal.forward(&m));
        // Sliding sums of the c goals before each step, the missing ones goal_init / c.
        let g = if detach_goals {
            goals.detach()
        } else {
            goals.shallow_clone()
        };
        let init = (&self.goal_init / c as f64).expand([b, c, -1], false);
        let padded = Tensor::cat(&[init, g], 1); // [B, c + T, F]
        let zero = Tensor::zeros_like(&padded.narrow(1, 0, 1));
        let cs = Tensor::cat(&[zero, padded.cumsum(1, Kind::Float)], 1);
        let sums = cs.narrow(1, c, t) - cs.narrow(1, 0, t); // [B, T, F]: sum of g_{k-c..k-1}
        let w = self.psi.forward(&sums);
        let (h, _, _) = run_lstm(&self.worker, &self.embed.forward(input), &h0, &h0);
        LeakPass {
            logits: self.logits(&h, &w),
            features,
            goals,
        }
    }
}

impl Generator for LeakganGenerator {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }

    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.embed.forward(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.embed.ws)
    }

    /// LeakGAN's Manager reads the text's features, which need its token ids: teacher
    /// forcing goes through [`Generator::forward`] and [`Generator::forward_given`].
    fn forward_embedded(&self, _emb: &Tensor, _train: bool) -> Tensor {
        panic!("a LeakGAN generator reads token ids, not embeddings (Gumbel-softmax, label conditions and prefixes are refused with its config)")
    }

    fn forward(&self, input: &Tensor, _train: bool) -> Tensor {
        let t = input.size()[1];
        self.pass(input, &input.narrow(1, 1, t - 1), false).logits
    }

    fn forward_given(&self, input: &Tensor, _cond: &crate::data::Condition, train: bool) -> Tensor {
        self.forward(input, train)
    }

    /// Worker h, c and Manager h, c ([1, B, H]); the last c goals [B, c, F] (goal_init / c
    /// each at first); the leaked CNN's window sums of the empty prefix.
    fn initial_state(&self, batch: i64) -> State {
        let device = self.goal_init.device();
        let z = Tensor::zeros([1, batch, self.cfg.hidden_dim], (Kind::Float, device));
        let c = self.cfg.horizon;
        let goals = (&self.goal_init / c as f64)
            .detach()
            .expand([batch, c, -1], false)
            .contiguous();
        let mut tensors = vec![
            (z.shallow_clone(), 1),
            (z.shallow_clone(), 1),
            (z.shallow_clone(), 1),
            (z, 1),
            (goals, 0),
        ];
        tensors.extend(self.leak.prefix_start(batch).into_iter().map(|t| (t, 0)));
        State::new(tensors)
    }

    fn leak_pass(&self, input: &Tensor, text: &Tensor, detach_goals: bool) -> Option<LeakPass> {
        Some(self.pass(input, text, detach_goals))
    }

    fn step_embedded(&self, _x: &Tensor, _state: &mut State) -> Tensor {
        panic!("a LeakGAN generator reads token ids, not embeddings")
    }

    /// One step from `tokens` [B]: the token joins the written prefix (unless it is the
    /// first input, `<bos>`), the Manager reads the prefix's features (pushed into the leaked
    /// CNN's running window sums, [`CnnDiscriminator::prefix_push`]) and sets a goal, and the
    /// Worker's logits follow the goals of the c steps before.
    ///
    /// State: Worker h, c and Manager h, c ([1, B, H]); the last c goals [B, c, F]; the
    /// prefix's window sums.
    fn step(&self, tokens: &Tensor, state: &mut State) -> Tensor {
        let p = state.pos;
        let l = self.max_len;
        let k = (p.max(1) - 1).min(l); // tokens written before this one
        let t = &state.tensors;
        let mut prefix: Vec<Tensor> = t[5..].iter().map(|(x, _)| x.shallow_clone()).collect();
        if p >= 1 && k < l {
            prefix = self.leak.prefix_push(&prefix, tokens, k);
        }
        let n = if p >= 1 { (k + 1).min(l) } else { 0 };
        let f = self.leak.prefix_read(&prefix, n, l); // [B, F]
        let (m, mh, mc) = run_lstm(&self.manager, &f.unsqueeze(1), &t[2].0, &t[3].0);
        let goal = Self::unit(&self.to_goal.forward(&m.squeeze_dim(1))); // [B, F]
        let window = &t[4].0; // [B, c, F]
        let w = self
            .psi
            .forward(&window.sum_dim_intlist([1i64].as_slice(), false, Kind::Float));
        let x = self.embed.forward(tokens).unsqueeze(1);
        let (h, wh, wc) = run_lstm(&self.worker, &x, &t[0].0, &t[1].0);
        let c = self.cfg.horizon;
        let window = Tensor::cat(&[window.narrow(1, 1, c - 1), goal.unsqueeze(1)], 1);
        let mut tensors = vec![(wh, 1), (wc, 1), (mh, 1), (mc, 1), (window, 0)];
        tensors.extend(prefix.into_iter().map(|x| (x, 0)));
        state.tensors = tensors;
        state.pos += 1;
        self.logits(&h.squeeze_dim(1), &w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    pub(crate) fn tiny() -> LeakganConfig {
        LeakganConfig {
            embed_dim: 5,
            hidden_dim: 6,
            goal_dim: 3,
            horizon: 2,
            features: CnnDiscConfig {
                embed_dim: 4,
                filter_sizes: vec![1, 2],
                num_filters: vec![3, 4],
                num_rep: 1,
                dropout: 0.0,
                highway: Default::default(),
            },
        }
    }

    /// Teacher forcing gives the logits of decoding step by step, and the pass's features
    /// and goals are those the steps read and set.
    #[test]
    fn teacher_forcing_matches_stepping() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let g = LeakganGenerator::new(&vs.root(), &tiny(), 9, 5);
        let input = Tensor::from_slice(&[1i64, 4, 5, 6, 7, 1, 8, 3, 3, 2]).view([2, 5]);
        let text = Tensor::cat(
            &[
                input.narrow(1, 1, 4),
                Tensor::from_slice(&[2i64, 9 - 1]).view([2, 1]),
            ],
            1,
        );
        let pass = g.pass(&input, &text, false);
        assert_eq!(pass.logits.size(), vec![2, 5, 9]);
        assert_eq!(pass.features.size(), vec![2, 6, 7]);
        let plain = g.forward(&input, false);
        assert!((&plain - &pass.logits).abs().max().double_value(&[]) < 1e-6);
        assert_eq!(pass.goals.size(), vec![2, 5, 7]);
        let mut state = g.initial_state(2);
        for t in 0..5 {
            let got = g.step(&input.select(1, t), &mut state);
            let want = pass.logits.select(1, t);
            let diff = (got - want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "step {t}: {diff}");
        }
        // The empty prefix reads as all-zero embeddings, and the features change as tokens
        // are written.
        let f = &pass.features;
        assert!(
            (f.select(1, 0).select(0, 0) - f.select(1, 0).select(0, 1))
                .abs()
                .max()
                .double_value(&[])
                < 1e-6
        );
        assert!(
            (f.select(1, 1) - f.select(1, 2))
                .abs()
                .max()
                .double_value(&[])
                > 1e-4
        );
        // The goals are unit vectors.
        let norms = pass.goals.norm_scalaropt_dim(2, [-1i64].as_slice(), false);
        assert!((norms - 1.0).abs().max().double_value(&[]) < 1e-5);
    }
}
