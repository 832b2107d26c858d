//! Sentence features from a BERT-family folder, as `sentence-transformers` computes them for
//! all-MiniLM-L6-v2: WordPiece ids from the folder's `tokenizer.json` ([CLS] and [SEP] added,
//! truncated to `sentence_bert_config.json`'s `max_seq_length`, 256 for MiniLM), the mean of
//! the last hidden states over the real tokens, L2-normalised. The features MAUVE and FED
//! compare; the encoder is named with every number, as values from different encoders are not
//! comparable.
use crate::error::{Error, Result};
use crate::models::bert::Bert;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

pub struct SentenceEncoder {
    bert: Bert,
    tokenizer: Tokenizer,
    /// Where it was read from (named beside every number it gives).
    pub folder: PathBuf,
    /// Texts per forward pass.
    pub batch_size: usize,
}

impl SentenceEncoder {
    /// The encoder of the folder `dir` (`config.json`, `model.safetensors`, `tokenizer.json`,
    /// and optionally `sentence_bert_config.json`).
    pub fn load(dir: &Path, device: Device) -> Result<SentenceEncoder> {
        let bert = Bert::load(dir, device)?;
        let max_len = max_seq_length(dir)?.min(bert.config.max_positions as usize);
        let tokenizer = wordpiece(dir, max_len)?;
        Ok(SentenceEncoder {
            bert,
            tokenizer,
            folder: dir.to_path_buf(),
            batch_size: 64,
        })
    }

    /// The entries of the encoder's vocabulary (WordPiece tokens, `##` pieces included).
    pub fn vocabulary(&self) -> Vec<String> {
        self.tokenizer.get_vocab(false).into_keys().collect()
    }

    /// The features [n, hidden] of `texts`, each row of unit length (an empty text is
    /// [CLS] [SEP]). Texts are batched by length, longest first, as sentence-transformers
    /// does, so little of a batch is padding; the rows come back in the order given.
    pub fn encode(&self, texts: &[String], progress: &mut dyn FnMut(usize)) -> Result<Tensor> {
        let hidden = self.bert.config.hidden;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut rows: Vec<Option<Tensor>> = (0..texts.len()).map(|_| None).collect();
        for chunk in order.chunks(self.batch_size.max(1)) {
            let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
            let enc = self
                .tokenizer
                .encode_batch(batch, true)
                .map_err(|e| Error::Data(format!("tokenizing for the encoder: {e}")))?;
            let device = self.bert.device();
            let ids = id_matrix(&enc, |e| e.get_ids()).to_device(device);
            let mask = id_matrix(&enc, |e| e.get_attention_mask()).to_device(device);
            let h = self.bert.forward(&ids, &mask);
            let feats = mean_pool_normalise(&h, &mask).to_device(Device::Cpu);
            for (j, &i) in chunk.iter().enumerate() {
                rows[i] = Some(feats.get(j as i64));
            }
            progress(chunk.len());
        }
        if rows.is_empty() {
            return Ok(Tensor::zeros([0, hidden], (Kind::Float, Device::Cpu)));
        }
        let rows: Vec<Tensor> = rows.into_iter().flatten().collect();
        Ok(Tensor::stack(&rows, 0))
    }
}

/// The folder's `tokenizer.json`, truncating to `max_len` tokens ([CLS] and [SEP] included)
/// and padding a batch to its longest text with `[PAD]`.
pub fn wordpiece(dir: &Path, max_len: usize) -> Result<Tokenizer> {
    let tok_path = dir.join("tokenizer.json");
    let mut tokenizer =
        Tokenizer::from_file(&tok_path).map_err(|e| Error::checkpoint(&tok_path, e.to_string()))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| Error::checkpoint(&tok_path, e.to_string()))?;
    let pad_id = tokenizer.token_to_id("[PAD]").unwrap_or(0);
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id,
        pad_token: "[PAD]".into(),
        ..Default::default()
    }));
    Ok(tokenizer)
}

/// One row of `field` per encoding (they are padded alike), on the CPU.
pub fn id_matrix(
    enc: &[tokenizers::Encoding],
    field: impl Fn(&tokenizers::Encoding) -> &[u32],
) -> Tensor {
    let width = enc.first().map_or(0, |e| field(e).len());
    let flat: Vec<i64> = enc
        .iter()
        .flat_map(|e| field(e).iter().map(|&x| x as i64))
        .collect();
    Tensor::from_slice(&flat).view([enc.len() as i64, width as i64])
}

/// `sentence_bert_config.json`'s `max_seq_length`; 512 without the file.
pub fn max_seq_length(dir: &Path) -> Result<usize> {
    let path = dir.join("sentence_bert_config.json");
    if !path.exists() {
        return Ok(512);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::checkpoint(&path, format!("not JSON: {e}")))?;
    Ok(v["max_seq_length"].as_u64().unwrap_or(512) as usize)
}

/// sentence-transformers' mean pooling and normalisation: `sum_t h_t m_t / max(sum_t m_t,
/// 1e-9)`, then divided by `max(|x|, 1e-12)`.
pub fn mean_pool_normalise(h: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let sum = (h * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let count = m
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .clamp_min(1e-9);
    let mean = sum / count;
    let norm = mean
        .norm_scalaropt_dim(2, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    mean / norm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_ignores_padding_and_normalises() {
        let h = Tensor::from_slice(&[3.0f32, 0.0, 1.0, 4.0, 100.0, 100.0]).view([1, 3, 2]);
        let mask = Tensor::from_slice(&[1i64, 1, 0]).view([1, 3]);
        let v: Vec<f32> = Vec::try_from(mean_pool_normalise(&h, &mask).view([-1])).unwrap();
        // The mean of (3, 0) and (1, 4) is (2, 2): unit length (0.7071, 0.7071).
        assert!((v[0] - 0.5f32.sqrt()).abs() < 1e-6 && (v[1] - 0.5f32.sqrt()).abs() < 1e-6);
    }
}
