//! A run: the [`Trainer`] holds its state (directory, config, data, generator, MLE optimizer,
//! progress) and drives its phases ([`MlePhase`](super::mle::MlePhase), then
//! [`AdvPhase`](super::adversarial::AdvPhase)) through one loop that steps, evaluates on the
//! phase's cadence, checkpoints and stops cleanly when asked.
use super::adversarial::AdvPhase;
use super::evaluate::{EvalSettings, Evaluator};
use super::metrics::Metrics;
use super::mle::MlePhase;
use super::plan::{Outcome, Plan};
use super::rundir::RunDir;
use super::setup::{absolutize, prepare};
use super::Hooks;
use crate::algorithms::Algorithm;
use crate::checkpoint::{self, AdvCounts, Phase as PhaseKind, Progress};
use crate::config::{Override, RunConfig};
use crate::device;
use crate::error::{Error, Result};
use crate::models::GeneratorModel;
use crate::optim::{Adam, Schedule};
use crate::run::RunData;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// A phase of a run, driven by [`Trainer::run`].
pub(crate) trait Phase {
    /// Steps the phase takes in all, and those done.
    fn total(&self, t: &Trainer) -> usize;
    fn done(&self, t: &Trainer) -> usize;
    /// Before the first step of this call: set-up, messages, evaluations of the start.
    fn begin(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks) -> Result<()>;
    /// One step; returns whether an evaluation is due after it.
    fn step(&mut self, t: &mut Trainer, hooks: &mut dyn Hooks) -> Result<bool>;
    /// After the last step, before the closing evaluation (if one is still due).
    fn finish(&mut self, _t: &mut Trainer) {}
    /// Moves the figures gathered since the last evaluation into `m`, and starts afresh.
    fn close_window(
        &mut self,
        t: &mut Trainer,
        m: &mut Metrics,
        hooks: &mut dyn Hooks,
    ) -> Result<()>;
    /// After a rollback to the checkpoint whose tensors are `tensors`: the phase's own state
    /// from it (the algorithm's), and a fresh window.
    fn reload(
        &mut self,
        t: &mut Trainer,
        tensors: &HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<()>;
    /// The phase's own tensors and counts for the checkpoint (the algorithm's).
    fn state(&self) -> (Vec<(String, Tensor)>, Option<AdvCounts>) {
        (Vec::new(), None)
    }
}

pub struct Trainer {
    pub dir: RunDir,
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
    evaluator: Evaluator,
    pub(crate) guard: super::guard::Guard,
    /// An adversarial algorithm and its tools restored from the checkpoint, for [`AdvPhase`]
    /// to take.
    pub(crate) restored: Option<(Box<dyn Algorithm>, super::anticollapse::Tools)>,
}

impl Trainer {
    /// Starts a new run in `dir`. Everything is checked before the directory is touched.
    pub fn create(dir: &Path, cfg: RunConfig) -> Result<Self> {
        Self::create_from(dir, cfg, None)
    }

    /// Starts a new run whose generator starts from the weights of another run's checkpoint
    /// (same data and generator settings) and skips MLE pretraining: several adversarial
    /// algorithms can then start from one pretrained generator, as in the papers.
    pub fn create_from(dir: &Path, mut cfg: RunConfig, init_from: Option<&Path>) -> Result<Self> {
        RunDir::check_new(dir)?;
        if init_from.is_some() {
            // MLE is skipped: the run's own steps are all adversarial.
            cfg.train.epochs = 0;
        }
        cfg.validate()?;
        absolutize(&mut cfg)?;
        let (device, data) = prepare(&cfg)?;
        let corpus = &data.corpus;
        tch::manual_seed(cfg.train.seed as i64);
        super::setup::check_unconditional(&cfg, &corpus.vocab)?;
        let mut gen = GeneratorModel::conditional(
            &cfg.generator,
            corpus.vocab.len() as i64,
            corpus.max_len as i64,
            cfg.cond_spec(&corpus.vocab),
            device,
        );
        let mut opt = Adam::new(&gen.vs, &cfg.train.adam()).named("generator (MLE)");
        opt.spike_factor = cfg.train.guard_spike;
        let plan = Plan::new(&cfg, corpus.train.len());
        let schedule = Schedule::new(&cfg.train.schedule(), plan.mle);
        let mut progress = Progress {
            max_len: corpus.max_len,
            ..Default::default()
        };
        if let Some(hf) = &cfg.train.init_from_hf {
            super::setup::load_hf(hf, &mut gen, corpus.vocab.len())?;
        }
        if let Some(src) = init_from {
            let path = checkpoint::locate(src);
            let ck = checkpoint::load(&path)?;
            if ck.vocab != corpus.vocab || ck.config.generator != cfg.generator {
                return Err(Error::checkpoint(
                    &path,
                    "a generator to start from needs a run with the same data and generator settings",
                ));
            }
            checkpoint::restore_vars(&mut gen.vs, &ck.tensors, "model.", &path)?;
        }
        let run = RunDir::create(dir, &cfg, &corpus.vocab)?;
        progress.run_id = Some(run.id.clone());
        Ok(Trainer::assemble(
            run,
            cfg,
            data,
            plan,
            (gen, opt, schedule),
            progress,
        ))
    }

