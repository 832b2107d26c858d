//! A training run on disk: created fresh or resumed from its checkpoint, trained by MLE, evaluated
//! on a cadence, with metrics, samples and checkpoints in its directory.
use super::{mle_step, GraphedMleStep, Hooks};
use crate::checkpoint;
use crate::config::{DataSource, RunConfig};
use crate::data::{Batch, Batcher, Corpus, Vocab};
use crate::device;
use crate::error::{Error, Result};
use crate::eval::{bleu, corpus_nll};
use crate::models::{generate, GenerateSpec, GeneratorModel, Oracle, Sampling};
use crate::optim::{Adam, Schedule};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Tensor};

/// Where training stands; saved in every checkpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: usize,
    pub epoch: usize,
    /// Batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    /// Adam's update count.
    pub adam_t: i64,
    pub schedule: Option<Schedule>,
    /// Longest sequence the model was built for.
    pub max_len: usize,
    pub phase: String,
    /// Adversarial steps taken, and the algorithm's scalar state.
    #[serde(default)]
    pub adv_step: usize,
    #[serde(default)]
    pub algo: serde_json::Value,
}

pub struct Session {
    pub dir: PathBuf,
    pub cfg: RunConfig,
    pub corpus: Corpus,
    pub model: GeneratorModel,
    pub opt: Adam,
    pub schedule: Schedule,
    pub progress: Progress,
    pub oracle: Option<Oracle>,
    pub device: Device,
    /// The metrics line of the latest evaluation.
    pub last_metrics: serde_json::Value,
    /// The test sentences' BLEU index, built at the first evaluation.
    bleu_refs: Option<(bleu::Interner, bleu::ReferenceIndex)>,
    /// The adversarial algorithm, once the adversarial phase has begun.
    pub algo: Option<Box<dyn crate::algorithms::Algorithm>>,
    pub(super) log: Option<std::fs::File>,
}

/// Draws the oracle benchmark's training and test sequences.
fn oracle_corpus(oracle: &Oracle, cfg: &RunConfig, device: Device) -> Corpus {
    let d = &cfg.data;
    tch::manual_seed(d.oracle_seed as i64);
    let spec = GenerateSpec {
        count: 2 * d.oracle_samples,
        max_len: d.oracle_seq_len,
        batch_size: 1000,
        bos: Oracle::START,
        eos: None,
        banned: vec![],
        prefix: vec![],
    };
    let mut seqs = generate(oracle, &spec, &Sampling::default(), device);
    let test = seqs.split_off(d.oracle_samples);
    Corpus::from_ids(Vocab::numeric(oracle.vocab_size as usize), seqs, test)
}

/// Loads the data a config names (reading files or drawing from the oracle).
/// Threads, the run's device (refusing settings that need CUDA elsewhere) and its data.
fn prepare(cfg: &RunConfig) -> Result<(Device, Corpus, Option<Oracle>)> {
    if cfg.train.threads > 0 {
        tch::set_num_threads(cfg.train.threads);
    }
    let device = device::resolve(&cfg.train.device)?;
    if cfg.train.cuda_graph && !device.is_cuda() {
        return Err(Error::Device(format!(
            "train.cuda_graph needs a CUDA device; this run is on {}",
            device::describe(device)
        )));
    }
    let (corpus, oracle) = load_data(cfg, device)?;
    Ok((device, corpus, oracle))
}

pub fn load_data(cfg: &RunConfig, device: Device) -> Result<(Corpus, Option<Oracle>)> {
    match cfg.data.source {
        DataSource::Oracle => {
            let oracle = Oracle::load(device)?;
            let corpus = oracle_corpus(&oracle, cfg, device);
            Ok((corpus, Some(oracle)))
        }
        _ => Ok((Corpus::load(&cfg.data, cfg.train.seed)?, None)),
    }
}

/// Resolves relative data paths against the working directory, so a resumed run finds them.
fn absolutize(cfg: &mut RunConfig) -> Result<()> {
    for p in [&mut cfg.data.train, &mut cfg.data.test]
        .into_iter()
        .flatten()
    {
        if p.is_relative() {
            *p = std::fs::canonicalize(&*p).map_err(|e| Error::io(p.clone(), e))?;
        }
    }
    Ok(())
}

impl Session {
    /// Starts a new run in `dir`. Everything is checked before the directory is touched.
    pub fn create(dir: &Path, cfg: RunConfig) -> Result<Self> {
        Self::create_from(dir, cfg, None)
    }

