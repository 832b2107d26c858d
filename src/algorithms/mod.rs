//! Adversarial training algorithms, each written against the [`Generator`] and
//! [`Discriminator`](crate::models::disc::Discriminator) traits only, so any generator meets any
//! discriminator. Each file holds one algorithm's step and nothing else; the loop around it
//! (evaluation, checkpoints, logging) is the shared one in `train`.
pub mod common;
mod gumbel;
pub mod losses;
mod maligan;
mod scratchgan;
mod seqgan;

pub use gumbel::{beta_at, Gumbel};
pub use maligan::MaliGan;
pub use scratchgan::ScratchGan;
pub use seqgan::{rollout_rewards, SeqGan};

use crate::config::{Algorithm as Kind, RunConfig};
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::models::disc::DiscriminatorModel;
use crate::models::{Generator, GeneratorModel};
use common::{DiscSide, Shapes};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{Device, Tensor};

/// What an algorithm step sees of the run.
pub struct Ctx<'a> {
    pub gen: &'a GeneratorModel,
    pub real: &'a [Vec<i64>],
    pub device: Device,
    /// Adversarial step (0-based) and how many there are.
    pub step: usize,
    pub total: usize,
    pub rng: &'a mut rand_chacha::ChaCha8Rng,
}

/// Scalars one step reports (losses, discriminator accuracies, temperature).
pub type Stats = BTreeMap<String, f64>;

pub trait Algorithm {
    /// One adversarial step: generator update(s), then discriminator update(s).
    fn step(&mut self, ctx: &mut Ctx) -> Stats;

    /// One discriminator update on fresh samples (pretraining the discriminator).
    fn d_step(&mut self, ctx: &mut Ctx) -> Stats;

    /// The discriminator and the generator's adversarial optimizer, for checkpoints.
    fn sides(&self) -> (&DiscSide, &crate::optim::Adam);
    fn sides_mut(&mut self) -> (&mut DiscSide, &mut crate::optim::Adam);

    /// Checkpointed tensors of the algorithm's own beyond D and the optimizers (rollout copy, baseline).
    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn load_extra(&mut self, _tensors: &HashMap<String, Tensor>, _path: &Path) -> Result<()> {
        Ok(())
    }

    /// Tensors to checkpoint beside the generator: discriminator, optimizers, extras.
    fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let (disc, g_opt) = self.sides();
        let mut t = crate::checkpoint::named_vars(&disc.model.vs, "disc.");
        t.extend(disc.opt.state_tensors("dopt."));
        t.extend(g_opt.state_tensors("gopt_adv."));
        t.extend(self.extra_tensors());
        t
    }

    /// Scalars to checkpoint (Adam step counts).
    fn state_scalars(&self) -> serde_json::Value {
        let (disc, g_opt) = self.sides();
        serde_json::json!({"d_t": disc.opt.t, "g_t": g_opt.t})
    }

    fn load_state(
        &mut self,
        tensors: &HashMap<String, Tensor>,
        scalars: &serde_json::Value,
        path: &Path,
    ) -> Result<()> {
        let (disc, g_opt) = self.sides_mut();
        crate::checkpoint::restore_vars(&mut disc.model.vs, tensors, "disc.", path)?;
        disc.opt
            .load_state(tensors, "dopt.")
            .map_err(|e| Error::checkpoint(path, e))?;
        g_opt
            .load_state(tensors, "gopt_adv.")
            .map_err(|e| Error::checkpoint(path, e))?;
        disc.opt.t = scalars["d_t"].as_i64().unwrap_or(0);
        g_opt.t = scalars["g_t"].as_i64().unwrap_or(0);
        self.load_extra(tensors, path)
    }
}

/// Builds the configured algorithm for a generator already pretrained (or not) by MLE.
pub fn build(
    cfg: &RunConfig,
    gen: &GeneratorModel,
    vocab: &Vocab,
    max_len: usize,
    device: Device,
) -> Option<Box<dyn Algorithm>> {
    let g = &cfg.gan;
    if g.algorithm == Kind::None {
        return None;
    }
    let dmodel = DiscriminatorModel::new(
        &cfg.discriminator,
        vocab.len() as i64,
        max_len.max(1) as i64 + 32,
        device,
    );
    let shapes = Shapes::new(vocab, max_len, dmodel.net.min_len());
    let disc = DiscSide::new(dmodel, g);
    let g_opt = crate::optim::Adam::new(
        &gen.vs,
        &crate::optim::AdamConfig {
            beta1: g.g_beta1,
            ..Default::default()
        },
    );
    Some(match g.algorithm {
        Kind::Seqgan => Box::new(SeqGan::new(
            g.clone(),
            shapes,
            disc,
            g_opt,
            &cfg.generator,
            gen,
            device,
        )),
        Kind::Maligan => Box::new(MaliGan::new(g.clone(), shapes, disc, g_opt)),
        Kind::Gumbel => Box::new(Gumbel::new(g.clone(), shapes, disc, g_opt)),
        Kind::Scratchgan => Box::new(ScratchGan::new(g.clone(), shapes, disc, g_opt, device)),
        Kind::None => unreachable!(),
    })
}

