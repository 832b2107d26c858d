//! GAN losses on raw discriminator scores (C), s = sigmoid: discriminator and generator sides.
//!
//! Scores may have any shape as long as real and fake match (a score per sequence, per
//! representation or per token); every loss is a mean over all entries.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Loss of the adversarial game, on raw discriminator scores.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GanLoss {
    /// The minimax loss of the seeds: G minimises log(1 - D(fake)).
    Standard,
    /// G minimises -log D(fake).
    Nsgan,
    Rsgan,
    Ragan,
    Lsgan,
    /// WGAN with gradient penalty (`gp_weight`).
    Wgan,
    Hinge,
}

fn mean(t: Tensor) -> Tensor {
    t.mean(Kind::Float)
}

/// The discriminator's loss (gradient penalty of WGAN-GP added separately).
pub fn d_loss(kind: GanLoss, real: &Tensor, fake: &Tensor) -> Tensor {
    match kind {
        // -log s(C(real)) - log(1 - s(C(fake)))
        GanLoss::Standard | GanLoss::Nsgan => mean((-real).softplus()) + mean(fake.softplus()),
        // -log s(C(real) - C(fake))
        GanLoss::Rsgan => mean((fake - real).softplus()),
        // -log s(C(real) - E C(fake)) - log(1 - s(C(fake) - E C(real)))
        GanLoss::Ragan => {
            mean((fake.mean(Kind::Float) - real).softplus())
                + mean((fake - real.mean(Kind::Float)).softplus())
        }
        GanLoss::Lsgan => mean((real - 1.0).square()) * 0.5 + mean(fake.square()) * 0.5,
        GanLoss::Wgan => mean(fake.shallow_clone()) - mean(real.shallow_clone()),
        GanLoss::Hinge => mean((-real + 1.0).relu()) + mean((fake + 1.0).relu()),
    }
}

/// The generator's loss.
pub fn g_loss(kind: GanLoss, real: &Tensor, fake: &Tensor) -> Tensor {
    match kind {
        // minimise log(1 - s(C(fake))) = -softplus(C(fake)): the seeds' minimax game
        GanLoss::Standard => -mean(fake.softplus()),
        // minimise -log s(C(fake))
        GanLoss::Nsgan => mean((-fake).softplus()),
        GanLoss::Rsgan => mean((real - fake).softplus()),
        GanLoss::Ragan => {
            mean((real.mean(Kind::Float) - fake).softplus())
                + mean((real - fake.mean(Kind::Float)).softplus())
        }
        GanLoss::Lsgan => mean((fake - 1.0).square()) * 0.5,
        GanLoss::Wgan | GanLoss::Hinge => -mean(fake.shallow_clone()),
    }
}

