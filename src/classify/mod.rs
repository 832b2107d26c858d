//! Text classification on a trunk (a BERT-family folder such as all-MiniLM-L6-v2, or an LSTM
//! from scratch), supervised or semi-supervised with GAN-BERT; a classifier saved as a run
//! directory that `textgan classify eval|predict` and the server load alone.
//!
//! A classifier run holds `classifier.json` (labels, trunk, settings), `head.safetensors` (the
//! discriminator's weights, and an LSTM trunk's), `trunk/` (for BERT a complete Hugging Face
//! folder, fine-tuned weights included, that `transformers` reads; for the LSTM the tokenizer),
//! and `metrics.jsonl` (one record per epoch, with the test scores when a test set was given).
pub mod data;
pub mod head;
pub mod metrics;
mod store;
pub mod train;
pub mod trunk;

use crate::data::Lines;
use crate::error::{Error, Result};
use head::{Discriminator, VectorGenerator};
use metrics::Scores;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};
use train::{adamw, epoch_rows, gan_step, Method, Settings};
pub use train::{check, class_names, unknown_augmented_label};
use trunk::{Trunk, TrunkKind};

/// What `classifier.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spec {
    /// The class names, in the order of the classifier's outputs (sorted).
    pub labels: Vec<String>,
    pub trunk: TrunkKind,
    /// Where the trunk came from (for the record; the run holds its own copy).
    pub trunk_source: String,
    pub settings: Settings,
}

/// A trained classifier: trunk and head.
pub struct Classifier {
    pub spec: Spec,
    pub trunk: Trunk,
    pub head: Discriminator,
    vs: nn::VarStore,
    trunk_folder: PathBuf,
}

/// The text a classifier learns from.
pub struct TrainData<'a> {
    pub labelled: &'a Lines,
    pub unlabelled: &'a [String],
    /// Augmented labelled rows (`textgan augment`), whose loss counts `augment_weight` times a
    /// real row's.
    pub augmented: Option<&'a Lines>,
    /// Scored after every epoch when given (the scores go to the epoch's record).
    pub test: Option<&'a Lines>,
}

/// Labelled rows with the weight of each one's loss.
struct WeightedRows {
    text: Vec<String>,
    labels: Vec<String>,
    weights: Vec<f32>,
}

/// One epoch's record (`metrics.jsonl`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    pub epoch: usize,
    pub steps: usize,
    pub d_loss: f64,
    pub g_loss: f64,
    pub supervised_loss: f64,
    pub test_accuracy: Option<f64>,
    pub test_macro_f1: Option<f64>,
    pub seconds: f64,
}

/// Steps of full-batch Adam that solve the linear method's convex problem.
pub const LINEAR_STEPS: usize = 2000;

impl Classifier {
    fn build(spec: Spec, folder: &Path, device: Device) -> Result<Classifier> {
        let vs = nn::VarStore::new(device);
        let s = &spec.settings;
        let trunk = Trunk::new(&spec.trunk, folder, &(vs.root() / "trunk"), s.max_len)?;
        let (layers, dropout) = match s.method {
            Method::Linear => (0, 0.0),
            _ => (s.hidden_layers_d, s.dropout),
        };
        let head = Discriminator::new(
            &(vs.root() / "head"),
            trunk.dim,
            layers,
            spec.labels.len() as i64,
            s.method == Method::GanBert,
            dropout,
        );
        Ok(Classifier {
            spec,
            trunk,
            head,
            vs,
            trunk_folder: folder.to_path_buf(),
        })
    }

