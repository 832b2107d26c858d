//! LM score and reverse-LM score (Caccia et al. 2020, "Language GANs Falling Short").
//!
//! LM score: NLL of the samples under a language model trained on real data (quality).
//! Reverse-LM score: NLL of real test data under a language model of the same architecture
//! trained from scratch on the samples (diversity: a collapsed generator teaches it little).
use super::corpus_nll;
use crate::config::{GeneratorConfig, TrainConfig};
use crate::data::{Batch, Batcher, Vocab};
use crate::models::GeneratorModel;
use crate::optim::{mle_step, Adam};
use tch::Device;

/// Trains a fresh `cfg` language model on `train` for `epochs` epochs; returns it.
pub fn fit_lm(
    cfg: &GeneratorConfig,
    train_cfg: &TrainConfig,
    vocab: &Vocab,
    max_len: usize,
    train: &[Vec<i64>],
    epochs: usize,
    device: Device,
) -> GeneratorModel {
    tch::manual_seed(train_cfg.seed as i64);
    let model = GeneratorModel::new(cfg, vocab.len() as i64, max_len as i64, device);
    let mut opt = Adam::new(&model.vs, &train_cfg.adam());
    let batcher = Batcher {
        batch_size: train_cfg.batch_size as usize,
        seed: train_cfg.seed,
    };
    for epoch in 0..epochs {
        for idx in batcher.epoch(train.len(), epoch) {
            let rows: Vec<&[i64]> = idx.iter().map(|&i| train[i].as_slice()).collect();
            let batch = Batch::new(&rows, vocab, device);
            let _ = mle_step(
                model.net.as_ref(),
                &mut opt,
                &batch,
                train_cfg.grad_clip,
                train_cfg.lr,
            );
        }
    }
    model
}

/// NLL per token of `seqs` under `model`.
pub fn lm_score(model: &GeneratorModel, vocab: &Vocab, seqs: &[Vec<i64>]) -> f64 {
    corpus_nll(model.net.as_ref(), seqs, vocab, 256, 1.0, model.device())
}
