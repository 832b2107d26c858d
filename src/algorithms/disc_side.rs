//! The discriminator side of every algorithm: the network, its optimizer, its loss (with the
//! WGAN gradient penalty and the R1 penalty), one update and what it saw. With
//! `gan.d_input_noise`, the network reads noisy embeddings whenever it trains.
use super::batches::Shapes;
use super::config::AdvConfig;
use super::losses::{self, GanLoss};
use super::Ctx;
use crate::data::Condition;
use crate::models::disc::DiscriminatorModel;
use crate::optim::{minimize_reported, Adam};
use tch::{Kind, Tensor};

/// R1 (Mescheder et al. 2018) of any per-row score of the embedded input `real` [B, ...]:
/// `E_rows |grad_x score(x)|²`, built twice differentiable so that it trains D. Each row's
/// score must depend on that row alone.
pub fn r1_of(real: &Tensor, score: impl Fn(&Tensor) -> Tensor) -> Tensor {
    let x = real.detach().set_requires_grad(true);
    let s = crate::models::disc::twice_differentiable(|| score(&x)).sum(Kind::Float);
    let grad = Tensor::run_backward(&[s], &[&x], true, true).remove(0);
    grad.square()
        .reshape([x.size()[0], -1])
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .mean(Kind::Float)
}

/// The discriminator, its optimizer and its loss.
pub struct DiscSide {
    pub model: DiscriminatorModel,
    pub opt: Adam,
    pub loss: GanLoss,
    pub gp_weight: f64,
    pub r1_weight: f64,
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
    pub fn new(model: DiscriminatorModel, cfg: &AdvConfig) -> Self {
        let opt = Adam::new(&model.vs, &cfg.d_adam()).named("discriminator");
        let DiscriminatorModel { vs, net } = model;
        let net: Box<dyn crate::models::disc::Discriminator> = match cfg.d_input_noise {
            0.0 => net,
            sigma => Box::new(crate::models::disc::NoisyDiscriminator::new(net, sigma)),
        };
        DiscSide {
            model: DiscriminatorModel { vs, net },
            opt,
            loss: cfg.loss,
            gp_weight: cfg.gp_weight,
            r1_weight: cfg.r1_weight,
            grad_clip: cfg.d_grad_clip,
        }
    }

    /// One update on embedded real and fake inputs ([B, L, E], fake detached by the caller).
    /// The real rows are under `rc`, the fake rows under `fc` (the fakes were drawn under
    /// labels like the real rows').
    ///
    /// Several processes split the rows (when the loss is a mean over rows, and real and
    /// fake have as many): each updates on its slice, its loss weighted by its share of the
    /// rows, so that the averaged gradient is the whole batch's, and the statistics are summed.
    pub fn update(
        &mut self,
        real_emb: &Tensor,
        fake_emb: &Tensor,
        (rc, fc): (&Condition, &Condition),
        lr: f64,
    ) -> DStats {
        let n = real_emb.size()[0];
        let split = (fake_emb.size()[0] == n)
            .then(|| split_rows(self.loss, n))
            .flatten();
        let Some((lo, len, _)) = split else {
            return self.update_rows(real_emb, fake_emb, (rc, fc), lr, 1.0);
        };
        let (rc, fc) = (rc.narrow(lo, len), fc.narrow(lo, len));
        let (real, fake) = (real_emb.narrow(0, lo, len), fake_emb.narrow(0, lo, len));
        self.update_slice(&real, &fake, (&rc, &fc), lr, Some(n))
    }

    /// [`DiscSide::update`] on this process's rows of a batch of `whole` rows that the
    /// processes split ([`split_rows`]); on the whole batch for `None`.
    pub fn update_slice(
        &mut self,
        real: &Tensor,
        fake: &Tensor,
        conds: (&Condition, &Condition),
        lr: f64,
        whole: Option<i64>,
    ) -> DStats {
        let Some(whole) = whole else {
            return self.update_rows(real, fake, conds, lr, 1.0);
        };
        let share = real.size()[0] as f64 / whole as f64;
        let world = crate::dist::rank_and_world().1 as f64;
        let mut s = self.update_rows(real, fake, conds, lr, world * share);
        let [r, f] = crate::dist::sum_all([s.real_acc * share, s.fake_acc * share]);
        (s.real_acc, s.fake_acc) = (r, f);
        s
    }