    /// Trains a classifier of `settings` on `data`, its trunk `kind` read from `folder`;
    /// `on_epoch` hears each epoch's record, `on_step` each step (done, of).
    pub fn train(
        kind: &TrunkKind,
        folder: &Path,
        data: &TrainData,
        settings: &Settings,
        device: Device,
        on_epoch: &mut dyn FnMut(&EpochRecord),
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<(Classifier, Vec<EpochRecord>)> {
        check(kind, settings)?;
        let labels = class_names(data.labelled)?;
        let spec = Spec {
            labels,
            trunk: kind.clone(),
            trunk_source: folder.display().to_string(),
            settings: settings.clone(),
        };
        tch::manual_seed(settings.seed);
        let c = Classifier::build(spec, folder, device)?;
        let records = match settings.method {
            Method::Linear => vec![c.train_linear(data, on_epoch)?],
            _ => c.train_gan(data, on_epoch, on_step)?,
        };
        Ok((c, records))
    }

    fn label_of(&self, name: &str) -> i64 {
        self.spec
            .labels
            .iter()
            .position(|l| l == name)
            .expect("a training label") as i64
    }

    /// The labelled rows and the augmented ones after them, with the weight of each; refuses
    /// augmented rows of labels the real ones lack.
    fn labelled_rows(&self, data: &TrainData) -> Result<WeightedRows> {
        let mut rows = WeightedRows {
            text: data.labelled.text.clone(),
            labels: data.labelled.labels.clone(),
            weights: vec![1.0; data.labelled.text.len()],
        };
        if let Some(a) = data.augmented {
            if let Some(l) = unknown_augmented_label(&self.spec.labels, a) {
                return Err(Error::Data(format!(
                    "an augmented row is labelled {l}, which no labelled training row is"
                )));
            }
            rows.text.extend(a.text.iter().cloned());
            rows.labels.extend(a.labels.iter().cloned());
            let w = self.spec.settings.augment_weight as f32;
            rows.weights.extend(std::iter::repeat_n(w, a.text.len()));
        }
        Ok(rows)
    }

    /// The trunk's vectors of `texts` in eval mode, without gradients [n, dim].
    fn vectors(&self, texts: &[String]) -> Result<Tensor> {
        let _g = tch::no_grad_guard();
        let mut out = Vec::new();
        for chunk in texts.chunks(64) {
            out.push(self.trunk.forward(&self.trunk.tokenize(chunk)?, false));
        }
        if out.is_empty() {
            return Ok(Tensor::zeros(
                [0, self.trunk.dim],
                (Kind::Float, self.vs.device()),
            ));
        }
        Ok(Tensor::cat(&out, 0))
    }

    fn train_linear(
        &self,
        data: &TrainData,
        on_epoch: &mut dyn FnMut(&EpochRecord),
    ) -> Result<EpochRecord> {
        let start = std::time::Instant::now();
        let rows = self.labelled_rows(data)?;
        let x = self.vectors(&rows.text)?;
        let y: Vec<i64> = rows.labels.iter().map(|l| self.label_of(l)).collect();
        let y = Tensor::from_slice(&y).to_device(self.vs.device());
        let w = Tensor::from_slice(&rows.weights).to_device(self.vs.device());
        let n = y.size()[0] as f64;
        let mut opt = nn::Adam::default()
            .build(&self.vs, 0.05)
            .map_err(|e| Error::Config(format!("optimizer: {e}")))?;
        let weights = self.head_weights();
        let mut loss_value = 0.0;
        for _ in 0..LINEAR_STEPS {
            let (_, logits) = self.head.forward(&x, false);
            // scikit-learn's C * sum(w CE) + |W|^2 / 2 (w: its sample_weight), divided by C n.
            let ce = (train::cross_entropies(&logits, &y) * &w).sum(Kind::Float) / n;
            let squares: Tensor = weights.iter().map(|w| w.square().sum(Kind::Float)).sum();
            let penalty = squares / (2.0 * self.spec.settings.c * n);
            let loss = ce + penalty;
            opt.zero_grad();
            loss.backward();
            opt.step();
            loss_value = loss.double_value(&[]);
        }
        let record =
            self.epoch_record(1, LINEAR_STEPS, (loss_value, 0.0, loss_value), data, start)?;
        on_epoch(&record);
        Ok(record)
    }

    /// The head's weight matrices (not its biases), which regularisation penalises: the
    /// variables themselves, so a penalty computed from them reaches their gradients.
    fn head_weights(&self) -> Vec<Tensor> {
        self.vs
            .variables()
            .into_iter()
            .filter(|(k, _)| k.starts_with("head.") && k.ends_with(".weight"))
            .map(|(_, t)| t)
            .collect()
    }

    fn train_gan(
        &self,
        data: &TrainData,
        on_epoch: &mut dyn FnMut(&EpochRecord),
        on_step: &mut dyn FnMut(usize, usize),
    ) -> Result<Vec<EpochRecord>> {
        use rand::SeedableRng;
        let s = &self.spec.settings;
        let gan = s.method == Method::GanBert;
        let rows = self.labelled_rows(data)?;
        let mut texts = rows.text;
        let mut labels: Vec<Option<i64>> =
            rows.labels.iter().map(|l| Some(self.label_of(l))).collect();
        let mut weights = rows.weights;
        weights.extend(std::iter::repeat_n(1.0, data.unlabelled.len()));
        // Rows count alike unless augmented ones count otherwise: then the losses are weighted.
        let weights = weights.iter().any(|&w| w != 1.0).then_some(weights);
        // GAN-BERT's loader holds the unlabelled rows too; the supervised baseline keeps them
        // (they add no loss) so that both take the same steps over the same labelled rows.
        texts.extend(data.unlabelled.iter().cloned());
        labels.extend(std::iter::repeat_n(None, data.unlabelled.len()));
        let repeats = s.repeats(labels.len() - data.unlabelled.len(), texts.len());
        let frozen = match s.freeze {
            true => Some(self.vectors(&texts)?),
            false => None,
        };
        let device = self.vs.device();
        let g_vs = nn::VarStore::new(device);
        let generator = gan.then(|| {
            VectorGenerator::new(
                &g_vs.root(),
                s.noise,
                self.trunk.dim,
                s.hidden_layers_g,
                s.dropout,
            )
        });
        let mut d_opt = adamw(&self.vs, s.lr_d, s)?;
        let mut g_opt = match gan {
            true => Some(adamw(&g_vs, s.lr_g, s)?),
            false => None,
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(s.seed as u64);
        let mut records = Vec::new();
        let steps_per_epoch = epoch_len(&labels, repeats).div_ceil(s.batch_size);
        for epoch in 1..=s.epochs {
            let start = std::time::Instant::now();
            let rows = epoch_rows(&labels, repeats, &mut rng);
            let done = (epoch - 1) * steps_per_epoch;
            let mut step = |i: usize| on_step(done + i, s.epochs * steps_per_epoch);
            let (sums, steps) = self.epoch(
                &rows,
                (&texts, frozen.as_ref(), weights.as_deref()),
                generator.as_ref(),
                (&mut d_opt, g_opt.as_mut()),
                &mut step,
            )?;
            let k = steps.max(1) as f64;
            let losses = (sums.0 / k, sums.1 / k, sums.2 / k);
            let record = self.epoch_record(epoch, steps, losses, data, start)?;
            on_epoch(&record);
            records.push(record);
        }
        Ok(records)
    }

    /// One pass over `rows`: the summed (d, g, supervised) losses and the steps taken.
    fn epoch(
        &self,
        rows: &[train::Row],
        (texts, frozen, weights): (&[String], Option<&Tensor>, Option<&[f32]>),
        generator: Option<&VectorGenerator>,
        (d_opt, mut g_opt): (&mut nn::Optimizer, Option<&mut nn::Optimizer>),
        on_step: &mut dyn FnMut(usize),
    ) -> Result<((f64, f64, f64), usize)> {
        let s = &self.spec.settings;
        let mut sums = (0.0, 0.0, 0.0);
        let mut steps = 0;
        for (i, batch) in rows.chunks(s.batch_size).enumerate() {
            on_step(i + 1);
            // The supervised baseline only needs the labelled rows of a batch.
            let batch: Vec<_> = batch
                .iter()
                .filter(|r| generator.is_some() || r.label.is_some())
                .copied()
                .collect();
            if batch.is_empty() {
                continue;
            }
            let (real, y) = self.batch(&batch, texts, frozen)?;
            let w = weights.map(|w| {
                let w: Vec<f32> = batch.iter().map(|r| w[r.text]).collect();
                Tensor::from_slice(&w).to_device(real.device())
            });
            let opts = (&mut *d_opt, g_opt.as_deref_mut());
            let l = gan_step(
                &self.head,
                generator,
                &real,
                (&y, w.as_ref()),
                opts,
                s.epsilon,
            );
            if !(l.0.is_finite() && l.1.is_finite()) {
                return Err(Error::Diverged(format!(
                    "classifier training: loss {} / {} at step {}",
                    l.0,
                    l.1,
                    i + 1
                )));
            }
            sums = (sums.0 + l.0, sums.1 + l.1, sums.2 + l.2);
            steps += 1;
        }
        Ok((sums, steps))
    }

    /// A batch's real vectors (from the frozen ones, or through the trunk in training) and
    /// labels (-1 where unlabelled).
    fn batch(
        &self,
        rows: &[train::Row],
        texts: &[String],
        frozen: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor)> {
        let device = self.vs.device();
        let y: Vec<i64> = rows.iter().map(|r| r.label.unwrap_or(-1)).collect();
        let y = Tensor::from_slice(&y).to_device(device);
        let real = match frozen {
            Some(v) => {
                let idx: Vec<i64> = rows.iter().map(|r| r.text as i64).collect();
                v.index_select(0, &Tensor::from_slice(&idx).to_device(device))
            }
            None => {
                let t: Vec<String> = rows.iter().map(|r| texts[r.text].clone()).collect();
                self.trunk.forward(&self.trunk.tokenize(&t)?, true)
            }
        };
        Ok((real, y))
    }

    fn epoch_record(
        &self,
        epoch: usize,
        steps: usize,
        (d, g, sup): (f64, f64, f64),
        data: &TrainData,
        start: std::time::Instant,
    ) -> Result<EpochRecord> {
        let scores = data.test.map(|t| self.score(t)).transpose()?;
        Ok(EpochRecord {
            epoch,
            steps,
            d_loss: d,
            g_loss: g,
            supervised_loss: sup,
            test_accuracy: scores.as_ref().map(|s| s.accuracy),
            test_macro_f1: scores.as_ref().map(|s| s.macro_f1),
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// The probabilities [n, k] of each class for `texts` (eval mode).
    pub fn probabilities(&self, texts: &[String]) -> Result<Tensor> {
        let _g = tch::no_grad_guard();
        let v = self.vectors(texts)?;
        let (_, logits) = self.head.forward(&v, false);
        Ok(self
            .head
            .class_logits(&logits)
            .softmax(-1, Kind::Float)
            .to_device(Device::Cpu))
    }

    /// The best class of each text, with its probability.
    pub fn predict(&self, texts: &[String]) -> Result<Vec<(usize, f64)>> {
        let p = self.probabilities(texts)?;
        let (best, idx) = p.max_dim(1, false);
        let best: Vec<f64> = Vec::try_from(best.to_kind(Kind::Double)).expect("a vector");
        let idx: Vec<i64> = Vec::try_from(idx).expect("a vector");
        Ok(idx.into_iter().map(|i| i as usize).zip(best).collect())
    }

    /// Scores on labelled text; labels training never saw count as wrong.
    pub fn score(&self, test: &Lines) -> Result<Scores> {
        let predicted: Vec<usize> = self.predict(&test.text)?.into_iter().map(|p| p.0).collect();
        Ok(metrics::score(&self.spec.labels, &test.labels, &predicted))
    }
}

/// Rows in an epoch: labelled ones `repeats` times, the rest once.
fn epoch_len(labels: &[Option<i64>], repeats: usize) -> usize {
    labels
        .iter()
        .map(|l| if l.is_some() { repeats } else { 1 })
        .sum()
}
