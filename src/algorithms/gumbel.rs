//! Gumbel-softmax training (Jang et al. 2017): the discriminator reads the generator's soft
//! one-hot rows `softmax(beta * (logits + g))` through its embedding, so its gradient reaches the
//! generator directly. RelGAN (Nie et al. 2019) is this with a relational-memory generator, a
//! multi-representation CNN, the RSGAN loss and `beta` rising to `beta_max` over the adversarial
//! steps; GSGAN (Kusner and Hernández-Lobato 2016) with an LSTM pair and a fixed temperature; the
//! seeds' LSTM/MLP systems with the standard minimax loss. The presets in `configs/` set them up.
use super::batches::{real_batch_given, Shapes};
use super::disc_side::DiscSide;
use super::losses;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Result};
use crate::models::Generator;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Device, Kind, Tensor};

pub static SPEC: Spec<GumbelConfig> = Spec {
    name: "gumbel",
    about: "Gumbel-softmax relaxation with a rising inverse temperature (RelGAN, GSGAN)",
    build: |c, p| Box::new(Gumbel::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// How the Gumbel-softmax inverse temperature rises from 1 to `beta_max` over the adversarial steps.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BetaSchedule {
    /// Always `beta_max`.
    Constant,
    /// beta_max^(n/N) (RelGAN's default).
    Exp,
    /// 1 + (beta_max - 1) n/(N - 1).
    Linear,
    /// 1 + (beta_max - 1) / (1 + exp(20 (N/2 - n)/N)).
    Sigmoid,
}

/// Gumbel-softmax's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GumbelConfig {
    /// Largest inverse temperature and its schedule.
    pub beta_max: f64,
    pub beta_schedule: BetaSchedule,
    /// N in the schedule: 0 (default) stretches it over the run's `steps`. RelGAN's and
    /// TextGAN-PyTorch's code fix N = 5000 whatever the run's length (the published numbers
    /// come from 3000 steps of that curve, so beta ends at beta_max^0.6); set 5000 to match.
    /// Past step N, beta stays at beta_max.
    pub beta_horizon: usize,
}

impl Default for GumbelConfig {
    fn default() -> Self {
        GumbelConfig {
            beta_max: 100.0,
            beta_schedule: BetaSchedule::Exp,
            beta_horizon: 0,
        }
    }
}

impl Settings for GumbelConfig {
    fn validate(&self) -> Result<()> {
        ensure(self.beta_max >= 1e-3 && self.beta_max.is_finite(), || {
            format!(
                "gan.beta_max must be positive and finite, got {}",
                self.beta_max
            )
        })
    }
}

pub struct Gumbel {
    adv: AdvConfig,
    cfg: GumbelConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

/// Inverse temperature at adversarial step `n` of a schedule `total` steps long (RelGAN §3.3):
/// from 1 to `max`, the formulas of RelGAN's `get_fixed_temperature` (TextGAN-PyTorch has the
/// same). Past the schedule's end it stays at `max`.
pub fn beta_at(schedule: BetaSchedule, max: f64, n: usize, total: usize) -> f64 {
    let n = n.min(total) as f64;
    let total = total.max(1) as f64;
    match schedule {
        BetaSchedule::Constant => max,
        BetaSchedule::Exp => max.powf(n / total),
        BetaSchedule::Linear => 1.0 + (max - 1.0) * (n / (total - 1.0).max(1.0)).min(1.0),
        BetaSchedule::Sigmoid => {
            1.0 + (max - 1.0) / (1.0 + ((total / 2.0 - n) * 20.0 / total).exp())
        }
    }
}

/// N of the beta schedule: `gan.beta_horizon`, or the run's adversarial steps when it is 0.
pub(super) fn schedule_len(horizon: usize, steps: usize) -> usize {
    match horizon {
        0 => steps,
        n => n,
    }
}

impl Gumbel {
    pub fn new(cfg: GumbelConfig, p: Parts) -> Self {
        Gumbel {
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        }
    }

    /// Real ids [B, d_len]: through the embedding lookup they give what their one-hot rows
    /// give through the table as a matrix, without the [B, d_len, V] product.
    fn real_ids(&self, ctx: &mut Ctx) -> (Tensor, Condition) {
        real_batch_given(ctx, self.adv.batch_size, &self.shapes)
    }

    /// This process's rows (first, count) of a batch `real` and the weight of its mean loss.
    fn rows(&self, real: &Tensor) -> ((i64, i64), f64) {
        let n = real.size()[0];
        match super::disc_side::split_rows(self.adv.loss, n) {
            Some((lo, len, world)) => ((lo, len), world as f64 * len as f64 / n as f64),
            None => ((0, n), 1.0),
        }
    }
}

impl Algorithm for Gumbel {
    super::algorithm_sides!();