    /// The trainer around its parts; the device is the generator's, the last evaluation the
    /// directory's.
    fn assemble(
        dir: RunDir,
        cfg: RunConfig,
        data: RunData,
        plan: Plan,
        (gen, opt, schedule): (GeneratorModel, Adam, Schedule),
        progress: Progress,
    ) -> Trainer {
        Trainer {
            last: dir.last_metrics(),
            plan,
            device: gen.device(),
            dir,
            cfg,
            data,
            gen,
            opt,
            schedule,
            progress,
            evaluator: Evaluator::default(),
            guard: Default::default(),
            restored: None,
        }
    }

    /// Reopens the run in `dir` where its checkpoint left it. `overrides` may change training
    /// settings (`train.*`, e.g. more steps; `gan.steps`); the data and the networks must stay.
    pub fn resume(dir: &Path, overrides: &[Override]) -> Result<Self> {
        let path = dir.join(checkpoint::FILE);
        let ck = checkpoint::load(&path)?;
        let mut cfg = RunConfig::resolve(ck.config.to_table(), overrides)?;
        if cfg.data != ck.config.data
            || cfg.generator != ck.config.generator
            || cfg.discriminator != ck.config.discriminator
            || cfg.gan.algorithm != ck.config.gan.algorithm
        {
            return Err(Error::Config(
                "a resumed run keeps its [data], [generator], [discriminator] and gan.algorithm; only training settings may change"
                    .into(),
            ));
        }
        let mut progress = ck.progress.clone();
        super::setup::own_tokenizer(&mut cfg, dir);
        let (device, data) = prepare(&cfg)?;
        if data.corpus.vocab != ck.vocab {
            return Err(Error::Data(
                "the training data changed since the run started (its vocabulary differs)".into(),
            ));
        }
        let mut gen = GeneratorModel::conditional(
            &cfg.generator,
            ck.vocab.len() as i64,
            progress.max_len as i64,
            cfg.cond_spec(&ck.vocab),
            device,
        );
        let mut opt = Adam::new(&gen.vs, &cfg.train.adam()).named("generator (MLE)");
        opt.spike_factor = cfg.train.guard_spike;
        let plan = Plan::new(&cfg, data.corpus.train.len());
        let mut schedule = Schedule::new(&cfg.train.schedule(), plan.mle);
        ck.restore_mle(&path, (&mut gen, &mut opt, &mut schedule))?;
        let run = RunDir::reopen(dir, &mut progress)?;
        let dropped = run.truncate_past(&progress)?;
        run.write_config(&cfg)?;
        let mut t = Trainer::assemble(run, cfg, data, plan, (gen, opt, schedule), progress);
        if t.progress.phase == PhaseKind::Adv {
            t.restored = Some(super::adversarial::restore(&t, &ck.tensors, &path)?);
        }
        if dropped > 0 {
            t.dir.log(&format!(
                "dropped {dropped} metrics records written after the checkpoint (the run was killed between the two)"
            ));
        }
        Ok(t)
    }

    /// The `[gan]` settings the run trains with: the config's, every learning rate times the
    /// divergence guard's factor and the plateau schedule's.
    pub fn gan(&self) -> crate::algorithms::GanConfig {
        let mut g = self.cfg.gan.clone();
        let plateau = self.progress.watch.as_ref().map_or(1.0, |w| w.scale);
        g.adv.g_lr *= self.progress.lr_scale * plateau;
        g.adv.d_lr *= self.progress.lr_scale * plateau;
        g
    }

    /// The configured algorithm around the generator, at the guard's learning rates, its two
    /// optimizers armed with the loss-spike guard.
    pub(crate) fn build_algorithm(&self) -> Box<dyn Algorithm> {
        let mut algo = crate::algorithms::build(
            &self.gan(),
            &self.cfg.generator,
            &self.cfg.discriminator,
            &self.gen.vs,
            &self.data.corpus.vocab,
            (
                self.progress.max_len,
                self.cfg.cond_spec(&self.data.corpus.vocab),
            ),
            self.device,
        )
        .expect("the adversarial phase runs only with an algorithm");
        let (disc, g_opt) = algo.sides_mut();
        disc.opt.spike_factor = self.cfg.train.guard_spike;
        g_opt.spike_factor = self.cfg.train.guard_spike;
        algo
    }

    /// The algorithm as the checkpoint at `path` (its `tensors`, this run's progress) left it.
    pub(crate) fn restore_algorithm(
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
        let mut algo = self.build_algorithm();
        algo.load_state(tensors, self.progress.algo.unwrap_or_default(), path)?;
        Ok(algo)
    }

    /// The run's directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// A message to the user, also written to `train.log`.
    pub fn message(&mut self, hooks: &mut dyn Hooks, msg: &str) {
        self.dir.log(msg);
        hooks.on_message(msg);
    }

