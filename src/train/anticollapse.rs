//! Tools against collapse and instability that every algorithm gets from the adversarial
//! loop, around its steps (the `[gan]` keys of [`AdvConfig`](crate::algorithms::AdvConfig)):
//!
//! - MLE interleaving (`mle_every`, `mle_steps`): teacher-forcing updates on training
//!   batches, with the MLE optimizer at the rate MLE ended with (near 0 after a cosine
//!   schedule with `min_lr = 0`: set `train.min_lr`).
//! - A KL anchor (`kl_to_mle`): one update of `kl_to_mle * KL(G || G_mle)` on G's own
//!   samples after every step, exact over the vocabulary, G_mle the generator as the phase
//!   began (kept in the checkpoint).
//! - A watch on one evaluation metric (`best_metric`): the best checkpoint kept in `best/`,
//!   early stopping after `patience` evaluations without a better one, and reduce-on-plateau
//!   of every adversarial rate (`plateau_patience`, `plateau_factor`). Its state is saved in
//!   the checkpoint's progress, so a resumed run watches on exactly.
use super::metrics::Metrics;
use super::rundir::RunDir;
use super::state::{seed_step, RunState};
use crate::algorithms::{cot_loss, Algorithm, StepStats};
use crate::error::{Error, Result};
use crate::models::GeneratorModel;
use crate::optim::{Verdict, Watch};
use rand::Rng;
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

/// The folder of a run directory that holds the best checkpoint by `gan.best_metric`.
pub const BEST: &str = "best";

/// The value of metric `name` (one of [`crate::algorithms::config::BEST_METRICS`]) in `m`.
pub fn metric_of(m: &Metrics, name: &str) -> Option<f64> {
    let bleu = |n: usize| m.bleu.as_ref()?.get(n - 2).copied();
    match name {
        "nll_oracle" => m.nll_oracle,
        "test_nll" => m.test_nll,
        "grammar_nll" => m.grammar_nll,
        "validity" => m.validity,
        "sacrebleu" => m.sacrebleu,
        "chrf" => m.chrf,
        b => bleu(b.strip_prefix("bleu")?.parse().ok()?),
    }
}

/// The watch's part of an adversarial evaluation, before it is recorded: observes the metric,
/// says what changed; returns whether the rates were cut (the algorithm is then rebuilt at
/// the new rates).
pub(crate) fn watch(t: &mut RunState, m: &Metrics) -> Result<(Verdict, Vec<String>)> {
    let adv = &t.cfg.gan.adv;
    if adv.best_metric.is_empty() {
        return Ok((Verdict::default(), Vec::new()));
    }
    let name = adv.best_metric.clone();
    let value = metric_of(m, &name).ok_or_else(|| {
        Error::Config(format!(
            "gan.best_metric = \"{name}\": this run's evaluations have no {name} (its data has no oracle, grammar, test text or sources for it); choose another"
        ))
    })?;
    let (higher, limits) = (
        adv.higher_is_better(),
        (adv.patience, adv.plateau_patience, adv.plateau_factor),
    );
    let at = t.progress.steps();
    let w = t.progress.watch.get_or_insert_with(Watch::default);
    let v = w.observe(value, at, higher, limits);
    let mut said = Vec::new();
    if v.improved {
        said.push(format!("best {name} so far: {value:.4}; kept in {BEST}/"));
    }
    if v.cut {
        said.push(format!(
            "{name} has not improved for {} evaluations: adversarial rates now x{}",
            adv.plateau_patience, w.scale
        ));
    }
    if v.stop {
        said.push(format!(
            "early stop: {name} has not improved for {} evaluations (best {:.4} at step {}, kept in {BEST}/)",
            adv.patience,
            w.best.unwrap_or(f64::NAN),
            w.best_at
        ));
    }
    Ok((v, said))
}

/// What a complete run says when asked to go on: stopped early, or every step done.
pub(crate) fn complete_message(t: &RunState) -> String {
    let p = &t.progress;
    match &p.watch {
        Some(w) if w.stopped => format!(
            "the run stopped early at adversarial step {}: gan.best_metric had not improved for gan.patience = {} evaluations; its best checkpoint is in {BEST}/",
            p.adv_step, t.cfg.gan.adv.patience
        ),
        _ => format!(
            "the run is complete ({} MLE and {} adversarial steps); raise train.max_steps, train.epochs or gan.steps to go on",
            p.step, p.adv_step
        ),
    }
}

/// Copies the checkpoint just written into `best/` (atomically) when it holds the best
/// generator so far: `sample`, `eval`, `export` and `serve` read the folder as a run.
pub(crate) fn keep_best(t: &RunState, run: &RunDir) -> Result<()> {
    let Some(w) = &t.progress.watch else {
        return Ok(());
    };
    if w.best_at != t.progress.steps() || w.best.is_none() {
        return Ok(());
    }
    let dir = run.path().join(BEST);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    for f in [crate::checkpoint::FILE, "tokenizer.json"] {
        let from = run.path().join(f);
        if from.exists() {
            let bytes = std::fs::read(&from).map_err(|e| Error::io(&from, e))?;
            crate::fsutil::write_atomic(&dir.join(f), &bytes)?;
        }
    }
    Ok(())
}

