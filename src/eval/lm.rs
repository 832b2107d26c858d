//! LM score and reverse-LM score (Caccia et al. 2020, "Language GANs Falling Short").
//!
//! LM score: NLL of the samples under a language model trained on real data (quality).
//! Reverse-LM score: NLL of real test data under a language model of the same architecture
//! trained from scratch on the samples (diversity: a collapsed generator teaches it little).
use super::corpus_nll;
use crate::data::{Batch, Batcher, Vocab};
use crate::models::GeneratorConfig;
use crate::models::GeneratorModel;
use crate::optim::{mle_step, Adam, AdamConfig};
use tch::Device;

/// How [`fit_lm`] trains.
#[derive(Debug, Clone)]
pub struct FitSettings {
    pub batch_size: usize,
    pub lr: f64,
    pub grad_clip: f64,
    pub seed: u64,
    pub adam: AdamConfig,
    pub epochs: usize,
}

/// Trains a fresh `cfg` language model on `train` by MLE; returns it.
pub fn fit_lm(
    cfg: &GeneratorConfig,
    fit: &FitSettings,
    vocab: &Vocab,
    max_len: usize,
    train: &[Vec<i64>],
    device: Device,
) -> GeneratorModel {
    tch::manual_seed(fit.seed as i64);
    let model = GeneratorModel::new(cfg, vocab.len() as i64, max_len as i64, device);
    let mut opt = Adam::new(&model.vs, &fit.adam);
    let batcher = Batcher {
        batch_size: fit.batch_size,
        seed: fit.seed,
    };
    for epoch in 0..fit.epochs {
        for idx in batcher.epoch(train.len(), epoch) {
            let rows: Vec<&[i64]> = idx.iter().map(|&i| train[i].as_slice()).collect();
            let batch = Batch::new(&rows, vocab, device);
            let _ = mle_step(model.net.as_ref(), &mut opt, &batch, fit.grad_clip, fit.lr);
        }
    }
    model
}

/// NLL per token of `seqs` under `model`.
pub fn lm_score(model: &GeneratorModel, vocab: &Vocab, seqs: &[Vec<i64>]) -> f64 {
    corpus_nll(model.net.as_ref(), seqs, vocab, 256, 1.0, model.device())
}