    /// Starts a new run whose generator starts from the weights of another run's checkpoint
    /// (same data and generator settings) and skips MLE pretraining: several adversarial
    /// algorithms can then start from one pretrained generator, as in the papers.
    pub fn create_from(dir: &Path, mut cfg: RunConfig, init_from: Option<&Path>) -> Result<Self> {
        if dir.join(checkpoint::FILE).exists() {
            return Err(Error::Config(format!(
                "{} already holds a run; continue it with --resume or choose another --out",
                dir.display()
            )));
        }
        cfg.validate()?;
        absolutize(&mut cfg)?;
        let (device, corpus, oracle) = prepare(&cfg)?;
        tch::manual_seed(cfg.train.seed as i64);
        let mut model = GeneratorModel::new(
            &cfg.generator,
            corpus.vocab.len() as i64,
            corpus.max_len as i64,
            device,
        );
        let opt = Adam::new(&model.vs, &cfg.train.adam());
        let total = Self::planned_steps(&cfg, corpus.train.len());
        let schedule = Schedule::new(&cfg.train, total);
        let progress = Progress {
            max_len: corpus.max_len,
            phase: "mle".into(),
            ..Default::default()
        };
        let mut progress = progress;
        if let Some(src) = init_from {
            let path = checkpoint::locate(src);
            let ck = checkpoint::load(&path)?;
            if ck.vocab != corpus.vocab || ck.config.generator != cfg.generator {
                return Err(Error::checkpoint(
                    &path,
                    "--init-from needs a run with the same data and generator settings",
                ));
            }
            let mut vs = model.vs;
            checkpoint::restore_vars(&mut vs, &ck.tensors, "model.", &path)?;
            model = GeneratorModel { vs, net: model.net };
            progress.step = total;
            progress.epoch = cfg.train.epochs;
        }
        std::fs::create_dir_all(dir.join("samples")).map_err(|e| Error::io(dir, e))?;
        crate::fsutil::write_atomic(&dir.join("config.toml"), cfg.to_toml().as_bytes())?;
        let vocab_json = serde_json::to_string_pretty(&corpus.vocab).expect("vocab serializes");
        crate::fsutil::write_atomic(&dir.join("vocab.json"), vocab_json.as_bytes())?;
        Self::assemble(dir, cfg, (corpus, oracle), model, opt, schedule, progress)
    }

    /// The session around its parts, its log open; the device is the model's.
    fn assemble(
        dir: &Path,
        cfg: RunConfig,
        (corpus, oracle): (Corpus, Option<Oracle>),
        model: GeneratorModel,
        opt: Adam,
        schedule: Schedule,
        progress: Progress,
    ) -> Result<Self> {
        let mut s = Session {
            dir: dir.to_path_buf(),
            device: model.device(),
            cfg,
            corpus,
            model,
            opt,
            schedule,
            progress,
            oracle,
            last_metrics: serde_json::Value::Null,
            algo: None,
            bleu_refs: None,
            log: None,
        };
        s.open_log()?;
        Ok(s)
    }

    /// Reopens the run in `dir` where its checkpoint left it. `overrides` may change training
    /// settings (`train.*`, e.g. more steps); the data and the model must stay as they were.
    pub fn resume(dir: &Path, overrides: &[String]) -> Result<Self> {
        let path = dir.join(checkpoint::FILE);
        let ck = checkpoint::load(&path)?;
        let mut table: toml::Table =
            toml::from_str(&ck.config.to_toml()).expect("stored config is TOML");
        for o in overrides {
            crate::config::apply_override(&mut table, o)?;
        }
        let cfg = RunConfig::from_toml_str(&toml::to_string(&table).expect("table serializes"))?;
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
        let progress: Progress = serde_json::from_value(ck.state.clone())
            .map_err(|e| Error::checkpoint(&path, format!("stored progress: {e}")))?;
        let (device, corpus, oracle) = prepare(&cfg)?;
        if corpus.vocab != ck.vocab {
            return Err(Error::Data(
                "the training data changed since the run started (its vocabulary differs)".into(),
            ));
        }
        let mut model = GeneratorModel::new(
            &cfg.generator,
            ck.vocab.len() as i64,
            progress.max_len as i64,
            device,
        );
        checkpoint::restore_vars(&mut model.vs, &ck.tensors, "model.", &path)?;
        let mut opt = Adam::new(&model.vs, &cfg.train.adam());
        opt.load_state(&ck.tensors, "optim.")
            .map_err(|e| Error::checkpoint(&path, e))?;
        opt.t = progress.adam_t;
        let total = Self::planned_steps(&cfg, corpus.train.len());
        let mut schedule = Schedule::new(&cfg.train, total);
        if let Some(saved) = &progress.schedule {
            schedule.scale = saved.scale;
            schedule.best = saved.best;
            schedule.bad_evals = saved.bad_evals;
        }
        crate::fsutil::write_atomic(&dir.join("config.toml"), cfg.to_toml().as_bytes())?;
        let mut s = Self::assemble(dir, cfg, (corpus, oracle), model, opt, schedule, progress)?;
        if s.progress.phase == "adv" {
            let mut algo = crate::algorithms::build(
                &s.cfg,
                &s.model,
                &s.corpus.vocab,
                s.progress.max_len,
                device,
            )
            .ok_or_else(|| {
                Error::checkpoint(&path, "an adversarial checkpoint without gan.algorithm")
            })?;
            algo.load_state(&ck.tensors, &s.progress.algo, &path)?;
            s.algo = Some(algo);
        }
        Ok(s)
    }

