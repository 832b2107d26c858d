//! CatGAN (Liu, Wang & Liang, AAAI 2020), as its authors' code does it (TextGAN-PyTorch's
//! `catgan_instructor.py`; the paper's equations could not be read, REFERENCE-wave2 1.3).
//!
//! - The generator reads the label (a label-conditional generator; the code concatenates a
//!   one-hot label to the embedding of a relational memory) and is trained through the
//!   Gumbel-softmax relaxation, inverse temperature rising as RelGAN's (`beta_max`, `exp`,
//!   the code's horizon of 5000 steps).
//! - The discriminator is RelGAN's binary multi-representation CNN, **not** label-aware: the
//!   category-aware part is the loss, summed over categories, each comparing class i's real
//!   batch with class i's generated batch (per-sample scores are the mean over
//!   representations, `d_out_mean`). D uses RaGAN.
//! - Evolution (`n_parent = 1`): each generator step tries one Adam step per mutation loss
//!   (`ragan`, `rsgan`) from the parent's weights and optimizer state, scores each child by
//!   `F_q + lambda_fd * F_d` on `eval_batches` batches per class (`F_q`: the sum of
//!   sigmoid(D(fake) - mean D(real)); `F_d`: the sum over classes of the child's NLL on its own
//!   samples) and keeps the best. The code's evolution of the temperature (`evo_temp_step`)
//!   is not done: beta follows its schedule.
use super::batches::{one_hot, real_rows, sample_tensor, token_log_probs, Shapes};
use super::disc_side::DiscSide;
use super::gumbel::{beta_at, gumbel_decode, schedule_len, soft_to_d_len, BetaSchedule};
use super::losses::{self, GanLoss};
use super::{any_networks, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::{Condition, Conds};
use crate::error::{ensure, Result};
use crate::models::disc::DiscriminatorModel;
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use tch::{Kind, Tensor};

pub static SPEC: super::Labelled<CatganConfig> = super::Labelled {
    spec: Spec {
        name: "catgan",
        about: "category-aware RaGAN losses with Gumbel-softmax and evolutionary generator updates (Liu et al. 2020)",
        build: |c, p| Box::new(CatGan::new(c, p)),
        check: any_networks,
        settings: PhantomData,
    },
    per_class: false,
};

/// CatGAN's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CatganConfig {
    pub beta_max: f64,
    pub beta_schedule: BetaSchedule,
    /// N of the schedule (the code's 5000; 0: the run's steps).
    pub beta_horizon: usize,
    /// The generator losses tried as mutations each step.
    pub mutations: Vec<GanLoss>,
    /// Weight of the diversity fitness (NLL of the child on its own samples).
    pub lambda_fd: f64,
    /// Batches per class the children are scored on (the code's `eval_b_num`).
    pub eval_batches: i64,
}

impl Default for CatganConfig {
    fn default() -> Self {
        CatganConfig {
            beta_max: 100.0,
            beta_schedule: BetaSchedule::Exp,
            beta_horizon: 5000,
            mutations: vec![GanLoss::Ragan, GanLoss::Rsgan],
            lambda_fd: 0.001,
            eval_batches: 8,
        }
    }
}

impl Settings for CatganConfig {
    fn validate(&self) -> Result<()> {
        ensure(self.beta_max >= 1e-3 && self.beta_max.is_finite(), || {
            "gan.beta_max must be positive and finite".into()
        })?;
        ensure(!self.mutations.is_empty(), || {
            "gan.mutations needs at least one loss".into()
        })?;
        ensure(
            self.mutations.iter().all(|m| {
                matches!(
                    m,
                    GanLoss::Ragan | GanLoss::Rsgan | GanLoss::Nsgan | GanLoss::Standard
                )
            }),
            || "gan.mutations are generator losses: ragan, rsgan, nsgan or standard".into(),
        )?;
        ensure((1..=64).contains(&self.eval_batches), || {
            "gan.eval_batches must be in 1..=64".into()
        })
    }
}

pub struct CatGan {
    adv: AdvConfig,
    cfg: CatganConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
    /// Training rows of each class, found at the first step.
    by_class: Vec<Vec<usize>>,
}

impl CatGan {
    pub fn new(cfg: CatganConfig, p: Parts) -> Self {
        // Its own discriminator: RelGAN's, blind to the label.
        let d_len = p.shapes.d_len.max(1) + 32;
        let model = DiscriminatorModel::new(p.discriminator, p.shapes.vocab_size, d_len, p.device);
        CatGan {
            disc: DiscSide::new(model, p.adv),
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            g_opt: p.g_opt,
            by_class: Vec::new(),
        }
    }

    fn classes(&mut self, ctx: &Ctx) -> usize {
        if self.by_class.is_empty() {
            if let Conds::Labels(l) = ctx.conds {
                let k = l.iter().copied().max().unwrap_or(0) as usize + 1;
                self.by_class = vec![Vec::new(); k];
                for (i, &c) in l.iter().enumerate() {
                    self.by_class[c as usize].push(i);
                }
            }
        }
        self.by_class.len()
    }

    fn beta(&self, ctx: &Ctx) -> f64 {
        let n = schedule_len(self.cfg.beta_horizon, ctx.total);
        beta_at(self.cfg.beta_schedule, self.cfg.beta_max, ctx.step, n)
    }

    /// `n` real rows of class `c` as one-hot rows [n, d_len, V].
    fn real_of(&self, ctx: &mut Ctx, c: usize, n: i64) -> Tensor {
        use rand::Rng;
        let rows = &self.by_class[c];
        let picks: Vec<usize> = (0..n)
            .map(|_| rows[ctx.rng.gen_range(0..rows.len())])
            .collect();
        one_hot(
            &real_rows(ctx.real, &picks, &self.shapes, ctx.device),
            self.shapes.vocab_size,
        )
    }