    /// [`DiscSide::update`] on these rows, the loss scaled by `weight` (the loss returned is
    /// the processes' average, which is the batch's).
    fn update_rows(
        &mut self,
        real_emb: &Tensor,
        fake_emb: &Tensor,
        (rc, fc): (&Condition, &Condition),
        lr: f64,
        weight: f64,
    ) -> DStats {
        let d = self.model.net.as_ref();
        let (r, f) = if real_emb.size()[1..] == fake_emb.size()[1..] {
            // One pass over both: every discriminator scores its rows independently, and one
            // [2B, ...] pass makes fewer, larger matrix products than two.
            let n = real_emb.size()[0];
            let both_cond = match (rc, fc) {
                (Condition::Label(a), Condition::Label(b)) => {
                    Condition::Label(Tensor::cat(&[a, b], 0))
                }
                _ => Condition::None,
            };
            let both =
                d.forward_embedded_given(&Tensor::cat(&[real_emb, fake_emb], 0), &both_cond, true);
            (both.narrow(0, 0, n), both.narrow(0, n, both.size()[0] - n))
        } else {
            (
                d.forward_embedded_given(real_emb, rc, true),
                d.forward_embedded_given(fake_emb, fc, true),
            )
        };
        let mut loss = losses::d_loss(self.loss, &r, &f);
        if let Some(p) = self.penalties(real_emb, fake_emb, rc) {
            loss += p;
        }
        if weight != 1.0 {
            loss *= weight;
        }
        let (grad_norm, loss) = minimize_reported(&mut self.opt, &loss, self.grad_clip, lr);
        let (real_acc, fake_acc) = losses::accuracy(self.loss, &r, &f);
        DStats {
            loss,
            real_acc,
            fake_acc,
            grad_norm,
        }
    }

    /// The gradient penalties the settings ask for, weighted: WGAN-GP's (with the WGAN loss)
    /// and R1's, on embedded real and fake inputs under the real rows' condition.
    pub fn penalties(&self, real: &Tensor, fake: &Tensor, cond: &Condition) -> Option<Tensor> {
        let gp = (self.loss == GanLoss::Wgan && self.gp_weight > 0.0)
            .then(|| self.gradient_penalty(real, fake, cond) * self.gp_weight);
        let r1 =
            (self.r1_weight > 0.0).then(|| self.r1_penalty(real, cond) * (self.r1_weight / 2.0));
        match (gp, r1) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        }
    }

    /// R1 (Mescheder et al. 2018): `E_real |grad_x D(x)|²`, the squared norm of the scores'
    /// gradient with respect to the embedded real input, per row, averaged.
    pub fn r1_penalty(&self, real: &Tensor, cond: &Condition) -> Tensor {
        let net = self.model.net.as_ref();
        r1_of(real, |x| net.forward_embedded_given(x, cond, true))
    }

    /// `r1_weight / 2 * E_real |grad_x s(x)|²` for an algorithm whose discriminator loss is its
    /// own, with `score` the per-row figure that loss reads as "real" (a ranker's log rank, a
    /// classifier's real-against-fake log-odds, the sum of per-token logits); `None` when off.
    pub fn r1_weighted(&self, real: &Tensor, score: impl Fn(&Tensor) -> Tensor) -> Option<Tensor> {
        (self.r1_weight > 0.0).then(|| r1_of(real, score) * (self.r1_weight / 2.0))
    }

    /// (|grad D(x_hat)| - 1)^2 at random interpolates of the embedded real and fake inputs
    /// (under the real rows' condition).
    fn gradient_penalty(&self, real: &Tensor, fake: &Tensor, cond: &Condition) -> Tensor {
        let b = real.size()[0];
        let eps = Tensor::rand([b, 1, 1], (Kind::Float, real.device()));
        let mix: Tensor = &eps * real.detach() + (1.0 - &eps) * fake.detach();
        let x_hat = mix.set_requires_grad(true);
        let net = self.model.net.as_ref();
        let score = crate::models::disc::twice_differentiable(|| {
            net.forward_embedded_given(&x_hat, cond, true)
        })
        .sum(Kind::Float);
        let grad = Tensor::run_backward(&[score], &[&x_hat], true, true).remove(0);
        let norm = grad
            .reshape([b, -1])
            .norm_scalaropt_dim(2.0, [1i64].as_slice(), false);
        (norm - 1.0).square().mean(Kind::Float)
    }

    /// One update on `batch_size` random training lines against as many fresh samples of
    /// the generator, as ids.
    pub fn update_on_fresh(&mut self, ctx: &mut Ctx, shapes: &Shapes, adv: &AdvConfig) -> DStats {
        let (real, fake, cond) = super::batches::real_and_fake(ctx, adv.batch_size, shapes);
        self.update_ids(&real, &fake, (&cond, &cond), adv.d_lr)
    }

    /// Update on real ids [B, L] against fake ids [B, L], under their conditions.
    pub fn update_ids(
        &mut self,
        real: &Tensor,
        fake: &Tensor,
        conds: (&Condition, &Condition),
        lr: f64,
    ) -> DStats {
        let (re, fe) = {
            let d = self.model.net.as_ref();
            (d.embed(real), d.embed(fake).detach())
        };
        self.update(&re, &fe, conds, lr)
    }
}

