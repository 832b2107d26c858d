//! The adversarial phase: discriminator pretraining, then the configured algorithm's steps,
//! evaluated every `gan.eval_every` steps, with warnings about collapse and a discriminator
//! that wins outright.
use super::anticollapse::{self, Tools};
use super::metrics::{AdvWindow, Metrics};
use super::trainer::{Phase, Trainer};
use super::Hooks;
use crate::algorithms::{Algorithm, Ctx};
use crate::checkpoint::{AdvCounts, Phase as PhaseKind};
use crate::Result;
use rand::SeedableRng;
use std::time::Instant;
use tch::Tensor;

pub(crate) struct AdvPhase {
    /// The algorithm, built when the phase begins (or restored from the checkpoint).
    algo: Option<Box<dyn Algorithm>>,
    /// MLE interleaving and the KL anchor, beside the algorithm.
    tools: Option<Tools>,
    window: AdvWindow,
    /// Self-BLEU-4 at the phase's step 0, the yardstick of the collapse warning.
    first_self_bleu: Option<f64>,
}

/// Seeds torch's generator and returns a ChaCha stream for one step of the phase.
pub(crate) fn seed_step(seed: u64, salt: u64) -> rand_chacha::ChaCha8Rng {
    let s = seed.wrapping_mul(0x5851_F42D).wrapping_add(salt);
    tch::manual_seed(s as i64);
    rand_chacha::ChaCha8Rng::seed_from_u64(s)
}

/// The algorithm and the tools as a checkpoint's `tensors` (at `path`) left them.
pub(crate) fn restore(
    t: &Trainer,
    tensors: &std::collections::HashMap<String, Tensor>,
    path: &std::path::Path,
) -> Result<(Box<dyn Algorithm>, Tools)> {
    let algo = t.restore_algorithm(tensors, path)?;
    let mut tools = Tools::new(t);
    tools.load(tensors, path)?;
    Ok((algo, tools))
}

impl AdvPhase {
    pub fn new(restored: Option<(Box<dyn Algorithm>, Tools)>) -> Self {
        let (algo, tools) = restored.unzip();
        AdvPhase {
            algo,
            tools,
            window: AdvWindow::default(),
            first_self_bleu: None,
        }
    }

    fn algo(&mut self) -> &mut dyn Algorithm {
        self.algo
            .as_deref_mut()
            .expect("built when the phase begins")
    }

    /// A context for one step of the algorithm.
    pub(super) fn ctx<'a>(t: &'a Trainer, rng: &'a mut rand_chacha::ChaCha8Rng) -> Ctx<'a> {
        Ctx {
            gen: t.gen.net.as_ref(),
            gen_vars: &t.gen.vs,
            real: &t.data.corpus.train,
            conds: t.data.corpus.train_conds(),
            device: t.device,
            step: t.progress.adv_step,
            total: t.cfg.gan.adv.steps,
            rng,
        }
    }

    /// Builds the algorithm, pretrains the discriminator and records the starting point.
    fn start(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks) -> Result<()> {
        // Between MLE's last checkpoint and the phase's first record (the test suite's kill).
        super::rundir::test_kill("adv-start", t.progress.steps());
        // The discriminator's initial weights (and every other draw the build makes) come from
        // the run's seed and the MLE steps taken, not from torch's state as MLE left it: a
        // process that resumes from MLE's last checkpoint builds the same phase.
        seed_step(t.cfg.train.seed, 1 << 41 | t.progress.step as u64);
        let algo = t.build_algorithm();
        let init = &t.cfg.gan.adv.d_init;
        if !init.is_empty() {
            use crate::models::disc::trunk;
            let trunk = trunk::trunk_of(init, &t.cfg.generator, &t.gen.vs)?;
            let n = trunk::copy_trunk(&algo.sides().0.model.vs, &trunk, init)?;
            t.message(
                hooks,
                &format!("discriminator started from {init}'s trunk ({n} tensors)"),
            );
        }
        // Several processes: rank 0's discriminator and the algorithm's other tensors on every
        // rank. The ranks build them alike, but their random draws may have parted in the MLE
        // phase (each draws dropout masks for its own rows).
        crate::dist::broadcast_named(algo.state_tensors())?;
        let m = format!(
            "adversarial phase: {} for {} steps, discriminator {:?}",
            t.cfg.gan.name(),
            t.plan.adv,
            t.cfg.discriminator
        );
        t.message(hooks, &m);
        self.algo = Some(algo);
        self.tools = Some(Tools::new(t));
        t.progress.phase = PhaseKind::Adv;
        let pre = t.plan.d_pretrain;
        let unit = self.algo().d_unit();
        if pre > 0 {
            t.message(
                hooks,
                &format!("pretraining the discriminator: {pre} {unit}"),
            );
            hooks.on_start(0, pre);
        }
        for i in 0..pre {
            let mut rng = seed_step(t.cfg.train.seed, 1 << 40 | i as u64);
            let s = self.algo().d_step(&mut Self::ctx(t, &mut rng));
            hooks.on_step(i + 1, s.d_loss.unwrap_or(f64::NAN), t.cfg.gan.adv.d_lr);
            if i + 1 == pre {
                let m = format!(
                    "discriminator pretrained for {pre} {unit}; last: {}",
                    s.summary()
                );
                t.message(hooks, &m);
            }
        }
        // The starting point: the generator as MLE left it. When MLE's last evaluation saw
        // these weights (the discriminator's pretraining does not touch them) it is reused.
        let reuse = t
            .last
            .clone()
            .filter(|m| m.phase == PhaseKind::Mle && m.step == t.progress.step);
        match reuse {
            Some(mle) => {
                let m = Metrics {
                    phase: PhaseKind::Adv,
                    adv_step: Some(0),
                    epoch: t.progress.epoch,
                    eval_s: 0.0,
                    train_loss: None,
                    lr: None,
                    tokens_per_s: None,
                    train_s: None,
                    ..mle
                };
                t.dir
                    .log("adversarial step 0: MLE's last evaluation, on the same weights");
                self.observe(t, &m, hooks)?;
                t.record(self, m, hooks)?;
            }
            None => t.evaluate(self, hooks)?,
        }
        Ok(())
    }

