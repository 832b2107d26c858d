//! TextGAN (Zhang et al., ICML 2017, "Adversarial Feature Matching for Text Generation"):
//! the generator matches the discriminator's features of real text, not its verdict. Its loss
//! is the kernel MMD² between the CNN's feature vectors (the highway output) of a real and a
//! generated batch, with Texygen's sum of Gaussian kernels `sum_s exp(-|x - y|² / (2 s))`
//! over nineteen widths and its estimator `mean K_xx + mean K_yy - 2 mean K_xy`, clipped at 0.
//! The discriminator plays the GAN game (`gan.loss`) and, with the paper's sign, makes its
//! features tell the two apart: it minimises `loss_GAN - mmd_weight * MMD²`. (Texygen's code
//! adds `+0.1 MMD²` to the loss it minimises, the opposite sign.)
//!
//! Two cuts, stated: the generated text reaches D as Gumbel-softmax rows at a fixed inverse
//! temperature `beta` (the paper's soft-argmax `softmax(L o_t)` with L = 1000 feeds a
//! generator driven by a latent code, which the run's generators do not take: their noise is
//! the sampling's); and the paper's latent-code reconstruction term has no code to
//! reconstruct, so it is left out. The discriminator must be a CNN; it does not read labels.
use super::batches::{real_batch_given, Shapes};
use super::disc_side::DiscSide;
use super::gumbel::fake_soft;
use super::losses;
use super::{g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Error, Result};
use crate::models::disc::DiscriminatorConfig;
use crate::models::GeneratorConfig;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

pub static SPEC: Spec<TextganConfig> = Spec {
    name: "textgan",
    about: "the generator matches the CNN discriminator's features of real text by kernel MMD (Zhang et al. 2017, Texygen's kernel)",
    build: |c, p| Box::new(TextGan::new(c, p)),
    check: cnn_features,
    settings: PhantomData,
};

fn cnn_features(_: &GeneratorConfig, d: &DiscriminatorConfig) -> Result<()> {
    match d {
        DiscriminatorConfig::Cnn(_) => Ok(()),
        _ => Err(Error::Config(
            "gan.algorithm = \"textgan\" matches a CNN's features: set discriminator.kind = \"cnn\""
                .into(),
        )),
    }
}

/// Texygen's kernel widths (`gaussian_kernel_matrix`).
pub const TEXYGEN_SIGMAS: [f64; 19] = [
    1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0, 35.0, 100.0, 1e3,
    1e4, 1e5, 1e6,
];

/// TextGAN's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TextganConfig {
    /// Inverse temperature of the Gumbel-softmax rows D reads: the paper's L = 1000 (at
    /// 1, D tells the soft rows from one-hot text at once and the generator collapses).
    pub beta: f64,
    /// Weight of MMD² in the discriminator's objective (Texygen's 0.1, with the paper's sign).
    pub mmd_weight: f64,
    /// The Gaussian kernels' widths s in `exp(-|x - y|² / (2 s))`.
    pub sigmas: Vec<f64>,
}

impl Default for TextganConfig {
    fn default() -> Self {
        TextganConfig {
            beta: 1000.0,
            mmd_weight: 0.1,
            sigmas: TEXYGEN_SIGMAS.to_vec(),
        }
    }
}

impl Settings for TextganConfig {
    fn validate(&self) -> Result<()> {
        let c = self;
        ensure(c.beta.is_finite() && c.beta >= 1e-3, || {
            format!("gan.beta must be at least 0.001 and finite, got {}", c.beta)
        })?;
        ensure(c.mmd_weight.is_finite() && c.mmd_weight >= 0.0, || {
            "gan.mmd_weight must be finite and non-negative".into()
        })?;
        ensure(
            !c.sigmas.is_empty() && c.sigmas.iter().all(|s| s.is_finite() && *s > 0.0),
            || "gan.sigmas must be a non-empty list of positive kernel widths".into(),
        )
    }
}

