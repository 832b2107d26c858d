//! How many steps a run's phases take, and how a call of the run loop ended.
use super::metrics::Metrics;
use crate::config::RunConfig;
use crate::data::Batcher;

/// How many steps each phase takes: `train.max_steps` caps the run as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// MLE optimizer steps (each `train.grad_accum` batches, the last of an epoch fewer).
    pub mle: usize,
    /// Adversarial steps.
    pub adv: usize,
    /// Discriminator pretraining steps before the first adversarial step.
    pub d_pretrain: usize,
}

impl Plan {
    /// The plan of `cfg` on `n_train` training sequences.
    pub fn new(cfg: &RunConfig, n_train: usize) -> Plan {
        let per_epoch = Batcher {
            batch_size: cfg.train.batch_size as usize,
            seed: 0,
        }
        .batches_per_epoch(n_train)
        .div_ceil(cfg.train.grad_accum.max(1));
        let all = per_epoch * cfg.train.epochs;
        let cap = cfg.train.max_steps;
        let gan = cfg.gan.is_set();
        let mle = match (cap, cfg.train.epochs) {
            (0, _) => all,
            // Training by steps: no epochs, no adversarial phase.
            (m, 0) if !gan => m,
            (m, _) => m.min(all),
        };
        let (adv, d_pretrain) = match (gan, cap) {
            (false, _) => (0, 0),
            (true, 0) => (cfg.gan.adv.steps, cfg.gan.adv.d_pretrain_steps),
            (true, m) => (
                cfg.gan.adv.steps.min(m.saturating_sub(mle)),
                cfg.gan.adv.d_pretrain_steps.min(m),
            ),
        };
        Plan {
            mle,
            adv,
            d_pretrain,
        }
    }
}

/// How a call of [`Trainer::run`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Every planned step is done; the last evaluation.
    Finished(Option<Box<Metrics>>),
    /// Stopped by request ([`Hooks::should_stop`]) after a step, with a checkpoint written.
    Stopped { steps: usize },
    /// There was nothing left to do.
    AlreadyComplete,
}
