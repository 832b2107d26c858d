//! Label accuracy: does generated text carry the label it was generated under?
//!
//! As SentiGAN and CatGAN measure it, a separately trained classifier judges the samples. Ours
//! is the CNN of SentiGAN's discriminator (embedding 64, widths 2-5 with 200 maps each,
//! highway, dropout 0.25) with k outputs, trained by cross-entropy on the run's real labelled
//! training sentences (TextGAN-PyTorch's classifier: 5 epochs, Adam at 1e-3, batch 64); its
//! own accuracy on the held-out test sentences is reported beside the samples' accuracy, as
//! the ceiling the samples are judged against.
use crate::data::{Batcher, Corpus};
use crate::models::disc::{CnnDiscConfig, DiscriminatorModel, Highway};
use crate::optim::{minimize, Adam, AdamConfig};
use tch::{Device, Kind, Tensor};

/// How the classifier is trained.
#[derive(Debug, Clone, Copy)]
pub struct ClassifierSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub seed: u64,
}

impl Default for ClassifierSettings {
    fn default() -> Self {
        ClassifierSettings {
            epochs: 5,
            batch_size: 64,
            lr: 1e-3,
            seed: 0,
        }
    }
}

/// A trained label classifier and its accuracy on the real test sentences.
pub struct LabelClassifier {
    model: DiscriminatorModel,
    /// Input length: the corpus's maximum, at least the widest filter.
    len: i64,
    pad: i64,
    eos: Option<i64>,
    pub test_accuracy: f64,
}

fn cnn() -> CnnDiscConfig {
    CnnDiscConfig {
        embed_dim: 64,
        filter_sizes: vec![2, 3, 4, 5],
        num_filters: vec![200; 4],
        num_rep: 1,
        dropout: 0.25,
        highway: Highway::Tied,
    }
}

impl LabelClassifier {
    /// Trains on `corpus`'s labelled training sentences; `None` for an unlabelled corpus.
    pub fn train(corpus: &Corpus, s: &ClassifierSettings, device: Device) -> Option<Self> {
        let k = corpus.vocab.labels.len() as i64;
        if k == 0 {
            return None;
        }
        tch::manual_seed(s.seed as i64);
        let model = DiscriminatorModel::classifier(&cnn(), corpus.vocab.len() as i64, k, device);
        let mut c = LabelClassifier {
            model,
            len: (corpus.max_len as i64).max(5),
            pad: corpus.vocab.pad.unwrap_or(0),
            eos: corpus.vocab.eos,
            test_accuracy: f64::NAN,
        };
        let mut opt = Adam::new(&c.model.vs, &AdamConfig::default());
        let batcher = Batcher {
            batch_size: s.batch_size,
            seed: s.seed,
        };
        for epoch in 0..s.epochs {
            for idx in batcher.epoch(corpus.train.len(), epoch) {
                let rows: Vec<&[i64]> = idx.iter().map(|&i| corpus.train[i].as_slice()).collect();
                let labels: Vec<i64> = idx.iter().map(|&i| corpus.train_labels[i]).collect();
                let logits = c.model.net.score(&c.ids(&rows, device), true);
                let target = Tensor::from_slice(&labels).to_device(device);
                let loss = logits.cross_entropy_for_logits(&target);
                minimize(&mut opt, &loss, 5.0, s.lr);
            }
        }
        c.test_accuracy = c.accuracy(&corpus.test, &corpus.test_labels, device);
        Some(c)
    }

    /// Rows as [B, len] ids: tokens, `<eos>`, padding (cut to `len`).
    fn ids(&self, rows: &[&[i64]], device: Device) -> Tensor {
        let l = self.len as usize;
        let mut ids = vec![self.pad; rows.len() * l];
        for (r, s) in rows.iter().enumerate() {
            for (j, t) in s.iter().copied().chain(self.eos).take(l).enumerate() {
                ids[r * l + j] = t;
            }
        }
        Tensor::from_slice(&ids)
            .view([rows.len() as i64, self.len])
            .to_device(device)
    }

    /// The most likely label of each sequence.
    pub fn predict(&self, seqs: &[Vec<i64>], device: Device) -> Vec<i64> {
        let _g = tch::no_grad_guard();
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(512) {
            let rows: Vec<&[i64]> = chunk.iter().map(Vec::as_slice).collect();
            let logits = self.model.net.score(&self.ids(&rows, device), false);
            out.extend(
                Vec::<i64>::try_from(logits.argmax(-1, false).to_kind(Kind::Int64)).unwrap(),
            );
        }
        out
    }

    /// Fraction of `seqs` classified as their `labels`.
    pub fn accuracy(&self, seqs: &[Vec<i64>], labels: &[i64], device: Device) -> f64 {
        if seqs.is_empty() {
            return f64::NAN;
        }
        let hits = self
            .predict(seqs, device)
            .iter()
            .zip(labels)
            .filter(|(a, b)| a == b)
            .count();
        hits as f64 / seqs.len() as f64
    }
}