    fn open_log(&mut self) -> Result<()> {
        let path = self.dir.join("train.log");
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        self.log = Some(f);
        Ok(())
    }

    /// Optimizer steps of the whole run: all epochs, capped by `max_steps`.
    pub fn planned_steps(cfg: &RunConfig, n_train: usize) -> usize {
        let per_epoch = Batcher {
            batch_size: cfg.train.batch_size as usize,
            seed: 0,
        }
        .batches_per_epoch(n_train);
        let all = per_epoch * cfg.train.epochs;
        match cfg.train.max_steps {
            0 => all,
            m if cfg.train.epochs == 0 => m,
            m => m.min(all),
        }
    }

    pub fn total_steps(&self) -> usize {
        Self::planned_steps(&self.cfg, self.corpus.train.len())
    }

    pub(super) fn message(&mut self, hooks: &mut dyn Hooks, msg: &str) {
        if let Some(f) = &mut self.log {
            let _ = writeln!(f, "{msg}");
        }
        hooks.on_message(msg);
    }

    /// Trains by MLE until the planned number of steps, evaluating and checkpointing on the way.
    pub fn train_mle(&mut self, hooks: &mut dyn Hooks) -> Result<serde_json::Value> {
        let total = self.total_steps();
        let c = &self.corpus;
        let summary = format!(
            "data: {} train / {} test sequences, vocabulary {}, max length {}; train lines truncated {}, skipped {}; test truncated {}, skipped {}",
            c.train.len(), c.test.len(), c.vocab.len(), c.max_len,
            c.train_stats.truncated, c.train_stats.skipped, c.test_stats.truncated, c.test_stats.skipped
        );
        self.message(hooks, &summary);
        let model_line = format!(
            "model: {:?}, {} parameters, on {}",
            self.cfg.generator,
            self.model.num_parameters(),
            device::describe(self.device)
        );
        self.message(hooks, &model_line);
        if self.progress.step > 0 && self.progress.step < total {
            let m = format!(
                "resuming at step {} (epoch {})",
                self.progress.step, self.progress.epoch
            );
            self.message(hooks, &m);
        }
        if self.progress.step >= total {
            return Ok(self.last_metrics.clone());
        }
        hooks.on_start(self.progress.step, total);
        let batcher = Batcher {
            batch_size: self.cfg.train.batch_size as usize,
            seed: self.cfg.train.seed,
        };
        let eval_every = self.cfg.train.eval_every;
        let mut window = Window::default();
        let mut graphed: Option<GraphedMleStep> = None;
        let mut last_eval = usize::MAX;
        while self.progress.step < total {
            let batches = batcher.epoch(self.corpus.train.len(), self.progress.epoch);
            for idx in batches.iter().skip(self.progress.batch_in_epoch) {
                if self.progress.step >= total {
                    break;
                }
                let t0 = Instant::now();
                // Seeding by step makes dropout depend on the step alone, so a resumed run matches.
                tch::manual_seed(
                    (self.cfg.train.seed as i64)
                        .wrapping_mul(1_000_003)
                        .wrapping_add(self.progress.step as i64),
                );
                let rows: Vec<&[i64]> = idx
                    .iter()
                    .map(|&i| self.corpus.train[i].as_slice())
                    .collect();
                let batch = Batch::new(&rows, &self.corpus.vocab, self.device);
                let lr = self.schedule.lr(self.progress.step);
                if self.cfg.train.cuda_graph && graphed.is_none() {
                    let shape = [self.cfg.train.batch_size, self.corpus.max_len as i64];
                    graphed = Some(GraphedMleStep::new(
                        self.model.net.as_ref(),
                        &mut self.opt,
                        shape,
                        self.corpus.vocab.pad.unwrap_or(0),
                        self.cfg.train.grad_clip,
                        self.device,
                    )?);
                    self.message(hooks, "MLE step captured as a CUDA graph; replaying it");
                }
                let replayed = match &mut graphed {
                    Some(g) => g.step(&mut self.opt, &batch, lr)?,
                    None => None,
                };
                let loss = match replayed {
                    Some(loss) => loss,
                    None => mle_step(
                        self.model.net.as_ref(),
                        &mut self.opt,
                        &batch,
                        self.cfg.train.grad_clip,
                        lr,
                    ),
                };
                self.progress.step += 1;
                self.progress.batch_in_epoch += 1;
                window.add(&loss, batch.tokens, t0);
                if self.progress.step.is_multiple_of(10) || self.progress.step == total {
                    hooks.on_step(self.progress.step, window.loss(), lr);
                }
                if eval_every > 0 && self.progress.step.is_multiple_of(eval_every) {
                    self.evaluate_and_save(hooks, &mut window)?;
                    last_eval = self.progress.step;
                }
            }
            if self.progress.batch_in_epoch >= batches.len() {
                self.progress.epoch += 1;
                self.progress.batch_in_epoch = 0;
                if eval_every == 0 {
                    self.evaluate_and_save(hooks, &mut window)?;
                    last_eval = self.progress.step;
                }
            }
        }
        if last_eval != self.progress.step {
            return self.evaluate_and_save(hooks, &mut window);
        }
        Ok(self.last_metrics.clone())
    }