/// A generator update on `loss` (see [`crate::optim::minimize`]); returns the loss.
pub(crate) fn g_update(opt: &mut crate::optim::Adam, loss: &Tensor, clip: f64, lr: f64) -> f64 {
    crate::optim::minimize(opt, loss, clip, lr);
    loss.double_value(&[])
}

/// One discriminator update on a real and a generated batch of ids (SeqGAN, MaliGAN), or with
/// `gan.d_epochs` set, one round of SeqGAN's epoch schedule ([`ids_d_round`]).
pub(crate) fn ids_d_step(
    disc: &mut DiscSide,
    shapes: &Shapes,
    cfg: &crate::config::GanConfig,
    ctx: &mut Ctx,
) -> Stats {
    if cfg.d_epochs > 0 {
        return ids_d_round(disc, shapes, cfg, ctx);
    }
    let (real, fake) = common::real_and_fake(
        net(ctx.gen),
        ctx.real,
        cfg.batch_size,
        shapes,
        ctx.rng,
        ctx.device,
    );
    let mut out = Stats::new();
    d_stats(&mut out, disc.update_ids(&real, &fake, cfg.d_lr));
    out
}

/// Generated sequences are drawn in pieces of at most this many rows.
const SAMPLE_CHUNK: usize = 4096;

/// SeqGAN's discriminator training (its `train_discriminator`): `d_samples` fresh sequences
/// from G against as many training lines drawn without replacement, then `d_epochs` passes
/// over both in shuffled batches of `batch_size` real and `batch_size` generated rows. (SeqGAN's
/// loader mixes the two files into batches of 64 rows in all; here each update sees both sides
/// equally, the loss the other algorithms use.) Returns the means over the last pass.
pub(crate) fn ids_d_round(
    disc: &mut DiscSide,
    shapes: &Shapes,
    cfg: &crate::config::GanConfig,
    ctx: &mut Ctx,
) -> Stats {
    let n = cfg.d_samples;
    let mut pieces = Vec::new();
    let mut left = n;
    while left > 0 {
        let m = left.min(SAMPLE_CHUNK);
        let ids = common::sample_tensor(net(ctx.gen), m as i64, shapes, ctx.device);
        pieces.push(shapes.to_d_len(&ids));
        left -= m;
    }
    let fake = Tensor::cat(&pieces, 0);
    let picks = common::draw_without_replacement(n, ctx.real.len(), ctx.rng);
    let real = common::real_rows(ctx.real, &picks, shapes, ctx.device);
    let batch = cfg.batch_size as usize;
    let mut sums = Stats::new();
    let mut count = 0.0;
    let device = ctx.device;
    let rows = |ids: &[usize]| {
        let v: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        Tensor::from_slice(&v).to_device(device)
    };
    for epoch in 0..cfg.d_epochs {
        let order_r = common::draw_without_replacement(n, n, ctx.rng);
        let order_f = common::draw_without_replacement(n, n, ctx.rng);
        for (r, f) in order_r.chunks(batch).zip(order_f.chunks(batch)) {
            let s = disc.update_ids(
                &real.index_select(0, &rows(r)),
                &fake.index_select(0, &rows(f)),
                cfg.d_lr,
            );
            if epoch + 1 == cfg.d_epochs {
                let mut one = Stats::new();
                d_stats(&mut one, s);
                for (k, v) in one {
                    *sums.entry(k).or_insert(0.0) += v;
                }
                count += 1.0;
            }
        }
    }
    sums.values_mut().for_each(|v| *v /= count);
    sums
}

pub(crate) fn d_stats(out: &mut Stats, s: common::DStats) {
    out.insert("d_loss".into(), s.loss);
    out.insert("d_real_acc".into(), s.real_acc);
    out.insert("d_fake_acc".into(), s.fake_acc);
    if let Some(n) = s.grad_norm {
        out.insert("d_grad_norm".into(), n);
    }
}

/// Keeps `dyn Generator` in scope for the algorithm files.
pub(crate) fn net(gen: &GeneratorModel) -> &dyn Generator {
    gen.net.as_ref()
}
