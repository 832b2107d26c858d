//! LSTM discriminator (seed 000's; ScratchGAN's with one logit per time step).
use super::{Discriminator, Table};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, nn::RNN, Tensor};

/// The LSTM discriminator's settings (`[discriminator] kind = "lstm"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmDiscConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
    pub dropout: f64,
}

impl Default for LstmDiscConfig {
    fn default() -> Self {
        LstmDiscConfig {
            embed_dim: 64,
            hidden_dim: 128,
            dropout: 0.0,
        }
    }
}

impl LstmDiscConfig {
    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        ensure(self.embed_dim >= 1 && self.hidden_dim >= 1, || {
            "discriminator sizes must be positive".into()
        })
    }
}

pub struct LstmDiscriminator {
    emb: Table,
    lstm: nn::LSTM,
    out: nn::Linear,
    dropout: f64,
}

impl LstmDiscriminator {
    pub fn new(p: &nn::Path, c: &LstmDiscConfig, vocab: i64) -> Self {
        LstmDiscriminator {
            emb: Table::new(p / "embed", vocab, c.embed_dim),
            lstm: nn::lstm(p / "lstm", c.embed_dim, c.hidden_dim, Default::default()),
            out: nn::linear(p / "out", c.hidden_dim, 1, Default::default()),
            dropout: c.dropout,
        }
    }

    fn hidden(&self, emb: &Tensor, train: bool) -> Tensor {
        let (out, _) = self.lstm.seq(emb); // [B, T, H]
        out.dropout(self.dropout, train)
    }
}

impl Discriminator for LstmDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.emb.lookup(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.emb.soft(probs)
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let h = self.hidden(emb, train);
        let t = h.size()[1];
        self.out.forward(&h.select(1, t - 1)) // [B, 1]: the last step has read the whole sequence
    }

    fn per_token(&self, emb: &Tensor, train: bool) -> Option<Tensor> {
        Some(self.out.forward(&self.hidden(emb, train)).squeeze_dim(2)) // [B, T]
    }
}