    /// Test NLL, oracle NLL, samples; appends to `metrics.jsonl` and writes the checkpoint.
    /// The metrics every evaluation records: test NLL, samples (written to `samples/`), BLEU and
    /// Self-BLEU of those samples against the test data, NLL-oracle on the oracle benchmark.
    pub(super) fn evaluate(&mut self) -> Result<serde_json::Value> {
        let t0 = Instant::now();
        let net = self.model.net.as_ref();
        let (step, adv) = (self.progress.step, self.progress.adv_step);
        let test_nll = (!self.corpus.test.is_empty()).then(|| {
            corpus_nll(
                net,
                &self.corpus.test,
                &self.corpus.vocab,
                256,
                1.0,
                self.device,
            )
        });
        tch::manual_seed((self.cfg.train.seed as i64).wrapping_add(7919 * (step + adv) as i64));
        let spec = GenerateSpec {
            count: self.cfg.train.eval_samples,
            max_len: self.progress.max_len,
            batch_size: 1000,
            bos: self.corpus.vocab.bos,
            eos: self.corpus.vocab.eos,
            banned: self.corpus.vocab.never_generated(),
            prefix: vec![],
        };
        let samples = generate(net, &spec, &Sampling::default(), self.device);
        let lines: Vec<String> = samples
            .iter()
            .map(|s| self.corpus.vocab.decode(s))
            .collect();
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let sample_file = match self.progress.phase.as_str() {
            "adv" => format!("samples/adv-{adv:07}.txt"),
            _ => format!("samples/step-{step:07}.txt"),
        };
        crate::fsutil::write_atomic(&self.dir.join(&sample_file), text.as_bytes())?;
        let mut metrics = json!({
            "step": step,
            "epoch": self.progress.epoch,
            "phase": self.progress.phase,
            "test_nll": test_nll,
            "samples": sample_file,
        });
        if self.progress.phase == "adv" {
            metrics["adv_step"] = json!(adv);
        }
        if let Some(oracle) = &self.oracle {
            let spec = GenerateSpec {
                count: self.cfg.train.oracle_eval_samples,
                ..spec
            };
            let gen = generate(net, &spec, &Sampling::default(), self.device);
            let t = Tensor::from_slice(&gen.concat()).view([gen.len() as i64, -1]);
            metrics["nll_oracle"] = json!(oracle.nll(&t));
        } else if lines.len() >= 2 && !self.corpus.test_text.is_empty() {
            let (int, index) = self.bleu_refs.get_or_insert_with(|| {
                let mut int = bleu::Interner::default();
                // The test sentences as written (a held-out fraction has its raw lines too).
                let ids = int.tokenize_all(&self.corpus.test_text).unwrap_or_default();
                let index = bleu::ReferenceIndex::new(&ids, bleu::MAX_ORDER);
                (int, index)
            });
            let hyps = int.tokenize_all(&lines)?;
            let b = bleu::bleu(&hyps, index);
            let sb = bleu::self_bleu(&hyps, bleu::MAX_ORDER);
            metrics["bleu"] = json!(&b[1..]);
            metrics["self_bleu"] = json!(&sb[1..]);
        }
        metrics["eval_s"] = json!(t0.elapsed().as_secs_f64());
        Ok(metrics)
    }

