//! A discriminator of (source, target) pairs, for adversarial translation and dialogue: it
//! judges "a human translation of this source", not "human text".
//!
//! As in adversarial NMT's two-tower CNNs (Wu et al. 2018; Yang et al. 2018, REFERENCE-wave2
//! section 2), the source has a tower of its own: its embeddings go through a width-3
//! convolution and ReLU, are max-pooled over the real (unpadded) positions and projected to
//! the target network's embedding width; that summary is added to every target input
//! embedding, so any discriminator (CNN, LSTM, Transformer) reads the pair.
use super::Discriminator;
use crate::data::Condition;
use tch::{nn, nn::Module, Tensor};

pub struct PairDiscriminator {
    inner: Box<dyn Discriminator>,
    src_embed: nn::Embedding,
    conv: nn::Conv1D,
    proj: nn::Linear,
}

impl PairDiscriminator {
    /// `src_vocab` source tokens; the target network `inner` takes embeddings of width `dim`.
    pub fn new(p: &nn::Path, inner: Box<dyn Discriminator>, src_vocab: i64) -> Self {
        let p = p / "source";
        let dim = crate::models::conditioned::embed_dim(|t| inner.embed(t), p.device());
        let conv = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        PairDiscriminator {
            src_embed: nn::embedding(&p / "embed", src_vocab, dim, Default::default()),
            conv: nn::conv1d(&p / "conv", dim, dim, 3, conv),
            proj: nn::linear(&p / "proj", dim, dim, Default::default()),
            inner,
        }
    }

    /// The source summary [B, E] of `ids` [B, S] (padding `pad` left out of the pooling).
    fn summary(&self, ids: &Tensor, pad: i64) -> Tensor {
        let x = self.src_embed.forward(ids).transpose(1, 2); // [B, E, S]
        let h = self.conv.forward(&x).relu(); // [B, E, S]
        let real = ids.ne(pad).unsqueeze(1); // [B, 1, S]
        let pooled = h.masked_fill(&real.logical_not(), -1e4).amax([2], false); // [B, E]
        self.proj.forward(&pooled)
    }

    /// `emb` with its row's source summary added (as it is without a source).
    fn with_source(&self, emb: &Tensor, cond: &Condition) -> Tensor {
        match cond {
            Condition::Source { ids, pad } => emb + self.summary(ids, *pad).unsqueeze(1),
            _ => emb.shallow_clone(),
        }
    }
}

impl Discriminator for PairDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.inner.embed(tokens)
    }
    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.inner.embed_soft(probs)
    }
    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        self.inner.forward_embedded(emb, train)
    }
    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        self.inner
            .forward_embedded(&self.with_source(emb, cond), train)
    }
    fn per_token(&self, emb: &Tensor, train: bool) -> Option<Tensor> {
        self.inner.per_token(emb, train)
    }
    fn per_token_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Option<Tensor> {
        self.inner.per_token(&self.with_source(emb, cond), train)
    }
    fn features_scored(&self, emb: &Tensor, train: bool) -> Option<(Tensor, Tensor)> {
        self.inner.features_scored(emb, train)
    }
    fn features_scored_given(
        &self,
        emb: &Tensor,
        cond: &Condition,
        train: bool,
    ) -> Option<(Tensor, Tensor)> {
        self.inner
            .features_scored(&self.with_source(emb, cond), train)
    }
    fn min_len(&self) -> i64 {
        self.inner.min_len()
    }
}