/// This process's rows (first, count) of a batch of `n` rows and the number of processes, when
/// several split the batch and `loss` is a mean over rows (RaGAN's and WGAN's batch means
/// are not: every process then takes the whole batch).
pub fn split_rows(loss: GanLoss, n: i64) -> Option<(i64, i64, usize)> {
    if matches!(loss, GanLoss::Ragan | GanLoss::Wgan) {
        return None;
    }
    let (lo, hi, world) = crate::dist::my_rows(n as usize)?;
    Some((lo as i64, (hi - lo) as i64, world))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// R1 against the same figure taken row by row with plain first-order gradients; the
    /// penalty's own gradient reaches D's weights (it regularises D), and an update with
    /// `r1_weight` adds weight / 2 times it to the loss.
    #[test]
    fn r1_is_the_mean_squared_input_gradient_of_real_rows() {
        tch::manual_seed(7);
        let dcfg = crate::algorithms::testing::tiny_cnn();
        let model = DiscriminatorModel::new(&dcfg, 9, 6, Device::Cpu);
        let cfg = AdvConfig {
            r1_weight: 4.0,
            ..AdvConfig::default()
        };
        let mut side = DiscSide::new(model, &cfg);
        let real = Tensor::randint(9, [5, 6], (Kind::Int64, Device::Cpu));
        let emb = side.model.net.embed(&real).detach();
        let got = side.r1_penalty(&emb, &Condition::None);
        let mut want = 0.0;
        for i in 0..5 {
            let x = emb.narrow(0, i, 1).copy().set_requires_grad(true);
            let s = side.model.net.forward_embedded(&x, true).sum(Kind::Float);
            let g = Tensor::run_backward(&[s], &[&x], false, false).remove(0);
            want += g.square().sum(Kind::Double).double_value(&[]) / 5.0;
        }
        let g = got.double_value(&[]);
        assert!((g - want).abs() < 1e-5 * want.max(1e-3), "{g} vs {want}");
        side.opt.zero_grad();
        got.backward();
        let reach: f64 = side
            .model
            .vs
            .trainable_variables()
            .iter()
            .filter(|v| v.grad().defined())
            .map(|v| v.grad().abs().sum(Kind::Double).double_value(&[]))
            .sum();
        assert!(reach > 0.0, "the penalty trains D");
        let p = side
            .penalties(&emb, &emb, &Condition::None)
            .unwrap()
            .double_value(&[]);
        assert!((p - 2.0 * g).abs() < 1e-5 * g.max(1e-3), "{p} vs 2 x {g}");
    }

    /// `gan.d_grad_clip` bounds the gradient D's update steps with, and reports the norm before.
    #[test]
    fn discriminator_updates_clip_their_gradient() {
        tch::manual_seed(5);
        let dcfg = crate::algorithms::testing::tiny_cnn();
        let real = Tensor::randint(9, [8, 6], (Kind::Int64, Device::Cpu));
        let fake = Tensor::randint(9, [8, 6], (Kind::Int64, Device::Cpu));
        for clip in [0.0, 1e-3] {
            let cfg = AdvConfig {
                d_grad_clip: clip,
                ..AdvConfig::default()
            };
            let model = DiscriminatorModel::new(&dcfg, 9, 6, Device::Cpu);
            let mut side = DiscSide::new(model, &cfg);
            let stats = side.update_ids(&real, &fake, (&Condition::None, &Condition::None), 1e-3);
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

    /// RankGAN and ScratchGAN, whose D losses are their own, add `r1_weight / 2` times a
    /// positive R1 to them: under the same draws D's first loss grows linearly in the weight
    /// (fails if the penalty is dropped or mis-weighted).
    #[test]
    fn own_loss_algorithms_add_r1_in_proportion_to_its_weight() {
        use crate::algorithms::testing::{built, ctx, gan, tiny_cnn, tiny_setup};
        use crate::models::disc::{DiscriminatorConfig, LstmDiscConfig};
        use rand::SeedableRng;
        let (vocab, _, gen) = tiny_setup();
        let real: Vec<Vec<i64>> = ["a b c", "d e f a", "b b c d e"]
            .iter()
            .map(|l| vocab.encode(l).unwrap())
            .collect();
        // A generator that only ever writes "a": its samples, the fake rows, do not depend
        // on torch's random generator, which tests on other threads share and reseed.
        tch::no_grad(|| {
            let vars = gen.vs.variables();
            let mut bias = vars["out.bias"].shallow_clone();
            let _ = bias.fill_(-1e4);
            let _ = bias.get(vocab.id("a").unwrap()).fill_(1e4);
            let _ = vars["out.weight"].shallow_clone().zero_();
        });
        let lstm = DiscriminatorConfig::Lstm(LstmDiscConfig {
            embed_dim: 4,
            hidden_dim: 4,
            ..Default::default()
        });
        for (algo, dcfg) in [("rankgan", tiny_cnn()), ("scratchgan", lstm)] {
            // Every build starts from the first one's discriminator weights, for the same reason.
            let mut first: Option<std::collections::HashMap<String, Tensor>> = None;
            let mut loss_at = |w: f64| {
                let text =
                    format!("algorithm = \"{algo}\"\nsteps = 2\nbatch_size = 8\nr1_weight = {w}");
                let mut alg = built(&gan(&text), &dcfg, (&vocab, &gen));
                let vars = alg.sides_mut().0.model.vs.variables();
                match &first {
                    Some(f) => tch::no_grad(|| {
                        for (name, v) in &vars {
                            v.shallow_clone().copy_(&f[name]);
                        }
                    }),
                    None => first = Some(vars.iter().map(|(k, v)| (k.clone(), v.copy())).collect()),
                }
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
                alg.d_step(&mut ctx(&gen, &real, &mut rng, 2))
                    .d_loss
                    .unwrap()
            };
            let (l0, l1, l2) = (loss_at(0.0), loss_at(1.0), loss_at(2.0));
            assert!(l1 - l0 > 1e-6, "{algo}: {l0} -> {l1}");
            let (one, two) = (l1 - l0, l2 - l0);
            assert!(
                (two - 2.0 * one).abs() < 1e-3 * one,
                "{algo}: {one} then {two}"
            );
        }
    }
}