/// MLE interleaving and the KL anchor, run after each adversarial step.
pub(crate) struct Tools {
    /// G_mle, for the KL anchor.
    anchor: Option<GeneratorModel>,
    /// The mean loss of the latest interleaved MLE updates, for the next evaluation's record.
    pub last_mle_loss: Option<f64>,
}

impl Tools {
    /// The tools as the phase begins: the anchor is the generator now.
    pub fn new(t: &RunState) -> Self {
        let anchor = (t.cfg.gan.adv.kl_to_mle > 0.0).then(|| {
            let vocab = &t.data.corpus.vocab;
            let shape = (vocab.len() as i64, t.progress.max_len as i64);
            GeneratorModel::copy_of(&t.cfg.generator, shape, t.cfg.cond_spec(vocab), &t.gen.vs)
        });
        Tools {
            anchor,
            last_mle_loss: None,
        }
    }

    /// After adversarial step `n` (1-based): the interleaved MLE updates when due, then the
    /// KL anchor's update, whose KL joins the step's figures.
    pub fn after_step(
        &mut self,
        t: &mut RunState,
        algo: &mut dyn Algorithm,
        n: usize,
        stats: &mut StepStats,
    ) {
        let adv = t.cfg.gan.adv.clone();
        if adv.mle_every > 0 && n.is_multiple_of(adv.mle_every) {
            self.last_mle_loss = Some(mle_updates(t, n, adv.mle_steps));
        }
        if let Some(anchor) = &self.anchor {
            let kl = kl_update(t, anchor, algo, n);
            stats.extra.insert("kl_to_mle".into(), kl);
        }
    }

    pub fn state(&self) -> Vec<(String, Tensor)> {
        match &self.anchor {
            Some(a) => crate::models::vars::named_vars(&a.vs, "anchor."),
            None => Vec::new(),
        }
    }

    /// The anchor from a checkpoint; one saved without it (the anchor newly turned on at a
    /// resume) keeps the generator as resumed.
    pub fn load(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        match &mut self.anchor {
            Some(a) if tensors.keys().any(|k| k.starts_with("anchor.")) => {
                crate::models::vars::restore_vars(&mut a.vs, tensors, "anchor.", path)
            }
            _ => Ok(()),
        }
    }
}

/// `count` MLE updates on random training batches of `train.batch_size` (the MLE optimizer,
/// at the rate MLE ended with, times the guard's factor); returns their mean loss.
fn mle_updates(t: &mut RunState, n: usize, count: usize) -> f64 {
    let mut rng = seed_step(t.cfg.train.seed, 1 << 42 | n as u64);
    let corpus = &t.data.corpus;
    let lr = t.schedule.lr(t.progress.step.saturating_sub(1)) * t.progress.lr_scale;
    let mut sum = 0.0;
    for _ in 0..count {
        let picks: Vec<usize> = (0..t.cfg.train.batch_size)
            .map(|_| rng.gen_range(0..corpus.train.len()))
            .collect();
        let batch = t.train_batch(&picks);
        let clip = t.cfg.train.grad_clip;
        let loss = crate::optim::mle_step(t.gen.net.as_ref(), &mut t.opt, &batch, clip, lr);
        sum += loss.double_value(&[]);
    }
    sum / count.max(1) as f64
}

/// One update of `kl_to_mle * KL(G || G_mle)` over the positions of `gan.batch_size` of G's
/// samples, with the algorithm's generator optimizer; returns the KL (per position).
fn kl_update(t: &RunState, anchor: &GeneratorModel, algo: &mut dyn Algorithm, n: usize) -> f64 {
    use crate::algorithms::batches::{fresh_samples, next_log_probs, Shapes};
    let adv = t.gan().adv;
    let mut rng = seed_step(t.cfg.train.seed, 1 << 43 | n as u64);
    let shapes = Shapes::new(&t.data.corpus.vocab, t.progress.max_len, 1);
    let mut ctx = t.ctx(&mut rng);
    let (samples, cond) = fresh_samples(&mut ctx, adv.batch_size, &shapes);
    let a =
        tch::no_grad(|| next_log_probs(anchor.net.as_ref(), &samples, &cond, shapes.bos, false));
    let g = next_log_probs(t.gen.net.as_ref(), &samples, &cond, shapes.bos, true);
    let kl = cot_loss(&g, &a, &shapes.mask(&samples));
    let value = kl.double_value(&[]);
    let g_opt = algo.sides_mut().1;
    crate::optim::minimize(g_opt, &(kl * adv.kl_to_mle), adv.grad_clip, adv.g_lr);
    value
}
