//! Inference on a trained run: its generator and, where the run has one, its discriminator as
//! a network, answering validated requests: generate (sampling or beam search), score, rerank
//! and translate. `textgan sample`, `translate`, `report` and the server all go through it;
//! nothing here builds a training algorithm.
mod cond;
mod engine;
mod errors;
pub mod guide;
mod load;
mod scoring;
mod stream;

pub use cond::RowCond;
pub use engine::{Engine, Prepared, Text, TokenScore};
pub use errors::{invalid, no_discriminator};

use crate::error::Result;

use crate::models::Sampling;
use serde::Deserialize;

/// A generate request in the engine's terms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Draw {
    /// Texts to draw.
    pub n: usize,
    /// Logits are divided by this before the softmax.
    pub temperature: f64,
    /// Sample among the k most likely tokens only (0: all).
    pub top_k: i64,
    /// Nucleus sampling: the smallest set of tokens with probability >= p.
    pub top_p: f64,
    /// Always take the most likely token.
    pub greedy: bool,
    /// Beam search of this width instead of sampling (n must be 1).
    pub beam: Option<i64>,
    /// Seed for this request alone (it is then drawn in a batch of its own, reproducibly).
    pub seed: Option<i64>,
    /// Text every sample starts with.
    pub prompt: String,
    pub label: Option<String>,
    pub source: Option<String>,
    /// Tokens to generate after the prompt at most (default: up to the run's length).
    pub max_tokens: Option<usize>,
    /// Also score each token with the discriminator (adversarial runs).
    pub discriminator: bool,
    /// The k most likely tokens at each position, with their log-probabilities (0: none).
    pub top_logprobs: usize,
    /// The whole text's length in tokens, prompt included, where the caller sets it instead of
    /// `max_tokens` (`textgan sample --max-len`): it may pass the run's length, up to the
    /// model's positions.
    #[serde(skip)]
    pub max_len: Option<usize>,
    /// Decoding with the run's discriminator: reranking or residual-energy sampling.
    pub guide: Option<Guide>,
    /// The run to draw from (default: the first served).
    pub run: Option<String>,
    /// `max_tokens` is a default, not the caller's: cut it to what the run allows instead of
    /// refusing (OpenAI's default of 16 on a run of shorter texts).
    #[serde(skip)]
    pub max_tokens_is_default: bool,
}

impl Draw {
    /// A draw with a guide: reranked or energy-sampled; `None` when the draw has no guide.
    pub fn guided(&self, engine: &Engine) -> Option<Result<Vec<Text>>> {
        let plain = Draw {
            guide: None,
            ..self.clone()
        };
        Some(match self.guide? {
            Guide::Rerank { k } => engine.rerank(plain, k),
            Guide::Energy { k, strength } => engine.energy(plain, k, strength),
        })
    }

    pub fn sampling(&self) -> Sampling {
        Sampling {
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            greedy: self.greedy,
        }
    }
}

impl Default for Draw {
    fn default() -> Self {
        Draw {
            n: 1,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            greedy: false,
            beam: None,
            seed: None,
            prompt: String::new(),
            label: None,
            source: None,
            max_tokens: None,
            max_len: None,
            guide: None,
            discriminator: false,
            top_logprobs: 0,
            run: None,
            max_tokens_is_default: false,
        }
    }
}

/// Decoding with a discriminator (see [`guide`]): `{"method": "rerank", "k": 4}` keeps the
/// texts the discriminator finds most likely real of `k` times as many; `{"method": "energy",
/// "k": 4, "strength": 1}` draws each text from `k` in proportion to exp(strength logit D).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Guide {
    Rerank {
        k: usize,
    },
    Energy {
        k: usize,
        #[serde(default = "one")]
        strength: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl Guide {
    /// Samples drawn per text.
    pub fn pool(self) -> usize {
        match self {
            Guide::Rerank { k } | Guide::Energy { k, .. } => k,
        }
    }
}

/// A score request: texts to score under the generator (and the discriminator).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scoring {
    pub texts: Vec<String>,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
    /// Score with the discriminator too (default: when the run has one).
    #[serde(default)]
    pub discriminator: bool,
    #[serde(default)]
    pub top_logprobs: usize,
    #[serde(default)]
    pub run: Option<String>,
}