    fn step_figures(&self, ctx: &Ctx) -> StepStats {
        StepStats {
            beta: Some(self.beta(ctx)),
            ..Default::default()
        }
    }

    /// Several processes decode, score and differentiate a slice of the rows each (when the
    /// loss is a mean over rows), the loss weighted by the slice's share.
    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let beta = self.beta(ctx);
        let (real, cond) = self.real_ids(ctx);
        let (rows, weight) = self.rows(&real);
        let n = (self.adv.batch_size, &cond);
        let fake = fake_soft_rows(ctx, n, rows, beta, &self.shapes);
        let (real, cond) = (real.narrow(0, rows.0, rows.1), cond.narrow(rows.0, rows.1));
        // D's own gradients are not needed here: frozen, its backward pass only carries
        // the gradient through to G (about half the work of the full backward).
        self.disc.model.vs.freeze();
        let d = self.disc.model.net.as_ref();
        let r = tch::no_grad(|| d.score_given(&real, &cond, true));
        let f = d.forward_embedded_given(&d.embed_soft(&fake), &cond, true);
        let loss = losses::g_loss(self.adv.loss, &r, &f) * weight;
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        self.disc.model.vs.unfreeze();
        StepStats::g(g_loss)
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let beta = self.beta(ctx);
        let (real, cond) = self.real_ids(ctx);
        let (rows, _) = self.rows(&real);
        let b = real.size()[0];
        let n = (self.adv.batch_size, &cond);
        let fake = tch::no_grad(|| fake_soft_rows(ctx, n, rows, beta, &self.shapes));
        let (real, cond) = (real.narrow(0, rows.0, rows.1), cond.narrow(rows.0, rows.1));
        let (re, fe) = {
            let d = self.disc.model.net.as_ref();
            (d.embed(&real), d.embed_soft(&fake))
        };
        // Split: this process's rows of the batch's b.
        let whole = (rows.1 < b).then_some(b);
        let s = self
            .disc
            .update_slice(&re, &fe, (&cond, &cond), self.adv.d_lr, whole);
        StepStats::from_d(s)
    }
}

impl Gumbel {
    fn beta(&self, ctx: &Ctx) -> f64 {
        beta_at(
            self.cfg.beta_schedule,
            self.cfg.beta_max,
            ctx.step,
            schedule_len(self.cfg.beta_horizon, ctx.total),
        )
    }
}

/// `n` generated soft one-hot rows under `cond` at the discriminator's length, carrying
/// gradients into G (RelGAN's, GSGAN's and TextGAN's fake batch).
pub fn fake_soft(ctx: &Ctx, (n, cond): (i64, &Condition), beta: f64, shapes: &Shapes) -> Tensor {
    let soft = gumbel_decode(ctx.gen, (n, cond), beta, shapes, ctx.device);
    soft_to_d_len(&soft, shapes)
}

/// Rows `lo..lo + len` of [`fake_soft`]'s `n` rows (`cond` is the whole batch's), decoded for
/// those rows alone with the noise one process draws for them.
fn fake_soft_rows(
    ctx: &Ctx,
    (n, cond): (i64, &Condition),
    rows: (i64, i64),
    beta: f64,
    shapes: &Shapes,
) -> Tensor {
    let soft = gumbel_decode_rows(ctx.gen, (n, cond), rows, beta, shapes, ctx.device);
    soft_to_d_len(&soft, shapes)
}

/// Gumbel-softmax decoding of `n` sequences with inverse temperature `beta`: soft one-hot rows
/// [n, gen_len, V] that carry gradients into `gen`. The next input is the hard sample
/// `argmax(logits + g)` (RelGAN); after `<eos>` a row continues as one-hot padding, as real data does.
pub fn gumbel_decode(
    gen: &dyn Generator,
    (n, cond): (i64, &Condition),
    beta: f64,
    shapes: &Shapes,
    device: Device,
) -> Tensor {
    gumbel_decode_rows(gen, (n, cond), (0, n), beta, shapes, device)
}

