//! The trunk under a classifier: a text's vector. Either a BERT-family folder (all-MiniLM-L6-v2;
//! read by [`crate::models::bert`], fine-tuned or frozen) or a bidirectional LSTM trained from
//! scratch over the same WordPiece ids; both take a folder's `tokenizer.json`.
use crate::error::{Error, Result};
use crate::eval::encoder::{id_matrix, mean_pool_normalise, wordpiece};
use crate::models::bert::Bert;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{nn, nn::RNN, Kind, Tensor};
use tokenizers::Tokenizer;

/// How a BERT trunk turns its last hidden states into one vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The mean over real tokens, L2-normalised: how all-MiniLM-L6-v2 was trained to embed.
    Mean,
    /// BERT's pooler, tanh(dense([CLS])): what GAN-BERT's code feeds its discriminator.
    Pooler,
}

/// What the trunk is, as a run records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TrunkKind {
    /// The BERT folder's encoder (the run keeps its copy in `trunk/`).
    Bert { pooling: Pooling },
    /// A bidirectional LSTM from scratch over the tokenizer's ids; the vector is the mean of
    /// its outputs over real tokens.
    Lstm { embedding: i64, hidden: i64 },
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "pooler" => Ok(Pooling::Pooler),
            _ => Err(format!("`{s}` is not a pooling (mean or pooler)")),
        }
    }
}

/// The LSTM trunk's layers: an embedding and one LSTM per direction.
struct Lstm {
    emb: nn::Embedding,
    forward: nn::LSTM,
    backward: nn::LSTM,
}

enum Net {
    Bert(Bert, Pooling),
    Lstm(Box<Lstm>),
}

/// A trunk: tokenizer and network, its variables under the `nn::Path` it was built on.
pub struct Trunk {
    pub kind: TrunkKind,
    tokenizer: Tokenizer,
    net: Net,
    /// The length of its vectors.
    pub dim: i64,
    /// Dropout inside the trunk in training (BERT's own 0.1; the LSTM's on its embeddings).
    pub dropout: f64,
}

/// Token ids and their mask [B, T], on the CPU.
pub struct Tokens {
    pub ids: Tensor,
    pub mask: Tensor,
}

impl Trunk {
    /// A trunk of `kind` whose tokenizer (and, for BERT, weights) are in `folder`, its
    /// variables created under `root`; texts are cut to `max_len` tokens.
    pub fn new(kind: &TrunkKind, folder: &Path, root: &nn::Path, max_len: usize) -> Result<Trunk> {
        let (net, dim, dropout) = match kind {
            TrunkKind::Bert { pooling } => {
                // The weights first: a folder of another model type is refused by its name.
                let bert = Bert::load_trainable(folder, root)?;
                if *pooling == Pooling::Pooler && !bert.has_pooler() {
                    return Err(Error::checkpoint(
                        folder.join("model.safetensors"),
                        "no pooler.dense weights, which --pooling pooler needs (use --pooling mean)",
                    ));
                }
                if max_len > bert.config.max_positions as usize {
                    return Err(Error::Config(format!(
                        "max_len {max_len} is longer than the encoder's {} positions",
                        bert.config.max_positions
                    )));
                }
                let dim = bert.config.hidden;
                (Net::Bert(bert, *pooling), dim, 0.1)
            }
            TrunkKind::Lstm { embedding, hidden } => {
                let vocab = wordpiece(folder, max_len)?.get_vocab_size(true) as i64;
                let emb = nn::embedding(root / "embedding", vocab, *embedding, Default::default());
                let cfg = nn::RNNConfig {
                    batch_first: true,
                    ..Default::default()
                };
                let forward = nn::lstm(root / "forward", *embedding, *hidden, cfg);
                let backward = nn::lstm(root / "backward", *embedding, *hidden, cfg);
                let net = Net::Lstm(Box::new(Lstm {
                    emb,
                    forward,
                    backward,
                }));
                (net, 2 * hidden, 0.1)
            }
        };
        let tokenizer = wordpiece(folder, max_len)?;
        Ok(Trunk {
            kind: kind.clone(),
            tokenizer,
            net,
            dim,
            dropout,
        })
    }

    /// WordPiece ids of `texts`, padded to the longest.
    pub fn tokenize(&self, texts: &[String]) -> Result<Tokens> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| Error::Data(format!("tokenizing: {e}")))?;
        Ok(Tokens {
            ids: id_matrix(&enc, |e| e.get_ids()),
            mask: id_matrix(&enc, |e| e.get_attention_mask()),
        })
    }

    /// The vectors [B, dim] of tokenized texts (moved to the trunk's device), with the
    /// trunk's dropout when `train`.
    pub fn forward(&self, tokens: &Tokens, train: bool) -> Tensor {
        let drop = if train { self.dropout } else { 0.0 };
        match &self.net {
            Net::Bert(bert, pooling) => {
                let device = bert.device();
                let (ids, mask) = (tokens.ids.to_device(device), tokens.mask.to_device(device));
                let h = bert.forward_t(&ids, &mask, drop);
                match pooling {
                    Pooling::Mean => mean_pool_normalise(&h, &mask),
                    Pooling::Pooler => bert.pooler(&h),
                }
            }
            Net::Lstm(l) => {
                let Lstm {
                    emb,
                    forward,
                    backward,
                } = l.as_ref();
                let device = emb.ws.device();
                let (ids, mask) = (tokens.ids.to_device(device), tokens.mask.to_device(device));
                let x = ids.apply(emb).dropout(drop, train);
                // Each direction reads only the real tokens (padding comes after them in
                // both), so a text's vector does not depend on the others in its batch.
                let reversed = x.gather(1, &reverse_real(&mask).unsqueeze(-1).expand_as(&x), false);
                let (f, _) = forward.seq(&x);
                let (b, _) = backward.seq(&reversed);
                let m = mask.to_kind(Kind::Float).unsqueeze(-1);
                let count = m
                    .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
                    .clamp_min(1.0);
                let mean = |h: Tensor| {
                    (h * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / &count
                };
                Tensor::cat(&[mean(f), mean(b)], 1)
            }
        }
    }
}

/// For each row of `mask` [B, T] (ones then zeros), the positions that read its real tokens
/// backwards and leave its padding where it is: L-1-j for j < L, j after.
fn reverse_real(mask: &Tensor) -> Tensor {
    let t = mask.size()[1];
    let len = mask.sum_dim_intlist([1i64].as_slice(), true, Kind::Int64);
    let j = Tensor::arange(t, (Kind::Int64, mask.device())).unsqueeze(0);
    let back = &len - 1 - &j;
    back.where_self(&j.lt_tensor(&len), &j.expand_as(&back))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverses_real_tokens_only() {
        let mask = Tensor::from_slice(&[1i64, 1, 1, 0, 1, 0, 0, 0]).view([2, 4]);
        let r: Vec<i64> = Vec::try_from(reverse_real(&mask).view([-1])).unwrap();
        assert_eq!(r, [2, 1, 0, 3, 0, 1, 2, 3]);
    }
}
