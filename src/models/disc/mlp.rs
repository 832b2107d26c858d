//! MLP discriminator over mean-pooled embeddings (seed 001's small classifier).
use super::{Discriminator, Table};
use crate::config::MlpDiscConfig;
use tch::{nn, nn::Module, Kind, Tensor};

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
