//! The adversarial phase: discriminator pretraining, then the configured algorithm's steps,
//! evaluated every `gan.eval_every` steps, with warnings about collapse and a discriminator
//! that wins outright.
use super::anticollapse::{self, Tools};
use super::metrics::{AdvWindow, Metrics};
use super::phase::{Opening, Phase, Report};
use super::state::{seed_step, RunState};
use crate::algorithms::Algorithm;
use crate::checkpoint::{AdvCounts, Phase as PhaseKind};
use crate::Result;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;
use tch::Tensor;

pub(crate) struct AdvPhase {
    algo: Box<dyn Algorithm>,
    /// MLE interleaving and the KL anchor, beside the algorithm.
    tools: Tools,
    /// Restored from a checkpoint rather than built at the phase's start.
    resumed: bool,
    window: AdvWindow,
    /// Self-BLEU-4 at the phase's step 0, the yardstick of the collapse warning.
    first_self_bleu: Option<f64>,
}

impl AdvPhase {
    fn around(algo: Box<dyn Algorithm>, tools: Tools, resumed: bool) -> Self {
        AdvPhase {
            algo,
            tools,
            resumed,
            window: AdvWindow::default(),
            first_self_bleu: None,
        }
    }

    /// The algorithm and the tools as a checkpoint's `tensors` (at `path`) left them.
    pub fn restore(s: &RunState, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<Self> {
        let algo = s.restore_algorithm(tensors, path)?;
        let mut tools = Tools::new(s);
        tools.load(tensors, path)?;
        Ok(AdvPhase::around(algo, tools, true))
    }

    /// The phase as it starts after MLE: builds the algorithm and pretrains the discriminator;
    /// the opening is the starting point's record.
    pub fn start(s: &mut RunState, out: &mut Report) -> Result<(Self, Opening)> {
        // Between MLE's last checkpoint and the phase's first record (the test suite's kill).
        super::rundir::test_kill("adv-start", s.progress.steps());
        // The discriminator's initial weights (and every other draw the build makes) come from
        // the run's seed and the MLE steps taken, not from torch's state as MLE left it: a
        // process that resumes from MLE's last checkpoint builds the same phase.
        seed_step(s.cfg.train.seed, 1 << 41 | s.progress.step as u64);
        let mut algo = s.build_algorithm()?;
        let init = &s.cfg.gan.adv.d_init;
        if !init.is_empty() {
            use crate::models::disc::trunk;
            let trunk = trunk::trunk_of(init, &s.cfg.generator, &s.gen.vs)?;
            let n = trunk::copy_trunk(&algo.sides().0.model.vs, &trunk, init)?;
            out.say(&format!(
                "discriminator started from {init}'s trunk ({n} tensors)"
            ));
        }
        // Several processes: rank 0's discriminator and the algorithm's other tensors on every
        // rank. The ranks build them alike, but their random draws may have parted in the MLE
        // phase (each draws dropout masks for its own rows).
        crate::dist::broadcast_named(algo.state_tensors())?;
        let m = format!(
            "adversarial phase: {} for {} steps, discriminator {:?}",
            s.cfg.gan.name(),
            s.plan.adv,
            s.cfg.discriminator
        );
        out.say(&m);
        let tools = Tools::new(s);
        s.progress.phase = PhaseKind::Adv;
        pretrain_discriminator(s, algo.as_mut(), out);
        crate::dist::check()?;
        // The starting point: the generator as MLE left it. When MLE's last evaluation saw
        // these weights (the discriminator's pretraining does not touch them) it is reused.
        let reuse = s
            .last
            .clone()
            .filter(|m| m.phase == PhaseKind::Mle && m.step == s.progress.step);
        let opening = match reuse {
            Some(mle) => {
                out.dir
                    .log("adversarial step 0: MLE's last evaluation, on the same weights");
                Opening::Record(Box::new(Metrics {
                    phase: PhaseKind::Adv,
                    adv_step: Some(0),
                    epoch: s.progress.epoch,
                    eval_s: 0.0,
                    train_loss: None,
                    lr: None,
                    tokens_per_s: None,
                    train_s: None,
                    ..mle
                }))
            }
            None => Opening::Evaluate,
        };
        Ok((AdvPhase::around(algo, tools, false), opening))
    }

    /// The watch on `gan.best_metric` sees evaluation `m` before it is recorded; when the
    /// plateau schedule cuts the rates, the algorithm is rebuilt at them from its own state.
    fn observe(&mut self, s: &mut RunState, m: &Metrics, out: &mut Report) -> Result<()> {
        let (verdict, said) = anticollapse::watch(s, m)?;
        for line in said {
            out.say(&line);
        }
        if verdict.cut {
            let tensors: HashMap<String, Tensor> = self.algo.state_tensors().into_iter().collect();
            s.progress.algo = Some(self.algo.counts());
            let path = out.dir.path().join(crate::checkpoint::FILE);
            self.algo = s.restore_algorithm(&tensors, &path)?;
        }
        Ok(())
    }

    /// Mode collapse and a discriminator that wins outright are logged as they appear.
    fn warn(&mut self, s: &RunState, out: &mut Report, m: &Metrics) {
        let step = s.progress.adv_step;
        if let Some((_, sb)) = m.bleu4() {
            match self.first_self_bleu {
                None => self.first_self_bleu = Some(sb),
                Some(f) if sb > f + 0.1 => {
                    out.say(&format!("warning: step {step}: Self-BLEU-4 rose from {f:.3} to {sb:.3}: the generator may be collapsing onto few sentences"));
                }
                _ => {}
            }
        }
        let (r, f) = (
            m.adv.d_real_acc.unwrap_or(0.0),
            m.adv.d_fake_acc.unwrap_or(0.0),
        );
        if r > 0.99 && f > 0.99 {
            out.say(&format!("warning: step {step}: the discriminator wins outright (real {r:.3}, fake {f:.3}): its signal to the generator may vanish"));
        }
    }
}

/// `plan.d_pretrain` discriminator steps before the first adversarial step.
fn pretrain_discriminator(s: &RunState, algo: &mut dyn Algorithm, out: &mut Report) {
    let pre = s.plan.d_pretrain;
    let unit = algo.d_unit();
    if pre > 0 {
        out.say(&format!("pretraining the discriminator: {pre} {unit}"));
        out.hooks.on_start(0, pre);
    }
    for i in 0..pre {
        let mut rng = seed_step(s.cfg.train.seed, 1 << 40 | i as u64);
        let st = algo.d_step(&mut s.ctx(&mut rng));
        out.hooks
            .on_step(i + 1, st.d_loss.unwrap_or(f64::NAN), s.cfg.gan.adv.d_lr);
        if i + 1 == pre {
            let m = format!(
                "discriminator pretrained for {pre} {unit}; last: {}",
                st.summary()
            );
            out.say(&m);
        }
    }
}

impl Phase for AdvPhase {
    fn total(&self, s: &RunState) -> usize {
        s.plan.adv
    }

