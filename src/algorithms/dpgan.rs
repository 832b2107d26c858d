//! DPGAN, the diversity-promoting GAN (Xu et al., EMNLP 2018), as TextGAN-PyTorch codes it
//! (`DPGAN_{G,D}`, `dpgan_instructor.py`). The discriminator is a language model; a text's
//! word rewards are its tokens' NLL under it, `r_t = -log D(y_t | y_<t)`, and its sentence
//! reward their mean `R`. The generator's texts are the argmax tokens under teacher forcing on
//! a real batch; each token's return is `Q_t = sum_{j >= t} R r_j` (discount 1) and the loss
//! `sum_t -log G(y_t) Q_t` (per text here; the code sums over the batch). Rewards, `R` and the
//! loss count a text's tokens up to its argmax `<eos>`; the code counts every position up to
//! the maximum length. The discriminator
//! minimises `-real_weight mean R(real) + mean R(fake)`: it becomes a language model of the
//! generator's texts and finds real ones surprising, so G is rewarded for texts unlike its
//! usual ones (the paper's "low reward for repeated text, high for novel"). The authors' own
//! code (lancopku/DPGAN) has the same sign: `batcher_discriminator.py` weights generated
//! texts' token NLL by 1 and real texts' by -0.0001, and `discriminator.py` minimises that
//! weighted `sequence_loss`. TextGAN-PyTorch weights both by 1, the default here;
//! `gan.real_weight = 0.0001` is the authors' weighting.
use super::batches::{
    fresh_samples, next_log_probs, real_batch_given, token_log_probs_in, Shapes, Slice,
};
use super::disc_side::DiscSide;
use super::lm_side::LmSide;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::Result;
use crate::models::Generator;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{Kind, Tensor};

