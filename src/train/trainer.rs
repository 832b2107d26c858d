//! A run: the [`Trainer`] owns its [`RunState`], its directory and the divergence guard, and
//! drives its phases ([`MlePhase`], then [`AdvPhase`]) through one loop that alone steps,
//! evaluates on the phase's cadence, records, checkpoints, rolls back and stops cleanly when
//! asked.
use super::adversarial::AdvPhase;
use super::evaluate::{EvalSettings, Evaluator};
use super::guard::{Guard, Verdict};
use super::metrics::Metrics;
use super::mle::MlePhase;
use super::phase::{Opening, Phase, Report};
use super::plan::Outcome;
use super::rundir::RunDir;
use super::state::RunState;
use super::Hooks;
use crate::checkpoint::{self, Phase as PhaseKind};
use crate::config::{Override, RunConfig};
use crate::device;
use crate::error::Result;
use crate::models::GeneratorModel;
use std::path::{Path, PathBuf};

pub struct Trainer {
    state: RunState,
    dir: RunDir,
    evaluator: Evaluator,
    guard: Guard,
    /// How the adversarial phase opens: built when MLE is done, or as the checkpoint left it.
    adv: AdvStart,
}

enum AdvStart {
    Fresh,
    Resumed(Box<AdvPhase>),
}

impl Trainer {
    /// Starts a new run in `dir`. Everything is checked before the directory is touched.
    pub fn create(dir: &Path, cfg: RunConfig) -> Result<Self> {
        Self::create_from(dir, cfg, None)
    }

    /// Starts a new run whose generator starts from the weights of another run's checkpoint
    /// (same data and generator settings) and skips MLE pretraining: several adversarial
    /// algorithms can then start from one pretrained generator, as in the papers.
    pub fn create_from(dir: &Path, cfg: RunConfig, init_from: Option<&Path>) -> Result<Self> {
        let (state, dir) = super::setup::open_new(dir, cfg, init_from)?;
        Ok(Trainer::assemble(state, dir, AdvStart::Fresh))
    }

    /// Reopens the run in `dir` where its checkpoint left it. `overrides` may change training
    /// settings (`train.*`, e.g. more steps; `gan.steps`); the data and the networks must stay.
    pub fn resume(dir: &Path, overrides: &[Override]) -> Result<Self> {
        let (state, run, ck) = super::setup::reopen(dir, overrides)?;
        let dropped = run.truncate_past(&state.progress)?;
        run.write_config(&state.cfg)?;
        let adv = match state.progress.phase {
            PhaseKind::Adv => {
                let path = dir.join(checkpoint::FILE);
                AdvStart::Resumed(Box::new(AdvPhase::restore(&state, &ck.tensors, &path)?))
            }
            PhaseKind::Mle => AdvStart::Fresh,
        };
        let mut t = Trainer::assemble(state, run, adv);
        if dropped > 0 {
            t.dir.log(&format!(
                "dropped {dropped} metrics records written after the checkpoint (the run was killed between the two)"
            ));
        }
        Ok(t)
    }

    /// The trainer around its parts; the last evaluation is the directory's.
    fn assemble(mut state: RunState, dir: RunDir, adv: AdvStart) -> Trainer {
        state.last = dir.last_metrics();
        Trainer {
            state,
            dir,
            evaluator: Evaluator::default(),
            guard: Guard::default(),
            adv,
        }
    }

    /// The run's directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The run's settings, as resolved.
    pub fn config(&self) -> &RunConfig {
        &self.state.cfg
    }

    /// The generator as trained so far.
    pub fn generator(&self) -> &GeneratorModel {
        &self.state.gen
    }

    /// A message to the user, also written to `train.log`.
    fn message(&mut self, hooks: &mut dyn Hooks, msg: &str) {
        let dir = &mut self.dir;
        Report { dir, hooks }.say(msg);
    }

    /// Whether every planned step is done (or the adversarial phase stopped early).
    pub fn is_complete(&self) -> bool {
        self.state.is_complete()
    }

    /// Trains the whole run: MLE, then the adversarial phase if one is configured.
    pub fn run(&mut self, hooks: &mut dyn Hooks) -> Result<Outcome> {
        if self.is_complete() {
            let m = super::anticollapse::complete_message(&self.state);
            self.message(hooks, &m);
            return Ok(Outcome::AlreadyComplete);
        }
        self.describe(hooks);
        let mut mle = MlePhase::default();
        if !self.dir.path().join(checkpoint::FILE).exists() {
            // The divergence guard's first place to roll back to.
            self.save(&mle)?;
        }
        if let Some(stop) = self.run_phase(&mut mle, hooks)? {
            return Ok(stop);
        }
        if self.state.plan.adv > self.state.progress.adv_step {
            let mut adv = match std::mem::replace(&mut self.adv, AdvStart::Fresh) {
                AdvStart::Resumed(adv) => adv,
                AdvStart::Fresh => {
                    let out = &mut Report {
                        dir: &mut self.dir,
                        hooks,
                    };
                    let (adv, opening) = AdvPhase::start(&mut self.state, out)?;
                    let mut adv = Box::new(adv);
                    self.open(adv.as_mut(), opening, hooks)?;
                    adv
                }
            };
            if let Some(stop) = self.run_phase(adv.as_mut(), hooks)? {
                return Ok(stop);
            }
        }
        Ok(Outcome::Finished(self.state.last.clone().map(Box::new)))
    }

