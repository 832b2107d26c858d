//! What a run's phases share, and all they may touch: its settings and data (read), the
//! generator with the MLE optimizer and its schedule, the progress (read and written) and the
//! latest evaluation (read). The loop ([`Trainer`](super::Trainer)) owns it, with the run's
//! directory and the guard, and hands it to a phase for each call.
use super::metrics::Metrics;
use super::plan::Plan;
use crate::algorithms::{Algorithm, Ctx, GanConfig};
use crate::checkpoint::Progress;
use crate::config::RunConfig;
use crate::data::{Batch, Corpus};
use crate::error::{Error, Result};
use crate::models::GeneratorModel;
use crate::optim::{Adam, Schedule};
use crate::run::RunData;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::Path;
use tch::{Device, Tensor};

pub(crate) struct RunState {
    pub cfg: RunConfig,
    pub data: RunData,
    pub device: Device,
    pub gen: GeneratorModel,
    /// The MLE optimizer and its schedule.
    pub opt: Adam,
    pub schedule: Schedule,
    pub progress: Progress,
    pub plan: Plan,
    /// The latest evaluation.
    pub last: Option<Metrics>,
}

/// Seeds torch's generator and returns a ChaCha stream for one step of the phase.
pub(crate) fn seed_step(seed: u64, salt: u64) -> rand_chacha::ChaCha8Rng {
    let s = seed.wrapping_mul(0x5851_F42D).wrapping_add(salt);
    tch::manual_seed(s as i64);
    rand_chacha::ChaCha8Rng::seed_from_u64(s)
}

/// Training rows `idx` as one batch, with their condition (labels, sources).
pub(crate) fn train_batch(corpus: &Corpus, idx: &[usize], device: Device) -> Batch {
    let rows: Vec<&[i64]> = idx.iter().map(|&i| corpus.train[i].as_slice()).collect();
    let cond = corpus.train_conds().pick(idx.iter().copied(), device);
    Batch::new(&rows, &corpus.vocab, device).given(cond)
}

impl RunState {
    /// The `[gan]` settings the run trains with: the config's, every learning rate times the
    /// divergence guard's factor and the plateau schedule's.
    pub fn gan(&self) -> GanConfig {
        let mut g = self.cfg.gan.clone();
        let plateau = self.progress.watch.as_ref().map_or(1.0, |w| w.scale);
        g.adv.g_lr *= self.progress.lr_scale * plateau;
        g.adv.d_lr *= self.progress.lr_scale * plateau;
        g
    }

    /// Whether every planned step is done (or the adversarial phase stopped early).
    pub fn is_complete(&self) -> bool {
        let stopped = self.progress.watch.as_ref().is_some_and(|w| w.stopped);
        self.progress.step >= self.plan.mle && (self.progress.adv_step >= self.plan.adv || stopped)
    }

    /// Training rows `idx` as one batch on the run's device.
    pub fn train_batch(&self, idx: &[usize]) -> Batch {
        train_batch(&self.data.corpus, idx, self.device)
    }

    /// A context for one step of an adversarial algorithm.
    pub fn ctx<'a>(&'a self, rng: &'a mut rand_chacha::ChaCha8Rng) -> Ctx<'a> {
        Ctx {
            gen: self.gen.net.as_ref(),
            gen_vars: &self.gen.vs,
            real: &self.data.corpus.train,
            conds: self.data.corpus.train_conds(),
            device: self.device,
            step: self.progress.adv_step,
            total: self.cfg.gan.adv.steps,
            rng,
        }
    }

    /// The configured algorithm around the generator, at the guard's learning rates, its two
    /// optimizers armed with the loss-spike guard.
    pub fn build_algorithm(&self) -> Result<Box<dyn Algorithm>> {
        let vocab = &self.data.corpus.vocab;
        let shape = (self.progress.max_len, self.cfg.cond_spec(vocab));
        let (g, d) = (&self.cfg.generator, &self.cfg.discriminator);
        let built =
            crate::algorithms::build(&self.gan(), g, d, &self.gen.vs, vocab, shape, self.device);
        let mut algo = built.ok_or_else(|| {
            Error::Config("the adversarial phase needs gan.algorithm; this run has none".into())
        })?;
        let (disc, g_opt) = algo.sides_mut();
        disc.opt.spike_factor = self.cfg.train.guard_spike;
        g_opt.spike_factor = self.cfg.train.guard_spike;
        Ok(algo)
    }

    /// The algorithm as the checkpoint at `path` (its `tensors`, this run's progress) left it.
    pub fn restore_algorithm(
        &self,
        tensors: &HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<Box<dyn Algorithm>> {
        if !self.cfg.gan.is_set() {
            return Err(Error::checkpoint(
                path,
                "an adversarial checkpoint without gan.algorithm",
            ));
        }
        let mut algo = self.build_algorithm()?;
        algo.load_state(tensors, self.progress.algo.unwrap_or_default(), path)?;
        Ok(algo)
    }
}