pub static SPEC: Spec<DpganConfig> = Spec {
    name: "dpgan",
    about: "rewards from a language-model discriminator's surprise at each word (DPGAN, Xu et al. 2018)",
    build: |c, p| Box::new(DpGan::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// DPGAN's one key (its discriminator has the generator's network): the weight of the real
/// texts' reward in the discriminator's loss, 1 as TextGAN-PyTorch, 0.0001 as the authors' code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DpganConfig {
    pub real_weight: f64,
}

impl Default for DpganConfig {
    fn default() -> Self {
        DpganConfig { real_weight: 1.0 }
    }
}

impl Settings for DpganConfig {
    fn validate(&self) -> Result<()> {
        crate::error::ensure(
            self.real_weight.is_finite() && self.real_weight >= 0.0,
            || "gan.real_weight must be finite and non-negative".into(),
        )
    }
}

pub struct DpGan {
    adv: AdvConfig,
    shapes: Shapes,
    /// Unused: DPGAN's discriminator is the language model `lm`.
    disc: DiscSide,
    g_opt: Adam,
    lm: LmSide,
    real_weight: f64,
}

impl DpGan {
    pub fn new(cfg: DpganConfig, p: Parts) -> Self {
        let lm = LmSide::new(p.generator, &p, "dpgan.lm", "discriminator (LM)");
        DpGan {
            adv: p.adv.clone(),
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            lm,
            real_weight: cfg.real_weight,
        }
    }
}

/// Word rewards [B, T] of texts `rows` under the language model `lm`: each counted token's
/// NLL (0 after `<eos>`), and the sentence rewards [B]: their mean over the counted tokens.
pub fn word_rewards(
    lm: &dyn Generator,
    rows: &Tensor,
    cond: &Condition,
    s: &Shapes,
) -> (Tensor, Tensor) {
    let mask = s.mask(rows);
    let r = -token_log_probs_in(lm, rows, cond, s, true) * &mask;
    let n = mask
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .clamp_min(1.0);
    let sentence = r.sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / n;
    (r, sentence)
}

/// Returns `Q_t = sum_{j >= t} R r_j` of word rewards `r` [B, T] and sentence rewards `big_r` [B].
pub fn returns(r: &Tensor, big_r: &Tensor) -> Tensor {
    let scaled = r * big_r.unsqueeze(1);
    // A reversed cumulative sum: flip, sum, flip back.
    scaled.flip([1]).cumsum(1, Kind::Float).flip([1])
}

impl Algorithm for DpGan {
    super::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let s = &self.shapes;
        let (real, cond) = real_batch_given(ctx, self.adv.batch_size, s);
        let real = real.narrow(1, 0, s.gen_len);
        let b = real.size()[0];
        // Several processes: each takes its slice of the rows (a row's rewards are its own).
        let slice = Slice::of(&real, s);
        let (real, cond) = slice.take(&real, &cond);
        // Teacher forcing on the real rows; the argmax tokens are G's texts.
        let logp = next_log_probs(ctx.gen, &real, &cond, s.bos, true);
        let (best, y) = logp.max_dim(-1, false);
        let y = s.pad_after_eos(&y);
        let mask = s.mask(&y);
        let q = tch::no_grad(|| {
            let (r, big_r) = word_rewards(self.lm.model.net.as_ref(), &y, &cond, s);
            returns(&r, &big_r)
        });
        let loss = (-best * q * mask).sum(Kind::Float) / b as f64 * slice.sum_weight();
        let l = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        StepStats::g(l)
    }

    /// One update of the language model on `gan.batch_size` real and as many fresh texts.
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let s = &self.shapes;
        let n = self.adv.batch_size;
        let (real, real_cond) = real_batch_given(ctx, n, s);
        let real = real.narrow(1, 0, s.gen_len);
        let (fake, fake_cond) = fresh_samples(ctx, n, s);
        let lm = self.lm.model.net.as_ref();
        let (_, r_real) = word_rewards(lm, &real, &real_cond, s);
        let (_, r_fake) = word_rewards(lm, &fake, &fake_cond, s);
        let (mr, mf) = (r_real.mean(Kind::Float), r_fake.mean(Kind::Float));
        let figures = (mr.double_value(&[]), mf.double_value(&[]));
        let loss = -mr * self.real_weight + mf;
        let l = g_update(&mut self.lm.opt, &loss, self.adv.d_grad_clip, self.adv.d_lr);
        let mut out = StepStats {
            d_loss: Some(l),
            ..Default::default()
        };
        out.extra.insert("reward_real".into(), figures.0);
        out.extra.insert("reward_fake".into(), figures.1);
        out
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        self.lm.tensors()
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        self.lm.load(tensors, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Word rewards 1, 2, 3 (then padding) and R = 2: returns 12, 10, 6, 0, by hand.
    #[test]
    fn returns_sum_the_scaled_rewards_ahead() {
        let r = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 0.0]).view([1, 4]);
        let q: Vec<f32> =
            Vec::try_from(returns(&r, &Tensor::from_slice(&[2.0f32])).view([-1])).unwrap();
        assert_eq!(q, [12.0, 10.0, 6.0, 0.0]);
    }

    /// A text's word rewards are its tokens' NLL under the LM, by an independent path (the
    /// MLE loss of the same text, summed), and the sentence reward is their mean.
    #[test]
    fn word_rewards_are_the_lms_token_nll() {
        let (vocab, shapes, gen) = crate::algorithms::testing::tiny_setup();
        let id = |w: &str| vocab.id(w).unwrap();
        let row =
            Tensor::from_slice(&[id("a"), id("b"), vocab.eos.unwrap(), shapes.pad, shapes.pad])
                .view([1, 5]);
        let (r, big_r) = word_rewards(gen.net.as_ref(), &row, &Condition::None, &shapes);
        let batch = crate::data::Batch::new(&[&[id("a"), id("b")]], &vocab, tch::Device::Cpu);
        let mle = crate::models::lm_loss(gen.net.as_ref(), &batch, false).double_value(&[]);
        let sum = r.sum(Kind::Float).double_value(&[]);
        assert!((sum - 3.0 * mle).abs() < 1e-5, "{sum} vs 3 x {mle}");
        assert!((big_r.double_value(&[0]) - mle).abs() < 1e-5);
        assert_eq!(r.double_value(&[0, 3]), 0.0);
    }

    /// The discriminator's loss is `-real_weight mean R(real) + mean R(fake)` of the rewards
    /// it logs, at TextGAN-PyTorch's weight 1 and the authors' 0.0001.
    #[test]
    fn the_discriminator_loss_weights_the_real_rewards() {
        use rand::SeedableRng;
        let (vocab, _, gen) = crate::algorithms::testing::tiny_setup();
        let real: Vec<Vec<i64>> = vec![vocab.encode("a b c").unwrap()];
        for w in [1.0, 1e-4] {
            let text =
                format!("algorithm = \"dpgan\"\nsteps = 1\nbatch_size = 8\nreal_weight = {w}");
            use crate::algorithms::testing::{built, gan, tiny_cnn};
            let mut alg = built(&gan(&text), &tiny_cnn(), (&vocab, &gen));
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            let s = alg.d_step(&mut crate::algorithms::testing::ctx(
                &gen, &real, &mut rng, 2,
            ));
            let want = -w * s.extra["reward_real"] + s.extra["reward_fake"];
            let got = s.d_loss.unwrap();
            assert!(
                (got - want).abs() < 1e-5 * want.abs().max(1.0),
                "{w}: {got} vs {want}"
            );
        }
        let bad = toml::from_str("algorithm = \"dpgan\"\nsteps = 1\nreal_weight = -1").unwrap();
        let err = crate::algorithms::GanConfig::from_table(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gan.real_weight"), "{err}");
    }
}