    /// The data and the model, in the log.
    fn describe(&mut self, hooks: &mut dyn Hooks) {
        let c = &self.state.data.corpus;
        let summary = format!(
            "data: {} train / {} test sequences, vocabulary {}, max length {}; train lines truncated {}, skipped {}; test truncated {}, skipped {}",
            c.train.len(), c.test.len(), c.vocab.len(), c.max_len,
            c.train_stats.truncated, c.train_stats.skipped, c.test_stats.truncated, c.test_stats.skipped
        );
        let mut lines = vec![summary];
        if let Some(s) = &c.sources {
            let v = c.vocab.source.as_ref().map_or(c.vocab.len(), |v| v.len());
            lines.push(format!(
                "sources: vocabulary {v}{}; {} cut to data.max_source_len; pairs with an empty side are among the skipped",
                if c.vocab.source.is_none() { " (shared)" } else { "" },
                s.truncated
            ));
        }
        if c.is_labelled() {
            lines.push(format!("labels: {}", c.vocab.labels.join(", ")));
        }
        for l in lines {
            self.message(hooks, &l);
        }
        let model_line = format!(
            "model: {:?}, {}, on {}",
            self.state.cfg.generator,
            self.state.gen.parameter_summary(),
            device::describe(self.state.device)
        );
        self.message(hooks, &model_line);
        let warnings = self.state.data.grammar.as_ref().map(|g| g.warnings.clone());
        for w in warnings.unwrap_or_default() {
            self.message(hooks, &format!("warning: grammar: {w}"));
        }
    }

    /// Steps `phase` to its end, evaluating on its cadence; `Some` when stopped early.
    fn run_phase(
        &mut self,
        phase: &mut dyn Phase,
        hooks: &mut dyn Hooks,
    ) -> Result<Option<Outcome>> {
        if phase.done(&self.state) >= phase.total(&self.state) {
            phase.finish(&mut self.state); // done before a resume: it ends as a run to its end does
            return Ok(None);
        }
        phase.begin(
            &mut self.state,
            &mut Report {
                dir: &mut self.dir,
                hooks,
            },
        )?;
        let mut last_eval = None;
        while phase.done(&self.state) < phase.total(&self.state) && !self.is_complete() {
            super::guard::test_poison(self.state.progress.steps());
            let out = &mut Report {
                dir: &mut self.dir,
                hooks,
            };
            let due = phase.step(&mut self.state, out)?;
            // Several processes: a failed collective ends the run here, before the guard,
            // an evaluation or a checkpoint could keep what this process computed alone.
            crate::dist::check()?;
            if self.guard_step(phase, hooks)? {
                last_eval = None;
                continue;
            }
            if due {
                self.evaluate(phase, hooks, None)?;
                last_eval = Some(phase.done(&self.state));
            }
            super::guard::test_signal(self.state.progress.steps());
            let stop = hooks.should_stop();
            crate::dist::check()?;
            if stop && phase.done(&self.state) < phase.total(&self.state) {
                self.save(phase)?;
                let p = &self.state.progress;
                let (steps, m) = (
                    p.steps(),
                    format!(
                    "stopped by request after {} MLE and {} adversarial steps; checkpoint written",
                    p.step, p.adv_step
                ),
                );
                self.message(hooks, &m);
                return Ok(Some(Outcome::Stopped { steps }));
            }
        }
        phase.finish(&mut self.state);
        if last_eval != Some(phase.done(&self.state)) {
            self.evaluate(phase, hooks, None)?;
        }
        Ok(None)
    }

    /// Records a phase's starting point, as it asks.
    fn open(
        &mut self,
        phase: &mut dyn Phase,
        opening: Opening,
        hooks: &mut dyn Hooks,
    ) -> Result<()> {
        match opening {
            Opening::Nothing => Ok(()),
            Opening::Evaluate => self.evaluate(phase, hooks, None),
            Opening::Record(m) => self.evaluate(phase, hooks, Some(*m)),
        }
    }