/// The discriminator's accuracy on real and on fake scores, by the decision rule of its loss:
/// the sign for the absolute losses (0.5 for LSGAN's targets 1 and 0); for RSGAN, whether each
/// real row outscores its paired fake row (only differences carry meaning there, so both
/// numbers are that one fraction); for RaGAN and WGAN, whether a score beats the other side's
/// mean.
pub fn accuracy(kind: GanLoss, real: &Tensor, fake: &Tensor) -> (f64, f64) {
    let frac = |t: Tensor| t.to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    match kind {
        GanLoss::Standard | GanLoss::Nsgan | GanLoss::Hinge => {
            (frac(real.gt(0.0)), frac(fake.le(0.0)))
        }
        GanLoss::Lsgan => (frac(real.gt(0.5)), frac(fake.le(0.5))),
        GanLoss::Rsgan => {
            let a = frac(real.gt_tensor(fake));
            (a, a)
        }
        GanLoss::Ragan | GanLoss::Wgan => (
            frac(real.gt_tensor(&fake.mean(Kind::Float))),
            frac(fake.lt_tensor(&real.mean(Kind::Float))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: Tensor) -> f64 {
        t.double_value(&[])
    }

    /// real = [1, -0.5], fake = [0.2, -1]; values by hand (sp = softplus = ln(1 + e^x)):
    /// standard D: (sp(-1) + sp(0.5))/2 + (sp(0.2) + sp(-1))/2 = (0.313262 + 0.974077)/2 + (0.798139 + 0.313262)/2 = 1.199370
    /// standard G: -(sp(0.2) + sp(-1))/2 = -0.555700; nsgan G: (sp(-0.2) + sp(1))/2 = (0.598139 + 1.313262)/2 = 0.955700
    /// rsgan D: (sp(0.2 - 1) + sp(-1 + 0.5))/2 = (sp(-0.8) + sp(-0.5))/2 = (0.371101 + 0.474077)/2 = 0.422589
    /// rsgan G: (sp(0.8) + sp(0.5))/2 = (1.171101 + 0.974077)/2 = 1.072589
    /// ragan D: E C(fake) = -0.4, E C(real) = 0.25: (sp(-1.4) + sp(0.1))/2 + (sp(-0.05) + sp(-1.25))/2
    ///        = (0.220417 + 0.744397)/2 + (0.668460 + 0.251929)/2 = 0.942601
    /// lsgan D: ((0)^2 + (-1.5)^2)/4 + (0.04 + 1)/4 = 0.5625 + 0.26 = 0.8225; G: ((-0.8)^2 + (-2)^2)/4 = 1.16
    /// wgan D: -0.4 - 0.25 = -0.65; G: 0.4. hinge D: (0 + 1.5)/2 + (1.2 + 0)/2 = 1.35
    #[test]
    fn losses_match_hand_computed_values() {
        let r = Tensor::from_slice(&[1.0f32, -0.5]);
        let f = Tensor::from_slice(&[0.2f32, -1.0]);
        let cases = [
            (d_loss(GanLoss::Standard, &r, &f), 1.199370),
            (g_loss(GanLoss::Standard, &r, &f), -0.555700),
            (g_loss(GanLoss::Nsgan, &r, &f), 0.955700),
            (d_loss(GanLoss::Rsgan, &r, &f), 0.422589),
            (g_loss(GanLoss::Rsgan, &r, &f), 1.072589),
            (d_loss(GanLoss::Ragan, &r, &f), 0.942601),
            (d_loss(GanLoss::Lsgan, &r, &f), 0.8225),
            (g_loss(GanLoss::Lsgan, &r, &f), 1.16),
            (d_loss(GanLoss::Wgan, &r, &f), -0.65),
            (g_loss(GanLoss::Wgan, &r, &f), 0.4),
            (d_loss(GanLoss::Hinge, &r, &f), 1.35),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            let got = v(got);
            assert!((got - want).abs() < 1e-5, "case {i}: {got} vs {want}");
        }
    }

    /// real = [1, -0.5, 3], fake = [0.2, -1, 4]: signs 2/3 real, 1/3 fake; LSGAN's 0.5: 2/3,
    /// 2/3; RSGAN pairs (1 > 0.2, -0.5 > -1, 3 < 4): 2/3; RaGAN against the means (fake 1.067,
    /// real 1.167): real 1/3, fake 2/3.
    #[test]
    fn accuracy_follows_each_loss_decision_rule() {
        let r = Tensor::from_slice(&[1.0f32, -0.5, 3.0]);
        let f = Tensor::from_slice(&[0.2f32, -1.0, 4.0]);
        let third = 1.0 / 3.0;
        let cases = [
            (GanLoss::Standard, (2.0 * third, third)),
            (GanLoss::Hinge, (2.0 * third, third)),
            (GanLoss::Lsgan, (2.0 * third, 2.0 * third)),
            (GanLoss::Rsgan, (2.0 * third, 2.0 * third)),
            (GanLoss::Ragan, (third, 2.0 * third)),
            (GanLoss::Wgan, (third, 2.0 * third)),
        ];
        for (kind, (wr, wf)) in cases {
            let (gr, gf) = accuracy(kind, &r, &f);
            assert!(
                (gr - wr).abs() < 1e-6 && (gf - wf).abs() < 1e-6,
                "{kind:?}: {gr} {gf}"
            );
        }
    }
}
