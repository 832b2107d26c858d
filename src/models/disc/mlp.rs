//! MLP discriminator over mean-pooled embeddings (seed 001's small classifier).
use super::{Discriminator, Table};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

/// The MLP discriminator's settings (`[discriminator] kind = "mlp"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MlpDiscConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
}

impl Default for MlpDiscConfig {
    fn default() -> Self {
        MlpDiscConfig {
            embed_dim: 64,
            hidden_dim: 256,
        }
    }
}

impl MlpDiscConfig {
    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        ensure(self.embed_dim >= 1 && self.hidden_dim >= 1, || {
            "discriminator sizes must be positive".into()
        })
    }
}

pub struct MlpDiscriminator {
    emb: Table,
    hidden: nn::Linear,
    out: nn::Linear,
}

impl MlpDiscriminator {
    pub fn new(p: &nn::Path, c: &MlpDiscConfig, vocab: i64) -> Self {
        MlpDiscriminator {
            emb: Table::new(p / "embed", vocab, c.embed_dim),
            hidden: nn::linear(p / "hidden", c.embed_dim, c.hidden_dim, Default::default()),
            out: nn::linear(p / "out", c.hidden_dim, 1, Default::default()),
        }
    }
}

impl Discriminator for MlpDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.emb.lookup(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.emb.soft(probs)
    }

    fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
        let pooled = emb.mean_dim([1i64].as_slice(), false, Kind::Float); // [B, E]
        self.out.forward(&self.hidden.forward(&pooled).leaky_relu()) // [B, 1]
    }
}