    /// After a step: the guard's verdict (a warning, a rollback or the end of the run);
    /// returns whether it rolled back.
    fn guard_step(&mut self, phase: &mut dyn Phase, hooks: &mut dyn Hooks) -> Result<bool> {
        match self
            .guard
            .after_step(&mut self.state.progress, &self.state.cfg.train)
        {
            Verdict::Clean => Ok(false),
            Verdict::Skipped(m) => {
                self.message(hooks, &m);
                Ok(false)
            }
            Verdict::Diverged(m, e) => {
                self.message(hooks, &m);
                Err(e)
            }
            Verdict::RollBack(m) => {
                self.message(hooks, &m);
                self.roll_back(phase, hooks)?;
                Ok(true)
            }
        }
    }

    /// Back to the last checkpoint, every learning rate lowered.
    fn roll_back(&mut self, phase: &mut dyn Phase, hooks: &mut dyn Hooks) -> Result<()> {
        let path = self.dir.path().join(checkpoint::FILE);
        let ck = checkpoint::load(&path)?;
        let s = &mut self.state;
        let (rollbacks, skipped) = (s.progress.rollbacks + 1, s.progress.skipped_steps);
        let scale = s.progress.lr_scale * s.cfg.train.guard_lr_factor;
        ck.restore_mle(&path, (&mut s.gen, &mut s.opt, &mut s.schedule))?;
        s.progress = ck.progress.clone();
        s.progress.rollbacks = rollbacks;
        s.progress.skipped_steps = skipped;
        s.progress.lr_scale = scale;
        let m = format!(
            "rolled back to the checkpoint of step {} ({} MLE, {} adversarial); learning rates now x{scale} (rollback {rollbacks} of at most {})",
            s.progress.steps(),
            s.progress.step,
            s.progress.adv_step,
            s.cfg.train.guard_rollbacks
        );
        self.message(hooks, &m);
        let out = &mut Report {
            dir: &mut self.dir,
            hooks,
        };
        let opening = phase.reload(&mut self.state, (&ck.tensors, &path), out)?;
        self.open(phase, opening, hooks)
    }

    /// Evaluates (or takes `reused`, an evaluation of the same weights), gathers the phase's
    /// figures and records them (metrics, then checkpoint).
    fn evaluate(
        &mut self,
        phase: &mut dyn Phase,
        hooks: &mut dyn Hooks,
        reused: Option<Metrics>,
    ) -> Result<()> {
        let s = &mut self.state;
        let mut m = match reused {
            Some(m) => m,
            None => {
                // Several processes: each evaluation first checks that the ranks hold the same
                // weights.
                let mut named = crate::models::vars::named_vars(&s.gen.vs, "gen.");
                named.extend(phase.state().0);
                crate::dist::check_in_sync(named, "weights")?;
                let settings = EvalSettings {
                    seed: s.cfg.train.seed,
                    samples: s.cfg.train.eval_samples,
                    oracle_samples: s.cfg.train.oracle_eval_samples,
                    test_sequences: s.cfg.train.eval_test_sequences,
                };
                let gen = s.gen.net.as_ref();
                self.evaluator.evaluate(
                    gen,
                    &s.data,
                    &s.progress,
                    &settings,
                    &self.dir,
                    s.device,
                )?
            }
        };
        crate::dist::check()?;
        phase.close_window(
            s,
            &mut m,
            &mut Report {
                dir: &mut self.dir,
                hooks,
            },
        )?;
        if self.guard.window > 0 {
            m.skipped_steps = Some(std::mem::take(&mut self.guard.window));
        }
        m.rollbacks = (s.progress.rollbacks > 0).then_some(s.progress.rollbacks);
        self.record(phase, m, hooks)
    }

    /// Appends `m` to the metrics (and plots), then writes the checkpoint: the records never
    /// run ahead of a checkpoint that a resumed run would not truncate them to.
    fn record(&mut self, phase: &dyn Phase, m: Metrics, hooks: &mut dyn Hooks) -> Result<()> {
        self.dir.append_metrics(&m, self.state.progress.steps())?;
        self.save(phase)?;
        super::anticollapse::keep_best(&self.state, &self.dir)?;
        hooks.on_eval(&m);
        self.state.last = Some(m);
        Ok(())
    }

    /// Writes the checkpoint: weights, optimizers, config, vocabulary, progress.
    fn save(&mut self, phase: &dyn Phase) -> Result<()> {
        let s = &mut self.state;
        s.progress.adam_t = s.opt.t;
        s.progress.schedule = Some(s.schedule.clone());
        let mut tensors = checkpoint::named_vars(&s.gen.vs, "model.");
        tensors.extend(s.opt.state_tensors("optim."));
        let (own, counts) = phase.state();
        tensors.extend(own);
        if counts.is_some() {
            s.progress.algo = counts;
        }
        self.dir
            .save_checkpoint(&s.cfg, &s.data.corpus.vocab, &s.progress, &tensors)
    }
}
