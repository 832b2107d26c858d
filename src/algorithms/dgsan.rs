//! DGSAN (Montahaei et al. 2019) as TextGAN-PyTorch implements it (`dgsan_instructor.py`): no
//! separate discriminator. A frozen copy of the generator, `G_old`, refreshed once a pass over
//! the training data, is the implicit discriminator: per token, real text is pushed to be
//! likelier under G than under G_old, and G_old's samples to be less likely under G,
//! `L = sum_real softplus(log p_old - log p_new) + sum_fake softplus(log p_new - log p_old)`
//! (the code's `-log(1 / (1 + p_old / p_new))`, and its mirror, written stably). Each sum is
//! taken as a mean over its counted tokens (the code sums over every position; Adam's steps
//! hardly see the scale).
use super::batches::{real_batch_given, sample_tensor, token_log_probs, Shapes, Slice};
use super::disc_side::DiscSide;
use super::{g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::error::Result;
use crate::models::GeneratorModel;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<DgsanConfig> = Spec {
    name: "dgsan",
    about: "the previous generator as implicit discriminator, per-token density ratios (Montahaei et al. 2019)",
    build: |c, p| Box::new(Dgsan::new(c, p)),
    check: super::any_networks,
    settings: PhantomData,
};

/// DGSAN's own `[gan]` keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DgsanConfig {
    /// Adversarial steps between refreshes of G_old (0: one pass of the generator's updates
    /// over the training data, the code's epoch).
    pub refresh_every: usize,
}

impl Settings for DgsanConfig {}

pub struct Dgsan {
    adv: AdvConfig,
    shapes: Shapes,
    refresh_every: usize,
    /// Unused: DGSAN has no separate discriminator (the run's is built and checkpointed
    /// untouched).
    disc: DiscSide,
    g_opt: Adam,
    old: GeneratorModel,
}

impl Dgsan {
    pub fn new(cfg: DgsanConfig, p: Parts) -> Self {
        let old = p.generator_copy();
        Dgsan {
            adv: p.adv.clone(),
            refresh_every: cfg.refresh_every,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            old,
        }
    }
}

/// DGSAN's loss from token log-probabilities [B, T] of real rows and of G_old's samples under
/// the new generator (with gradient) and the old one, and their masks.
pub fn dgsan_loss(real: [&Tensor; 3], fake: [&Tensor; 3]) -> Tensor {
    dgsan_loss_weighted(real, fake, [1.0, 1.0])
}