    /// The watch on `gan.best_metric` sees evaluation `m` before it is recorded; when the
    /// plateau schedule cuts the rates, the algorithm is rebuilt at them from its own state.
    fn observe(&mut self, t: &mut Trainer, m: &Metrics, hooks: &mut dyn Hooks) -> Result<()> {
        let (verdict, said) = anticollapse::watch(t, m)?;
        for line in said {
            t.message(hooks, &line);
        }
        if verdict.cut {
            if let Some(algo) = self.algo.take() {
                let tensors: std::collections::HashMap<String, Tensor> =
                    algo.state_tensors().into_iter().collect();
                t.progress.algo = Some(algo.counts());
                let path = t.dir.path().join(crate::checkpoint::FILE);
                self.algo = Some(t.restore_algorithm(&tensors, &path)?);
            }
        }
        Ok(())
    }

    /// Mode collapse and a discriminator that wins outright are logged as they appear.
    fn warn(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks, m: &Metrics) {
        let step = t.progress.adv_step;
        if let Some((_, sb)) = m.bleu4() {
            match self.first_self_bleu {
                None => self.first_self_bleu = Some(sb),
                Some(f) if sb > f + 0.1 => {
                    let msg = format!("warning: step {step}: Self-BLEU-4 rose from {f:.3} to {sb:.3}: the generator may be collapsing onto few sentences");
                    t.message(hooks, &msg);
                }
                _ => {}
            }
        }
        let (r, f) = (
            m.adv.d_real_acc.unwrap_or(0.0),
            m.adv.d_fake_acc.unwrap_or(0.0),
        );
        if r > 0.99 && f > 0.99 {
            let msg = format!("warning: step {step}: the discriminator wins outright (real {r:.3}, fake {f:.3}): its signal to the generator may vanish");
            t.message(hooks, &msg);
        }
    }
}

impl Phase for AdvPhase {
    fn total(&self, t: &Trainer) -> usize {
        t.plan.adv
    }

    fn done(&self, t: &Trainer) -> usize {
        t.progress.adv_step
    }

    fn begin(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks) -> Result<()> {
        if t.progress.phase == PhaseKind::Adv && self.algo.is_some() {
            let m = format!(
                "resuming the adversarial phase at step {}",
                t.progress.adv_step
            );
            t.message(hooks, &m);
        } else {
            self.start(t, hooks)?;
        }
        // Collapse is judged against the starting point (step 0, the MLE generator).
        self.first_self_bleu = t
            .dir
            .records()
            .iter()
            .find(|m| m.phase == PhaseKind::Adv)
            .and_then(|m| m.self_bleu.as_ref()?.get(2).copied());
        hooks.on_start(t.progress.adv_step, t.plan.adv);
        Ok(())
    }

    fn step(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks) -> Result<bool> {
        if self.algo.is_none() {
            // A rollback went back to before the phase began.
            self.start(t, hooks)?;
        }
        let t0 = Instant::now();
        let mut rng = seed_step(t.cfg.train.seed, t.progress.adv_step as u64);
        let mut stats = self.algo().step(&mut Self::ctx(t, &mut rng));
        let n = t.progress.adv_step + 1;
        let algo = self.algo.as_deref_mut().expect("built above");
        let tools = self.tools.as_mut().expect("built with the algorithm");
        tools.after_step(t, algo, n, &mut stats);
        self.window.add(&stats, t0.elapsed().as_secs_f64());
        t.progress.adv_step = n;
        hooks.on_step(n, stats.g_loss.unwrap_or(f64::NAN), t.cfg.gan.adv.g_lr);
        Ok(n.is_multiple_of(t.cfg.gan.adv.eval_every.max(1)) || n == t.plan.adv)
    }

    fn close_window(
        &mut self,
        t: &mut Trainer,
        m: &mut Metrics,
        hooks: &mut dyn Hooks,
    ) -> Result<()> {
        if self.window.steps > 0 {
            m.adv = self.window.means();
            m.step_s = Some(self.window.seconds / self.window.steps as f64);
        }
        if let Some(loss) = self.tools.as_mut().and_then(|x| x.last_mle_loss.take()) {
            m.adv.extra.insert("mle_loss".into(), loss);
        }
        self.warn(t, hooks, m);
        self.window = AdvWindow::default();
        self.observe(t, m, hooks)
    }

    fn reload(
        &mut self,
        t: &mut Trainer,
        tensors: &std::collections::HashMap<String, Tensor>,
        path: &std::path::Path,
    ) -> Result<()> {
        self.window = AdvWindow::default();
        if t.progress.phase != PhaseKind::Adv {
            // Back before the phase began: it starts afresh.
            (self.algo, self.tools) = (None, None);
            return Ok(());
        }
        let (algo, tools) = restore(t, tensors, path)?;
        (self.algo, self.tools) = (Some(algo), Some(tools));
        Ok(())
    }

    fn state(&self) -> (Vec<(String, Tensor)>, Option<AdvCounts>) {
        match &self.algo {
            Some(a) => {
                let mut t = a.state_tensors();
                t.extend(self.tools.iter().flat_map(Tools::state));
                (t, Some(a.counts()))
            }
            None => (Vec::new(), None),
        }
    }
}
