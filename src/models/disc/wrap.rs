//! One wrapper for every discriminator that changes its network's input embeddings: instance
//! noise, a class label's vector, a source sentence's summary. [`Wrapped`] implements
//! [`Discriminator`] once, forwarding every method through the wrapped network with the
//! embeddings an [`InputTransform`] makes, so a wrapper cannot forget a method (the label and
//! pair wrappers once dropped the CNN's features, and TextGAN panicked on conditional data).
use super::Discriminator;
use crate::data::Condition;
use tch::Tensor;

/// What a wrapper does to the embeddings the wrapped network reads.
pub trait InputTransform: Send {
    /// The embeddings the wrapped network reads for `emb` [B, T, E] under `cond`, in training
    /// mode or not.
    fn apply(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor;

    /// Whether the transform reads the condition itself (a label's vector, a source's
    /// summary), so the wrapped network sees none; else the network gets it too.
    fn consumes_condition(&self) -> bool;
}

/// A discriminator whose network reads transformed embeddings.
pub struct Wrapped<T: InputTransform> {
    pub(crate) inner: Box<dyn Discriminator>,
    pub(crate) how: T,
}

impl<T: InputTransform> Wrapped<T> {
    /// The embeddings for the wrapped network, and the condition it still sees.
    fn input<'a>(&self, emb: &Tensor, cond: &'a Condition, train: bool) -> (Tensor, &'a Condition) {
        let x = self.how.apply(emb, cond, train);
        match self.how.consumes_condition() {
            true => (x, &Condition::None),
            false => (x, cond),
        }
    }
}

impl<T: InputTransform> Discriminator for Wrapped<T> {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.inner.embed(tokens)
    }
    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.inner.embed_soft(probs)
    }
    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        self.forward_embedded_given(emb, &Condition::None, train)
    }
    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        let (x, cond) = self.input(emb, cond, train);
        self.inner.forward_embedded_given(&x, cond, train)
    }
    fn features_scored(&self, emb: &Tensor, train: bool) -> Option<(Tensor, Tensor)> {
        self.features_scored_given(emb, &Condition::None, train)
    }
    fn features_scored_given(
        &self,
        emb: &Tensor,
        cond: &Condition,
        train: bool,
    ) -> Option<(Tensor, Tensor)> {
        let (x, cond) = self.input(emb, cond, train);
        self.inner.features_scored_given(&x, cond, train)
    }
    fn per_token(&self, emb: &Tensor, train: bool) -> Option<Tensor> {
        self.per_token_given(emb, &Condition::None, train)
    }
    fn per_token_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Option<Tensor> {
        let (x, cond) = self.input(emb, cond, train);
        self.inner.per_token_given(&x, cond, train)
    }
    fn min_len(&self) -> i64 {
        self.inner.min_len()
    }
    /// Evaluation mode without a condition leaves the embeddings as they are: instance noise
    /// takes the wrapped network's shortcut over shared prefixes; the conditional wrappers
    /// score every row (as they always have).
    fn score_completions(&self, base: &Tensor, rows: &Tensor, n: i64) -> Tensor {
        match self.how.consumes_condition() {
            true => super::score_in_chunks(self, rows),
            false => self.inner.score_completions(base, rows, n),
        }
    }
}