/// [`dgsan_loss`] with each of its two means weighted: a process's slice of the real and of
/// the generated rows ([`Slice::weight`]).
pub fn dgsan_loss_weighted(real: [&Tensor; 3], fake: [&Tensor; 3], w: [f64; 2]) -> Tensor {
    let mean = |x: Tensor, mask: &Tensor| {
        (x * mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
    };
    let [new_r, old_r, mask_r] = real;
    let [new_f, old_f, mask_f] = fake;
    mean((old_r.detach() - new_r).softplus(), mask_r) * w[0]
        + mean((new_f - old_f.detach()).softplus(), mask_f) * w[1]
}

impl Algorithm for Dgsan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let n = self.adv.batch_size;
        let s = &self.shapes;
        let (real, cond) = real_batch_given(ctx, n, s);
        let real = real.narrow(1, 0, s.gen_len);
        let fake = sample_tensor(self.old.net.as_ref(), n, &cond, s, ctx.device);
        // Several processes: each takes its slice of the real and of the generated rows.
        let (sr, sf) = (Slice::of(&real, s), Slice::of(&fake, s));
        let (fake, _) = sf.take(&fake, &cond);
        let (real, cond) = sr.take(&real, &cond);
        let old = self.old.net.as_ref();
        let (old_r, old_f) = tch::no_grad(|| {
            (
                token_log_probs(old, &real, &cond, s),
                token_log_probs(old, &fake, &cond, s),
            )
        });
        let new_r = token_log_probs(ctx.gen, &real, &cond, s);
        let new_f = token_log_probs(ctx.gen, &fake, &cond, s);
        let (mask_r, mask_f) = (s.mask(&real), s.mask(&fake));
        let w = [sr.weight(&mask_r), sf.weight(&mask_f)];
        let loss = dgsan_loss_weighted([&new_r, &old_r, &mask_r], [&new_f, &old_f, &mask_f], w);
        StepStats::g(g_update(
            &mut self.g_opt,
            &loss,
            self.adv.grad_clip,
            self.adv.g_lr,
        ))
    }

    /// G_old takes G's weights at the end of every `refresh_every`-th step.
    fn after_g_steps(&mut self, ctx: &mut Ctx) {
        let every = match self.refresh_every {
            0 => {
                let per_step = self.adv.batch_size as usize * self.adv.g_steps.max(1);
                ctx.real.len().div_ceil(per_step).max(1)
            }
            n => n,
        };
        if (ctx.step + 1).is_multiple_of(every) {
            self.old
                .vs
                .copy(ctx.gen_vars)
                .expect("G_old is built with the generator's shapes");
        }
    }

    /// DGSAN has no separate discriminator: nothing to update.
    fn d_step(&mut self, _ctx: &mut Ctx) -> StepStats {
        StepStats::default()
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        crate::models::vars::named_vars(&self.old.vs, "dgsan.old.")
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        crate::models::vars::restore_vars(&mut self.old.vs, tensors, "dgsan.old.", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::testing::tiny_setup;
    use crate::data::Condition;

    /// G_old starts as an exact copy of the generator, a Transformer's position table
    /// included (it is built with the generator's shapes), and a refresh copies it again.
    #[test]
    fn g_old_is_an_exact_copy_of_a_transformer_generator() {
        let (vocab, shapes, _) = tiny_setup();
        let cfg = crate::models::tiny_configs()[1].clone();
        assert!(matches!(
            cfg,
            crate::models::GeneratorConfig::Transformer(_)
        ));
        let gen = GeneratorModel::new(&cfg, vocab.len() as i64, shapes.gen_len, tch::Device::Cpu);
        let (adv, d) = (AdvConfig::default(), crate::algorithms::testing::tiny_cnn());
        let parts = crate::algorithms::testing::parts((&gen, &cfg), &d, &adv, shapes);
        let dgsan = Dgsan::new(DgsanConfig::default(), parts);
        let old = dgsan.old.vs.variables();
        for (name, v) in gen.vs.variables() {
            assert!(old[&name].equal(&v), "{name} differs");
        }
    }

    /// Right after a refresh (G_old = G) the loss is 2 ln 2 and its gradient is half the
    /// gradient of (real NLL - fake NLL), each a mean over its tokens: every softplus sits at
    /// 0, where its slope is 1/2.
    #[test]
    fn at_a_refresh_the_loss_is_two_ln_two_and_half_mle_minus_unlikelihood() {
        let (vocab, shapes, gen) = tiny_setup();
        let id = |w: &str| vocab.id(w).unwrap();
        let (eos, pad) = (vocab.eos.unwrap(), shapes.pad);
        let real = Tensor::from_slice(&[id("a"), id("b"), eos, pad, pad]).view([1, 5]);
        let fake = Tensor::from_slice(&[id("c"), id("d"), id("e"), eos, pad]).view([1, 5]);
        let none = Condition::None;
        let vars = gen.vs.trainable_variables();
        let grads = |loss: Tensor| Tensor::run_backward(&[loss], &vars, false, false);
        let lp = |rows: &Tensor| token_log_probs(gen.net.as_ref(), rows, &none, &shapes);
        let (mr, mf) = (shapes.mask(&real), shapes.mask(&fake));
        let (old_r, old_f) = (lp(&real).detach(), lp(&fake).detach());
        let loss = dgsan_loss([&lp(&real), &old_r, &mr], [&lp(&fake), &old_f, &mf]);
        assert!((loss.double_value(&[]) - 2.0 * 2f64.ln()).abs() < 1e-6);
        let ours = grads(loss);
        let mean = |x: Tensor, m: &Tensor| (x * m).sum(Kind::Float) / m.sum(Kind::Float);
        let reference = (mean(-lp(&real), &mr) + mean(lp(&fake), &mf)) * 0.5;
        let theirs = grads(reference);
        for (a, b) in ours.iter().zip(&theirs) {
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(diff < 1e-6, "gradients differ by {diff}");
        }
    }
}
