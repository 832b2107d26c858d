//! CoT, Cooperative Training (Lu et al., ICML 2019), as its code (`desire2020/CoT`, and
//! TextGAN-PyTorch's `CoT_{G,D}`) trains it: no discriminator. A mediator M, a language model,
//! learns by maximum likelihood on a 50/50 mix of real and generated sequences, so it
//! approximates the mixture (P + G) / 2. The generator minimises `sum_t KL(G(.|s_t) || M(.|s_t))`
//! over the states `s_t` of its own samples, computed exactly over the vocabulary, which
//! drives G toward the mixture and so toward P. The mediator's NLL on the mix (the code's
//! "balanced NLL") is logged as `d_loss`; a discriminator update (`gan.d_steps`,
//! `gan.d_pretrain_steps`) is a mediator update.
use super::batches::{
    fresh_samples, next_log_probs, real_batch_given, token_log_probs_in, Shapes, Slice,
};
use super::disc_side::DiscSide;
use super::lm_side::LmSide;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Result};
use crate::models::{Generator, GeneratorConfig};
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<CotConfig> = Spec {
    name: "cot",
    about: "cooperative training: G minimises KL(G || M) to a mediator LM trained on real and generated text (Lu et al. 2019)",
    build: |c, p| Box::new(Cot::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// CoT's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CotConfig {
    /// An LSTM generator's mediator has this many times its embedding and hidden sizes (the
    /// code's is twice); other networks' mediators have the generator's shape.
    pub mediator_scale: f64,
}

impl Default for CotConfig {
    fn default() -> Self {
        CotConfig {
            mediator_scale: 2.0,
        }
    }
}

impl Settings for CotConfig {
    fn validate(&self) -> Result<()> {
        ensure(
            self.mediator_scale.is_finite() && (0.1..=16.0).contains(&self.mediator_scale),
            || "gan.mediator_scale must be in [0.1, 16]".into(),
        )
    }
}

/// The mediator's network: the generator's, an LSTM's sizes scaled by `scale`.
pub fn mediator_config(g: &GeneratorConfig, scale: f64) -> GeneratorConfig {
    let by = |x: i64| ((x as f64 * scale).round() as i64).max(1);
    match g {
        GeneratorConfig::Lstm(c) => GeneratorConfig::Lstm(crate::models::LstmConfig {
            embed_dim: by(c.embed_dim),
            hidden_dim: by(c.hidden_dim),
            ..c.clone()
        }),
        other => other.clone(),
    }
}

pub struct Cot {
    adv: AdvConfig,
    shapes: Shapes,
    /// Unused: CoT has no discriminator (the run's is built and checkpointed untouched).
    disc: DiscSide,
    g_opt: Adam,
    /// The mediator and its optimizer (at `gan.d_lr`, with the guard's and plateau's factors).
    mediator: LmSide,
}

impl Cot {
    pub fn new(cfg: CotConfig, p: Parts) -> Self {
        let m = mediator_config(p.generator, cfg.mediator_scale);
        let mediator = LmSide::new(&m, &p, "cot.mediator", "mediator");
        Cot {
            adv: p.adv.clone(),
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            mediator,
        }
    }
}

/// CoT's generator loss on sequences `tokens` [B, T] (mask [B, T]): the mean over counted
/// positions of `KL(G(.|s_t) || M(.|s_t)) = sum_w G(w) (log G(w) - log M(w))`, exact over the
/// vocabulary; the gradient flows through G only.
pub fn cot_loss(g_logp: &Tensor, m_logp: &Tensor, mask: &Tensor) -> Tensor {
    let kl = (g_logp.exp() * (g_logp - m_logp.detach())).sum_dim_intlist(
        [-1i64].as_slice(),
        false,
        Kind::Float,
    );
    (kl * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
}

/// The mediator's loss on a mix of batches (rows [B, T] after `<bos>`, with their conditions):
/// its NLL per counted token over all of them together, the code's "balanced NLL" when the
/// mix is half real and half generated.
pub fn mediator_loss(
    m: &dyn Generator,
    mix: [(&Tensor, &Condition); 2],
    shapes: &Shapes,
) -> Tensor {
    let mut total = Tensor::zeros([], (Kind::Float, mix[0].0.device()));
    let mut count = Tensor::zeros([], (Kind::Float, mix[0].0.device()));
    for (rows, cond) in mix {
        let mask = shapes.mask(rows);
        let logp = token_log_probs_in(m, rows, cond, shapes, true);
        total -= (logp * &mask).sum(Kind::Float);
        count += mask.sum(Kind::Float);
    }
    total / count.clamp_min(1.0)
}

impl Algorithm for Cot {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        // Several processes: each takes its slice of the rows (the loss is a mean over tokens).
        let slice = Slice::of(&samples, &self.shapes);
        let (samples, cond) = slice.take(&samples, &cond);
        let mask = self.shapes.mask(&samples);
        let m_logp = tch::no_grad(|| {
            next_log_probs(
                self.mediator.model.net.as_ref(),
                &samples,
                &cond,
                self.shapes.bos,
                false,
            )
        });
        let g_logp = next_log_probs(ctx.gen, &samples, &cond, self.shapes.bos, true);
        let loss = cot_loss(&g_logp, &m_logp, &mask) * slice.weight(&mask);
        StepStats::g(g_update(
            &mut self.g_opt,
            &loss,
            self.adv.grad_clip,
            self.adv.g_lr,
        ))
    }

    /// A mediator update: maximum likelihood on `gan.batch_size` real and as many generated
    /// sequences together; its loss is the balanced NLL (per counted token).
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let n = self.adv.batch_size;
        let (real, real_cond) = real_batch_given(ctx, n, &self.shapes);
        let real = real.narrow(1, 0, self.shapes.gen_len);
        let (fake, fake_cond) = fresh_samples(ctx, n, &self.shapes);
        let mix = [(&real, &real_cond), (&fake, &fake_cond)];
        let loss = mediator_loss(self.mediator.model.net.as_ref(), mix, &self.shapes);
        let nll = g_update(
            &mut self.mediator.opt,
            &loss,
            self.adv.d_grad_clip,
            self.adv.d_lr,
        );
        StepStats {
            d_loss: Some(nll),
            ..Default::default()
        }
    }

    fn d_unit(&self) -> String {
        "mediator updates".into()
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        self.mediator.tensors()
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        self.mediator.load(tensors, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::testing::{ctx, tiny_cnn, tiny_lstm, tiny_setup};
    use rand::SeedableRng;
    use tch::Device;

    /// The loss is KL(G || M) by hand on two positions, zero where G = M, and its gradient
    /// reaches G's logits only.
    #[test]
    fn the_generator_loss_is_the_exact_kl_to_the_mediator() {
        let g = Tensor::from_slice(&[0.5f32, 0.3, 0.2, 0.1, 0.1, 0.8]).view([1, 2, 3]);
        let m = Tensor::from_slice(&[0.2f32, 0.3, 0.5, 0.1, 0.1, 0.8]).view([1, 2, 3]);
        let g_logits = g.log().set_requires_grad(true);
        let g_logp = g_logits.log_softmax(-1, Kind::Float);
        let m_logp = m.log().set_requires_grad(true);
        let mask = Tensor::from_slice(&[1.0f32, 1.0]).view([1, 2]);
        let loss = cot_loss(&g_logp, &m_logp, &mask);
        let kl0: f64 = [(0.5, 0.2), (0.3, 0.3), (0.2, 0.5)]
            .iter()
            .map(|(p, q): &(f64, f64)| p * (p / q).ln())
            .sum();
        // Position 2 has G = M: KL 0. The mean over the two positions is kl0 / 2.
        assert!((loss.double_value(&[]) - kl0 / 2.0).abs() < 1e-6);
        loss.backward();
        assert!(g_logits.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(
            !m_logp.grad().defined()
                || m_logp.grad().abs().sum(Kind::Float).double_value(&[]) == 0.0
        );
    }

    /// The mediator's loss is the MLE loss of the mix as one batch (an independent path:
    /// `lm_loss` with padding targets ignored), and mediator steps on a one-sentence corpus
    /// lower the balanced NLL they report.
    #[test]
    fn the_mediator_learns_the_mix_by_maximum_likelihood() {
        let (vocab, shapes, gen) = tiny_setup();
        let id = |w: &str| vocab.id(w).unwrap();
        let (a, b, c, d) = (id("a"), id("b"), id("c"), id("d"));
        let pad = shapes.pad;
        let eos = vocab.eos.unwrap();
        let real_row = Tensor::from_slice(&[a, b, c, eos, pad]).view([1, 5]);
        let fake_row = Tensor::from_slice(&[d, eos, pad, pad, pad]).view([1, 5]);
        let none = Condition::None;
        let ours = mediator_loss(
            gen.net.as_ref(),
            [(&real_row, &none), (&fake_row, &none)],
            &shapes,
        );
        let batch = crate::data::Batch::new(&[&[a, b, c], &[d]], &vocab, Device::Cpu);
        let mle = crate::models::lm_loss(gen.net.as_ref(), &batch, false);
        assert!((ours.double_value(&[]) - mle.double_value(&[])).abs() < 1e-5);

        let adv = AdvConfig {
            batch_size: 16,
            d_lr: 1e-2,
            ..Default::default()
        };
        let (g, d) = (tiny_lstm(), tiny_cnn());
        let parts = crate::algorithms::testing::parts((&gen, &g), &d, &adv, shapes);
        let mut cot = Cot::new(CotConfig::default(), parts);
        // The mediator has twice the generator's sizes (hidden 8 -> 16: 4 gates x 16 rows).
        let w = &cot.mediator.model.vs.variables()["lstm.weight_hh_l0"];
        assert_eq!(w.size(), [64, 16]);
        let real = vec![vec![a, b, c]];
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let first = cot
            .d_step(&mut ctx(&gen, &real, &mut rng, 10))
            .d_loss
            .unwrap();
        let mut last = first;
        for _ in 0..40 {
            last = cot
                .d_step(&mut ctx(&gen, &real, &mut rng, 10))
                .d_loss
                .unwrap();
        }
        assert!(last < first - 0.3, "balanced NLL {first} -> {last}");
    }
}
