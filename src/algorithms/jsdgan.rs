//! JSDGAN (Li et al., AISTATS 2019) as TextGAN-PyTorch implements it (`JSDGAN_G.JSD_loss`): no
//! discriminator network. On each real batch the generator's sequence probabilities are
//! min-max normalised within the batch, the data's probability is taken as `1/B`, and each
//! sequence's log-likelihood is weighted by `p~ log(1 - p_data / (p_data + p~))`: a
//! likelihood step that leans on the sequences the generator already finds likeliest. The
//! code counts every position up to the maximum length; here, as in MLE, positions after
//! `<eos>` do not count.
use super::batches::{real_batch_given, token_log_probs, Shapes, Slice};
use super::disc_side::DiscSide;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

pub static SPEC: Spec<JsdganConfig> = Spec {
    name: "jsdgan",
    about: "likelihood weighted by the batch's normalised JSD terms, no discriminator (Li et al. 2019, as TextGAN-PyTorch codes it)",
    build: |_, p| Box::new(JsdGan::new(p)),
    check: any_networks,
    settings: PhantomData,
};

/// JSDGAN has no keys of its own.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JsdganConfig {}

impl Settings for JsdganConfig {}

pub struct JsdGan {
    adv: AdvConfig,
    shapes: Shapes,
    /// Unused: JSDGAN has no discriminator (the run's is built and checkpointed untouched).
    disc: DiscSide,
    g_opt: Adam,
}

impl JsdGan {
    pub fn new(p: Parts) -> Self {
        JsdGan {
            adv: p.adv.clone(),
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        }
    }
}

/// The weights [B] of sequences with log-probabilities `seq_logp` [B] (float64, no gradient):
/// `p = exp(seq_logp)` min-max normalised over the batch and clamped to at least 1e-10, then
/// `p * log(1 - q / (q + p))` with `q = 1/B`.
pub fn jsd_weights(seq_logp: &Tensor) -> Tensor {
    let p = seq_logp.to_kind(Kind::Double).exp();
    let (lo, hi) = (p.min(), p.max());
    let p = ((&p - &lo) / (hi - &lo).clamp_min(1e-78)).clamp_min(1e-10);
    let q = 1.0 / p.size()[0] as f64;
    let reward = (-((&p + q).reciprocal() * q) + 1.0).log();
    (p * reward).detach()
}

impl Algorithm for JsdGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (rows, cond) = real_batch_given(ctx, self.adv.batch_size, &self.shapes);
        let rows = rows.narrow(1, 0, self.shapes.gen_len);
        // Several processes: each takes the log-probabilities of its slice of the rows; the
        // weights, normalised over the batch, come from every slice's, gathered.
        let slice = Slice::of(&rows, &self.shapes);
        let (rows, cond) = slice.take(&rows, &cond);
        let mask = self.shapes.mask(&rows);
        let seq = (token_log_probs(ctx.gen, &rows, &cond, &self.shapes) * mask).sum_dim_intlist(
            [1i64].as_slice(),
            false,
            Kind::Float,
        );
        let w = jsd_weights(&slice.gather(&seq.detach())).narrow(0, slice.rows.0, slice.rows.1);
        let loss = (w * seq.to_kind(Kind::Double)).sum(Kind::Double) * slice.sum_weight();
        StepStats::g(g_update(
            &mut self.g_opt,
            &loss.to_kind(Kind::Float),
            self.adv.grad_clip,
            self.adv.g_lr,
        ))
    }

    /// JSDGAN has no discriminator: nothing to update.
    fn d_step(&mut self, _ctx: &mut Ctx) -> StepStats {
        StepStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three sequences with probabilities e^-1, e^-2, e^-3: normalised to 1, (e^-2 - e^-3) /
    /// (e^-1 - e^-3) and 1e-10; q = 1/3; each weight is p log(1 - q / (q + p)), by hand.
    #[test]
    fn weights_follow_the_code_by_hand() {
        let w: Vec<f64> =
            Vec::try_from(jsd_weights(&Tensor::from_slice(&[-1.0f32, -2.0, -3.0]))).unwrap();
        let e = |x: f64| x.exp();
        let mid = (e(-2.0) - e(-3.0)) / (e(-1.0) - e(-3.0));
        let q = 1.0 / 3.0;
        let expect = [1.0, mid, 1e-10].map(|p: f64| p * (1.0 - q / (q + p)).ln());
        for (a, b) in w.iter().zip(expect) {
            assert!(
                (a - b).abs() < 1e-9 * b.abs().max(1e-12),
                "{w:?} vs {expect:?}"
            );
        }
        // The likeliest sequence carries the largest weight (in magnitude); the least, none.
        assert!(w[0].abs() > w[1].abs() && w[2].abs() < 1e-8);
    }
}