    /// Appends `metrics` to `metrics.jsonl`, writes the checkpoint and tells the hooks.
    pub(super) fn record(
        &mut self,
        hooks: &mut dyn Hooks,
        metrics: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let line = metrics.to_string() + "\n";
        let path = self.dir.join("metrics.jsonl");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(line.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
        self.plot_curves()?;
        self.save()?;
        hooks.on_eval(&metrics);
        self.last_metrics = metrics.clone();
        Ok(metrics)
    }

    /// Redraws `plots/*.{svg,png}` from the whole of `metrics.jsonl`.
    fn plot_curves(&self) -> Result<()> {
        let path = self.dir.join("metrics.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let records: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let dir = self.dir.join("plots");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        for (stem, svg) in crate::eval::plot::training_curves(&records) {
            crate::eval::plot::save(&svg, &dir.join(stem))?;
        }
        Ok(())
    }

    /// An MLE evaluation: the shared metrics plus loss, learning rate and throughput.
    fn evaluate_and_save(
        &mut self,
        hooks: &mut dyn Hooks,
        window: &mut Window,
    ) -> Result<serde_json::Value> {
        let mut metrics = self.evaluate()?;
        let step = self.progress.step;
        metrics["train_loss"] = json!(window.loss());
        metrics["lr"] = json!(self.schedule.lr(step.saturating_sub(1)));
        metrics["tokens_per_s"] = json!(window.tokens_per_s());
        metrics["train_s"] = json!(window.seconds);
        if let Some(nll) = metrics["test_nll"].as_f64() {
            if self.schedule.observe(nll) {
                let m = format!(
                    "test NLL has not improved: learning rate now {:.3e}",
                    self.schedule.lr(step)
                );
                self.message(hooks, &m);
            }
        }
        window.reset();
        self.record(hooks, metrics)
    }

    /// Writes the checkpoint (weights, optimizer, config, vocabulary, progress) atomically.
    pub fn save(&mut self) -> Result<()> {
        self.progress.adam_t = self.opt.t;
        self.progress.schedule = Some(self.schedule.clone());
        let mut tensors = checkpoint::named_vars(&self.model.vs, "model.");
        tensors.extend(self.opt.state_tensors("optim."));
        if let Some(algo) = &self.algo {
            tensors.extend(algo.state_tensors());
            self.progress.algo = algo.state_scalars();
        }
        let state = serde_json::to_value(&self.progress).expect("progress serializes");
        checkpoint::save(
            &self.dir.join(checkpoint::FILE),
            &self.cfg,
            &self.corpus.vocab,
            &state,
            &tensors,
        )
    }
}

/// Loss and throughput since the last evaluation. The loss stays on the device and is read
/// only when reported, so the GPU is not made to wait every step.
#[derive(Default)]
struct Window {
    loss_sum: Option<Tensor>,
    steps: usize,
    tokens: i64,
    seconds: f64,
}

impl Window {
    fn add(&mut self, loss: &Tensor, tokens: i64, t0: Instant) {
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(s) => s + loss,
            None => loss.shallow_clone(),
        });
        self.steps += 1;
        self.tokens += tokens;
        self.seconds += t0.elapsed().as_secs_f64();
    }

    fn loss(&self) -> f64 {
        match &self.loss_sum {
            Some(s) if self.steps > 0 => s.double_value(&[]) / self.steps as f64,
            _ => f64::NAN,
        }
    }

    fn tokens_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.tokens as f64 / self.seconds
        } else {
            0.0
        }
    }

    fn reset(&mut self) {
        *self = Window::default();
    }
}