    fn label(&self, c: usize, n: i64, ctx: &Ctx) -> Condition {
        Condition::Label(Tensor::full([n], c as i64, (Kind::Int64, ctx.device)))
    }

    /// Per-sample scores [n]: the mean over representations.
    fn scores(&self, soft: &Tensor) -> Tensor {
        self.disc
            .model
            .net
            .score_soft(soft, true)
            .mean_dim([1i64].as_slice(), false, Kind::Float)
    }

    /// The category-aware generator loss: summed over classes.
    fn g_loss(&mut self, ctx: &mut Ctx, kind: GanLoss, beta: f64) -> Tensor {
        let n = self.adv.batch_size;
        let mut total = Tensor::zeros([], (Kind::Float, ctx.device));
        for c in 0..self.by_class.len() {
            let real = self.real_of(ctx, c, n);
            let fake = gumbel_decode(
                ctx.gen,
                (n, &self.label(c, n, ctx)),
                beta,
                &self.shapes,
                ctx.device,
            );
            let r = tch::no_grad(|| self.scores(&real));
            let f = self.scores(&soft_to_d_len(&fake, &self.shapes));
            total += losses::g_loss(kind, &r, &f);
        }
        total
    }

    /// `F_q + lambda_fd * F_d` of the current generator.
    fn fitness(&mut self, ctx: &mut Ctx) -> f64 {
        let _g = tch::no_grad_guard();
        let n = self.adv.batch_size * self.cfg.eval_batches;
        let (mut fq, mut fd) = (0.0, 0.0);
        for c in 0..self.by_class.len() {
            let cond = self.label(c, n, ctx);
            let ids = sample_tensor(ctx.gen, n, &cond, &self.shapes, ctx.device);
            let fake = one_hot(&self.shapes.to_d_len(&ids), self.shapes.vocab_size);
            let real = self.real_of(ctx, c, n);
            let (r, f) = (self.scores(&real), self.scores(&fake));
            fq += (f - r.mean(Kind::Float))
                .sigmoid()
                .sum(Kind::Float)
                .double_value(&[]);
            let mask = self.shapes.mask(&ids);
            let logp = token_log_probs(ctx.gen, &ids, &cond, &self.shapes);
            fd += (-(logp * &mask).sum(Kind::Float) / mask.sum(Kind::Float)).double_value(&[]);
        }
        fq + self.cfg.lambda_fd * fd
    }
}

impl Algorithm for CatGan {
    super::algorithm_sides!();

    fn step_figures(&self, ctx: &Ctx) -> StepStats {
        StepStats {
            beta: Some(self.beta(ctx)),
            ..Default::default()
        }
    }

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        assert!(
            self.classes(ctx) > 0,
            "CatGAN runs on labelled data (checked at the start)"
        );
        let beta = self.beta(ctx);
        let parent = self.g_opt.snapshot();
        let mut best: Option<(f64, usize, f64, crate::optim::AdamSnapshot)> = None;
        for (i, &kind) in self.cfg.mutations.clone().iter().enumerate() {
            if i > 0 {
                self.g_opt.restore(&parent);
            }
            self.disc.model.vs.freeze();
            let loss = self.g_loss(ctx, kind, beta);
            let g_loss = super::g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
            self.disc.model.vs.unfreeze();
            let fit = self.fitness(ctx);
            if best.as_ref().is_none_or(|b| fit > b.0) {
                best = Some((fit, i, g_loss, self.g_opt.snapshot()));
            }
        }
        let (fit, which, g_loss, child) = best.expect("at least one mutation");
        self.g_opt.restore(&child);
        let mut out = StepStats::g(g_loss);
        out.extra.insert("fitness".into(), fit);
        out.extra.insert("mutation".into(), which as f64);
        out
    }

    /// RaGAN (the run's `gan.loss`) summed over classes, each class's real against its fakes.
    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        self.classes(ctx);
        let beta = self.beta(ctx);
        let n = self.adv.batch_size;
        let mut loss = Tensor::zeros([], (Kind::Float, ctx.device));
        let (mut ra, mut fa) = (0.0, 0.0);
        let k = self.by_class.len();
        for c in 0..k {
            let real = self.real_of(ctx, c, n);
            let fake = tch::no_grad(|| {
                let soft = gumbel_decode(
                    ctx.gen,
                    (n, &self.label(c, n, ctx)),
                    beta,
                    &self.shapes,
                    ctx.device,
                );
                soft_to_d_len(&soft, &self.shapes)
            });
            let (r, f) = (self.scores(&real), self.scores(&fake));
            loss += losses::d_loss(self.adv.loss, &r, &f);
            // R1 on the class's real rows, on the score the loss reads.
            let d = self.disc.model.net.as_ref();
            let score = |x: &Tensor| {
                d.forward_embedded(x, true)
                    .mean_dim([1i64].as_slice(), false, Kind::Float)
            };
            if let Some(p) = self.disc.r1_weighted(&d.embed_soft(&real), score) {
                loss += p;
            }
            let (a, b) = losses::accuracy(self.adv.loss, &r, &f);
            (ra, fa) = (ra + a / k as f64, fa + b / k as f64);
        }
        crate::optim::minimize(
            &mut self.disc.opt,
            &loss,
            self.adv.d_grad_clip,
            self.adv.d_lr,
        );
        StepStats {
            d_loss: Some(loss.double_value(&[])),
            d_real_acc: Some(ra),
            d_fake_acc: Some(fa),
            ..Default::default()
        }
    }
}