/// Rows `lo..lo + len` of [`gumbel_decode`]'s `whole` rows (`cond` is the whole batch's): the
/// noise is drawn for the whole batch and sliced, so processes that split a batch decode
/// together what one process decodes.
pub fn gumbel_decode_rows(
    gen: &dyn Generator,
    (whole, cond): (i64, &Condition),
    (lo, n): (i64, i64),
    beta: f64,
    shapes: &Shapes,
    device: Device,
) -> Tensor {
    let cond = &cond.narrow(lo, n);
    let ban = shapes.ban_mask(device);
    let pad_row = Tensor::from(shapes.pad)
        .to_device(device)
        .one_hot(shapes.vocab_size)
        .to_kind(Kind::Float); // [V]
    let mut state = gen.initial_state_given(n, cond);
    let mut tok = Tensor::full([n], shapes.bos, (Kind::Int64, device));
    let mut done = Tensor::zeros([n, 1], (Kind::Bool, device));
    let mut outs = Vec::with_capacity(shapes.gen_len as usize);
    for _ in 0..shapes.gen_len {
        let mut logits = gen.step(&tok, &mut state); // [n, V]
        if let Some(m) = &ban {
            logits += m;
        }
        let v = logits.size()[1];
        let u = crate::models::uniform_rows((whole, v), (lo, n), (logits.kind(), device));
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
    use crate::models::disc::DiscriminatorModel;

    #[test]
    fn schedules_run_from_one_to_max() {
        for s in [BetaSchedule::Exp, BetaSchedule::Linear] {
            assert!((beta_at(s, 100.0, 0, 10) - 1.0).abs() < 1e-9);
            assert!((beta_at(s, 100.0, 10, 10) - 100.0).abs() < 1e-9);
        }
        assert!((beta_at(BetaSchedule::Exp, 100.0, 5, 10) - 10.0).abs() < 1e-9);
        assert!(
            (beta_at(BetaSchedule::Linear, 101.0, 5, 10) - (1.0 + 100.0 * 5.0 / 9.0)).abs() < 1e-9
        );
        assert!((beta_at(BetaSchedule::Sigmoid, 101.0, 5, 10) - 51.0).abs() < 1e-9);
        assert_eq!(beta_at(BetaSchedule::Constant, 7.0, 0, 10), 7.0);
    }

    #[test]
    fn the_horizon_replaces_the_runs_length() {
        let mut cfg = GumbelConfig::default();
        assert_eq!(schedule_len(cfg.beta_horizon, 3000), 3000);
        cfg.beta_horizon = 5000;
        assert_eq!(schedule_len(cfg.beta_horizon, 3000), 5000);
    }

    /// Values of RelGAN's `get_fixed_temperature(temper, i, N, adapt)` worked by hand, with the
    /// N = 5000 its code fixes.
    #[test]
    fn schedules_match_relgans_formulas() {
        // exp: 1000^(3000/5000) = 10^1.8, where the paper's 3000-step oracle run ends.
        let e = beta_at(BetaSchedule::Exp, 1000.0, 3000, 5000);
        assert!((e - 63.095_734_448).abs() < 1e-6, "{e}");
        // sigmoid at i = 0: 1 + 99 / (1 + e^10).
        let s = beta_at(BetaSchedule::Sigmoid, 100.0, 0, 5000);
        assert!(
            (s - (1.0 + 99.0 / (1.0 + 10f64.exp()))).abs() < 1e-12,
            "{s}"
        );
        assert!((s - 1.004_494_4).abs() < 1e-6, "{s}");
        // sigmoid at i = 3750: 1 + 99 / (1 + e^-5).
        let s = beta_at(BetaSchedule::Sigmoid, 100.0, 3750, 5000);
        assert!((s - 99.337_41).abs() < 1e-4, "{s}");
        // lin at i = 4999 = N - 1 reaches the maximum.
        assert!((beta_at(BetaSchedule::Linear, 100.0, 4999, 5000) - 100.0).abs() < 1e-9);
        // Past the horizon every schedule holds its maximum.
        for sch in [BetaSchedule::Exp, BetaSchedule::Linear] {
            assert!((beta_at(sch, 100.0, 6000, 5000) - 100.0).abs() < 1e-9);
        }
    }

    #[test]
    fn gradients_reach_the_generator_through_gumbel_softmax() {
        tch::manual_seed(3);
        let (vocab, shapes, gen) = crate::algorithms::testing::tiny_setup();
        let dcfg = crate::algorithms::testing::tiny_cnn();
        let disc = DiscriminatorModel::new(&dcfg, vocab.len() as i64, 6, Device::Cpu);
        for beta in [1.0, 100.0] {
            let soft = gumbel_decode(
                gen.net.as_ref(),
                (4, &Condition::None),
                beta,
                &shapes,
                Device::Cpu,
            );
            assert_eq!(soft.size(), vec![4, 5, vocab.len() as i64]);
            let rows = soft.sum_dim_intlist([2i64].as_slice(), false, Kind::Float);
            assert!(
                (rows - 1.0).abs().max().double_value(&[]) < 1e-4,
                "soft rows sum to one"
            );
            // Once a row has given the end token, the rows after it are the padding one-hot.
            let wide = gumbel_decode(
                gen.net.as_ref(),
                (64, &Condition::None),
                beta,
                &shapes,
                Device::Cpu,
            );
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
            losses::g_loss(losses::GanLoss::Rsgan, &score.detach(), &score).backward();
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