/// The biased MMD² estimate between feature sets `x` [N, F] and `y` [M, F] under the sum of
/// Gaussian kernels of widths `sigmas`, clipped at 0 (Texygen's `calc_mmd`).
pub fn mmd2(x: &Tensor, y: &Tensor, sigmas: &[f64]) -> Tensor {
    let kernel_mean = |a: &Tensor, b: &Tensor| {
        let sq = |t: &Tensor| {
            t.square()
                .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        };
        // |a - b|² = |a|² + |b|² - 2 a.b, clamped against rounding below 0.
        let d = (sq(a) + sq(b).tr() - a.matmul(&b.tr()) * 2.0).clamp_min(0.0); // [N, M]
        let k = sigmas
            .iter()
            .map(|s| (&d * (-0.5 / s)).exp())
            .reduce(|acc, t| acc + t)
            .expect("at least one width");
        k.mean(Kind::Float)
    };
    (kernel_mean(x, x) + kernel_mean(y, y) - kernel_mean(x, y) * 2.0).clamp_min(0.0)
}

pub struct TextGan {
    adv: AdvConfig,
    cfg: TextganConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

impl TextGan {
    pub fn new(cfg: TextganConfig, p: Parts) -> Self {
        TextGan {
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        }
    }

    /// Features and scores of embedded rows under their condition. The config check admits
    /// a CNN only, and every wrapper (instance noise, labels, sources) passes its features on.
    fn features(&self, emb: &Tensor, cond: &Condition, train: bool) -> (Tensor, Tensor) {
        self.disc
            .model
            .net
            .features_scored_given(emb, cond, train)
            .expect("a CNN discriminator (checked with the config)")
    }

