//! A discriminator of (source, target) pairs, for adversarial translation and dialogue: it
//! judges "a human translation of this source", not "human text".
//!
//! As in adversarial NMT's two-tower CNNs (Wu et al. 2018; Yang et al. 2018, REFERENCE-wave2
//! section 2), the source has a tower of its own: its embeddings go through a width-3
//! convolution and ReLU, are max-pooled over the real (unpadded) positions and projected to
//! the target network's embedding width; that summary is added to every target input
//! embedding, so any discriminator (CNN, LSTM, Transformer) reads the pair.
use super::wrap::{InputTransform, Wrapped};
use super::Discriminator;
use crate::data::Condition;
use tch::{nn, nn::Module, Tensor};

/// The source tower: each row's source summary added to its embeddings.
pub struct SourceTower {
    src_embed: nn::Embedding,
    conv: nn::Conv1D,
    proj: nn::Linear,
}

impl SourceTower {
    /// The source summary [B, E] of `ids` [B, S] (padding `pad` left out of the pooling).
    fn summary(&self, ids: &Tensor, pad: i64) -> Tensor {
        let x = self.src_embed.forward(ids).transpose(1, 2); // [B, E, S]
        let h = self.conv.forward(&x).relu(); // [B, E, S]
        let real = ids.ne(pad).unsqueeze(1); // [B, 1, S]
        let pooled = h.masked_fill(&real.logical_not(), -1e4).amax([2], false); // [B, E]
        self.proj.forward(&pooled)
    }
}

impl InputTransform for SourceTower {
    fn apply(&self, emb: &Tensor, cond: &Condition, _train: bool) -> Tensor {
        match cond {
            Condition::Source { ids, pad } => emb + self.summary(ids, *pad).unsqueeze(1),
            _ => emb.shallow_clone(),
        }
    }
    fn consumes_condition(&self) -> bool {
        true
    }
}

/// A discriminator of (source, target) pairs.
pub type PairDiscriminator = Wrapped<SourceTower>;

impl PairDiscriminator {
    /// `src_vocab` source tokens; the target network `inner` takes embeddings of width `dim`.
    pub fn new(p: &nn::Path, inner: Box<dyn Discriminator>, src_vocab: i64) -> Self {
        let p = p / "source";
        let dim = crate::models::embed_dim(|t| inner.embed(t), p.device());
        let conv = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let how = SourceTower {
            src_embed: nn::embedding(&p / "embed", src_vocab, dim, Default::default()),
            conv: nn::conv1d(&p / "conv", dim, dim, 3, conv),
            proj: nn::linear(&p / "proj", dim, dim, Default::default()),
        };
        Wrapped { inner, how }
    }
}