    /// Whether every planned step is done (or the adversarial phase stopped early).
    pub fn is_complete(&self) -> bool {
        let stopped = self.progress.watch.as_ref().is_some_and(|w| w.stopped);
        self.progress.step >= self.plan.mle && (self.progress.adv_step >= self.plan.adv || stopped)
    }

    /// Trains the whole run: MLE, then the adversarial phase if one is configured.
    pub fn run(&mut self, hooks: &mut dyn Hooks) -> Result<Outcome> {
        if self.is_complete() {
            let m = super::anticollapse::complete_message(self);
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
        if self.plan.adv > self.progress.adv_step {
            let mut adv = AdvPhase::new(self.restored.take());
            if let Some(stop) = self.run_phase(&mut adv, hooks)? {
                return Ok(stop);
            }
        }
        Ok(Outcome::Finished(self.last.clone().map(Box::new)))
    }

    /// The data and the model, in the log.
    fn describe(&mut self, hooks: &mut dyn Hooks) {
        let c = &self.data.corpus;
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
            self.cfg.generator,
            self.gen.parameter_summary(),
            device::describe(self.device)
        );
        self.message(hooks, &model_line);
        let warnings = self.data.grammar.as_ref().map(|g| g.warnings.clone());
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
        if phase.done(self) >= phase.total(self) {
            phase.finish(self); // done before a resume: it ends as a run to its end does
            return Ok(None);
        }
        phase.begin(self, hooks)?;
        let mut last_eval = None;
        while phase.done(self) < phase.total(self) && !self.is_complete() {
            super::guard::test_poison(self.progress.steps());
            let due = phase.step(self, hooks)?;
            if self.guard_step(phase, hooks)? {
                last_eval = None;
                continue;
            }
            if due {
                self.evaluate(phase, hooks)?;
                last_eval = Some(phase.done(self));
            }
            super::guard::test_signal(self.progress.steps());
            if hooks.should_stop() && phase.done(self) < phase.total(self) {
                self.save(phase)?;
                let steps = self.progress.steps();
                let m = format!(
                    "stopped by request after {} MLE and {} adversarial steps; checkpoint written",
                    self.progress.step, self.progress.adv_step
                );
                self.message(hooks, &m);
                return Ok(Some(Outcome::Stopped { steps }));
            }
        }
        phase.finish(self);
        if last_eval != Some(phase.done(self)) {
            self.evaluate(phase, hooks)?;
        }
        Ok(None)
    }

    /// Evaluates, gathers the phase's figures and records them (metrics, then checkpoint).
    pub(crate) fn evaluate(&mut self, phase: &mut dyn Phase, hooks: &mut dyn Hooks) -> Result<()> {
        // Several processes: each evaluation first checks that the ranks hold the same weights.
        let mut named = crate::models::vars::named_vars(&self.gen.vs, "gen.");
        named.extend(phase.state().0);
        crate::dist::check_in_sync(named, "weights")?;
        let settings = EvalSettings {
            seed: self.cfg.train.seed,
            samples: self.cfg.train.eval_samples,
            oracle_samples: self.cfg.train.oracle_eval_samples,
            test_sequences: self.cfg.train.eval_test_sequences,
        };
        let mut m = self.evaluator.evaluate(
            self.gen.net.as_ref(),
            &self.data,
            &self.progress,
            &settings,
            &self.dir,
            self.device,
        )?;
        phase.close_window(self, &mut m, hooks)?;
        if self.guard.window > 0 {
            m.skipped_steps = Some(std::mem::take(&mut self.guard.window));
        }
        m.rollbacks = (self.progress.rollbacks > 0).then_some(self.progress.rollbacks);
        self.record(phase, m, hooks)
    }

    /// Appends `m` to the metrics (and plots), then writes the checkpoint: the records never
    /// run ahead of a checkpoint that a resumed run would not truncate them to.
    pub(crate) fn record(
        &mut self,
        phase: &dyn Phase,
        m: Metrics,
        hooks: &mut dyn Hooks,
    ) -> Result<()> {
        self.dir.append_metrics(&m, self.progress.steps())?;
        self.save(phase)?;
        super::anticollapse::keep_best(self)?;
        hooks.on_eval(&m);
        self.last = Some(m);
        Ok(())
    }

    /// Writes the checkpoint: weights, optimizers, config, vocabulary, progress.
    pub(crate) fn save(&mut self, phase: &dyn Phase) -> Result<()> {
        self.progress.adam_t = self.opt.t;
        self.progress.schedule = Some(self.schedule.clone());
        let mut tensors = checkpoint::named_vars(&self.gen.vs, "model.");
        tensors.extend(self.opt.state_tensors("optim."));
        let (own, counts) = phase.state();
        tensors.extend(own);
        if counts.is_some() {
            self.progress.algo = counts;
        }
        self.dir
            .save_checkpoint(&self.cfg, &self.data.corpus.vocab, &self.progress, &tensors)
    }
}