    /// A generated batch of Gumbel-softmax rows under `cond`, carrying gradients into G.
    fn fake_soft(&self, ctx: &Ctx, cond: &Condition) -> Tensor {
        fake_soft(
            ctx,
            (self.adv.batch_size, cond),
            self.cfg.beta,
            &self.shapes,
        )
    }
}

impl Algorithm for TextGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (real, cond) = real_batch_given(ctx, self.adv.batch_size, &self.shapes);
        let fake = self.fake_soft(ctx, &cond);
        self.disc.model.vs.freeze();
        let d = self.disc.model.net.as_ref();
        let (fr, _) = tch::no_grad(|| self.features(&d.embed(&real), &cond, true));
        let (ff, _) = self.features(&d.embed_soft(&fake), &cond, true);
        let loss = mmd2(&fr, &ff, &self.cfg.sigmas);
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        self.disc.model.vs.unfreeze();
        StepStats::g(g_loss)
    }

    /// One update of `loss_GAN - mmd_weight * MMD²` on a real batch against generated rows.
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (real, cond) = real_batch_given(ctx, self.adv.batch_size, &self.shapes);
        let fake = tch::no_grad(|| self.fake_soft(ctx, &cond));
        let (re, fe) = {
            let d = self.disc.model.net.as_ref();
            (d.embed(&real), d.embed_soft(&fake))
        };
        let (fr, r) = self.features(&re, &cond, true);
        let (ff, f) = self.features(&fe, &cond, true);
        let mmd = mmd2(&fr, &ff, &self.cfg.sigmas);
        let mut loss = losses::d_loss(self.adv.loss, &r, &f) - &mmd * self.cfg.mmd_weight;
        if let Some(p) = self.disc.penalties(&re, &fe, &cond) {
            loss += p;
        }
        let (real_acc, fake_acc) = losses::accuracy(self.adv.loss, &r, &f);
        let l = g_update(
            &mut self.disc.opt,
            &loss,
            self.adv.d_grad_clip,
            self.adv.d_lr,
        );
        let mut out = StepStats {
            d_loss: Some(l),
            d_real_acc: Some(real_acc),
            d_fake_acc: Some(fake_acc),
            ..Default::default()
        };
        out.extra.insert("mmd2".into(), mmd.double_value(&[]));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::testing::{ctx, parts, tiny_cnn, tiny_lstm, tiny_setup};
    use rand::SeedableRng;
    use tch::Device;

    /// MMD² by hand: one point each, at 0 and at 1, one width s: k(x,x) = k(y,y) = 1 and
    /// k(x,y) = e^{-1/(2s)}, so MMD² = 2 - 2 e^{-1/(2s)}; with two widths the kernels add.
    /// Identical sets give 0, and sets drawn apart give more than sets drawn alike.
    #[test]
    fn mmd_by_hand() {
        let x = Tensor::from_slice(&[0.0f32]).view([1, 1]);
        let y = Tensor::from_slice(&[1.0f32]).view([1, 1]);
        let got = mmd2(&x, &y, &[2.0]).double_value(&[]);
        assert!((got - (2.0 - 2.0 * (-0.25f64).exp())).abs() < 1e-6, "{got}");
        let got = mmd2(&x, &y, &[2.0, 0.5]).double_value(&[]);
        let want = 4.0 - 2.0 * ((-0.25f64).exp() + (-1.0f64).exp());
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        // Two points against two: mean K_xx = (2 + 2k(0,2)) / 4 with |x1 - x2|² = 4, etc.
        let x = Tensor::from_slice(&[0.0f32, 2.0]).view([2, 1]);
        let y = Tensor::from_slice(&[1.0f32, 1.0]).view([2, 1]);
        let k = |d2: f64| (-d2 / 2.0).exp();
        let want = (2.0 + 2.0 * k(4.0)) / 4.0 + 1.0 - 2.0 * k(1.0);
        let got = mmd2(&x, &y, &[1.0]).double_value(&[]);
        assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        tch::manual_seed(0);
        let a = Tensor::randn([64, 8], (Kind::Float, Device::Cpu));
        assert!(mmd2(&a, &a, &TEXYGEN_SIGMAS).double_value(&[]) < 1e-6);
        let b = Tensor::randn([64, 8], (Kind::Float, Device::Cpu));
        let far = mmd2(&a, &(&b + 3.0), &TEXYGEN_SIGMAS).double_value(&[]);
        let near = mmd2(&a, &b, &TEXYGEN_SIGMAS).double_value(&[]);
        assert!(far > 10.0 * near, "{far} vs {near}");
    }

    /// The characteristic pieces: discriminator steps make its features tell real from
    /// generated text apart (MMD² rises, the paper's sign), and generator steps then move
    /// the generated features toward the real ones (MMD² falls), each measured on the same
    /// real rows and the same Gumbel noise.
    #[test]
    fn the_generator_matches_features_and_the_discriminator_separates_them() {
        tch::manual_seed(4);
        let (_, shapes, gen) = tiny_setup();
        let real: Vec<Vec<i64>> = (0..32).map(|i| vec![3 + i % 2, 4, 5, 2, 0]).collect();
        let adv = AdvConfig {
            batch_size: 32,
            g_lr: 0.05,
            d_lr: 0.05,
            ..AdvConfig::default()
        };
        let (g, d) = (tiny_lstm(), tiny_cnn());
        let cfg = TextganConfig {
            mmd_weight: 1.0,
            beta: 1.0,
            ..TextganConfig::default()
        };
        let mut alg = TextGan::new(cfg, parts((&gen, &g), &d, &adv, shapes));
        let measure = |alg: &TextGan| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
            let mut c = ctx(&gen, &real, &mut rng, 10);
            let (r, cond) = real_batch_given(&mut c, 32, &alg.shapes);
            tch::manual_seed(11);
            tch::no_grad(|| {
                let net = alg.disc.model.net.as_ref();
                let (fr, _) = alg.features(&net.embed(&r), &cond, false);
                let (ff, _) =
                    alg.features(&net.embed_soft(&alg.fake_soft(&c, &cond)), &cond, false);
                mmd2(&fr, &ff, &alg.cfg.sigmas).double_value(&[])
            })
        };
        let before = measure(&alg);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        for _ in 0..5 {
            alg.d_step(&mut ctx(&gen, &real, &mut rng, 10));
        }
        let separated = measure(&alg);
        assert!(separated > before, "D: {before} -> {separated}");
        for _ in 0..10 {
            alg.g_step(&mut ctx(&gen, &real, &mut rng, 10));
        }
        let matched = measure(&alg);
        assert!(matched < separated, "G: {separated} -> {matched}");
    }
}