    fn done(&self, s: &RunState) -> usize {
        s.progress.adv_step
    }

    fn begin(&mut self, s: &mut RunState, out: &mut Report) -> Result<()> {
        if self.resumed {
            let m = format!(
                "resuming the adversarial phase at step {}",
                s.progress.adv_step
            );
            out.say(&m);
        }
        // Collapse is judged against the starting point (step 0, the MLE generator).
        self.first_self_bleu = out
            .dir
            .records()
            .iter()
            .find(|m| m.phase == PhaseKind::Adv)
            .and_then(|m| m.self_bleu.as_ref()?.get(2).copied());
        out.hooks.on_start(s.progress.adv_step, s.plan.adv);
        Ok(())
    }

    fn step(&mut self, s: &mut RunState, out: &mut Report) -> Result<bool> {
        let t0 = Instant::now();
        let mut rng = seed_step(s.cfg.train.seed, s.progress.adv_step as u64);
        let mut stats = self.algo.step(&mut s.ctx(&mut rng));
        let n = s.progress.adv_step + 1;
        self.tools.after_step(s, self.algo.as_mut(), n, &mut stats);
        self.window.add(&stats, t0.elapsed().as_secs_f64());
        s.progress.adv_step = n;
        out.hooks
            .on_step(n, stats.g_loss.unwrap_or(f64::NAN), s.cfg.gan.adv.g_lr);
        Ok(n.is_multiple_of(s.cfg.gan.adv.eval_every.max(1)) || n == s.plan.adv)
    }

    fn close_window(&mut self, s: &mut RunState, m: &mut Metrics, out: &mut Report) -> Result<()> {
        if self.window.steps > 0 {
            m.adv = self.window.means();
            m.step_s = Some(self.window.seconds / self.window.steps as f64);
        }
        if let Some(loss) = self.tools.last_mle_loss.take() {
            m.adv.extra.insert("mle_loss".into(), loss);
        }
        self.warn(s, out, m);
        self.window = AdvWindow::default();
        self.observe(s, m, out)
    }

    fn reload(
        &mut self,
        s: &mut RunState,
        (tensors, path): (&HashMap<String, Tensor>, &Path),
        out: &mut Report,
    ) -> Result<Opening> {
        self.window = AdvWindow::default();
        if s.progress.phase != PhaseKind::Adv {
            // Back before the phase began: it starts afresh.
            let (fresh, opening) = AdvPhase::start(s, out)?;
            *self = fresh;
            return Ok(opening);
        }
        let restored = AdvPhase::restore(s, tensors, path)?;
        (self.algo, self.tools) = (restored.algo, restored.tools);
        Ok(Opening::Nothing)
    }

    fn state(&self) -> (Vec<(String, Tensor)>, Option<AdvCounts>) {
        let mut t = self.algo.state_tensors();
        t.extend(self.tools.state());
        (t, Some(self.algo.counts()))
    }
}
