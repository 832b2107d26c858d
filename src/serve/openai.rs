//! `POST /v1/completions` in the OpenAI completions shape (REFERENCE-wave2 §7): the request
//! mapped onto [`Draw`]s, the texts mapped back onto choices.
use crate::error::Result;
use crate::infer::{invalid, Draw, Text};
use serde::Deserialize;
use serde_json::{json, Value};

/// One string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn list(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// The request. Fields OpenAI clients send that change nothing here (`user`, penalties of 0,
/// `best_of` 1, an empty `logit_bias`, ...) are accepted and ignored; values that would
/// change the answer and are not supported are refused, and so are unknown fields (as
/// OpenAI refuses them). `null` stands for "the default" in every field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub prompt: Option<Value>,
    #[serde(default)]
    pub max_tokens: Option<usize>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    /// vLLM's extra.
    #[serde(default)]
    pub top_k: Option<i64>,
    #[serde(default)]
    pub n: Option<usize>,
    #[serde(default)]
    pub stop: Option<OneOrMany>,
    #[serde(default)]
    pub logprobs: Option<usize>,
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub stream: Option<bool>,
    /// Only with `stream`: accepted and unused.
    #[serde(default)]
    #[allow(dead_code)]
    pub stream_options: Option<Value>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub best_of: Option<usize>,
    /// textgan's extra: decoding with the run's discriminator (as `/v1/generate`'s `guide`).
    #[serde(default)]
    pub guide: Option<crate::infer::Guide>,
    #[serde(default)]
    pub suffix: Option<String>,
    /// An end-user id for OpenAI's abuse monitoring: accepted and unused.
    #[serde(default)]
    #[allow(dead_code)]
    pub user: Option<String>,
    #[serde(default)]
    pub logit_bias: Option<serde_json::Map<String, Value>>,
    /// textgan's own: the label or source of a conditional run.
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub source: Option<String>,
}

/// OpenAI's default `max_tokens`.
const DEFAULT_MAX_TOKENS: usize = 16;

impl CompletionRequest {
    /// The prompts (one draw each) and the draw's settings; refuses what is not supported.
    pub fn draws(&self) -> Result<Vec<Draw>> {
        if self.stream == Some(true) {
            return Err(invalid("stream is not supported: ask without it"));
        }
        if self.logit_bias.as_ref().is_some_and(|b| !b.is_empty()) {
            return Err(invalid("logit_bias is not supported"));
        }
        if self.logprobs.is_some_and(|k| k > 5) {
            return Err(invalid("logprobs must be at most 5"));
        }
        if self.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(invalid("suffix is not supported"));
        }
        for (name, v) in [
            ("presence_penalty", self.presence_penalty),
            ("frequency_penalty", self.frequency_penalty),
        ] {
            if v.is_some_and(|v| v != 0.0) {
                return Err(invalid(format!("{name} is not supported (only 0)")));
            }
        }
        if self.best_of.is_some_and(|b| b > 1) {
            return Err(invalid("best_of is not supported (only 1)"));
        }
        let prompts =
            match &self.prompt {
                None | Some(Value::Null) => vec![String::new()],
                Some(Value::String(s)) => vec![s.clone()],
                Some(Value::Array(a)) if a.is_empty() => {
                    return Err(invalid(
                        "prompt is an empty array: give a string or strings",
                    ))
                }
                Some(Value::Array(a)) if a.iter().all(Value::is_string) => a
                    .iter()
                    .map(|v| v.as_str().unwrap_or_default().to_string())
                    .collect(),
                Some(_) => return Err(invalid(
                    "prompt must be a string or an array of strings (token ids are not supported)",
                )),
            };
        let t = self.temperature.unwrap_or(1.0);
        if !(0.0..=2.0).contains(&t) {
            return Err(invalid(format!(
                "temperature must be in [0, 2], got {}",
                crate::error::shown(t)
            )));
        }
        let stops = self.stop.as_ref().map(OneOrMany::list).unwrap_or_default();
        if stops.len() > 4 || stops.iter().any(String::is_empty) {
            return Err(invalid("stop: up to 4 non-empty sequences"));
        }
        if self.max_tokens == Some(0) {
            return Err(invalid("max_tokens must be at least 1"));
        }
        // Temperature 0 is OpenAI's greedy decoding (and so is anything too small to divide
        // logits by in float32).
        let greedy = t < 0.01;
        Ok(prompts
            .into_iter()
            .map(|prompt| Draw {
                n: self.n.unwrap_or(1),
                temperature: if greedy { 1.0 } else { t },
                greedy,
                top_p: self.top_p.unwrap_or(1.0),
                top_k: self.top_k.unwrap_or(0),
                seed: self.seed,
                prompt,
                label: self.label.clone(),
                source: self.source.clone(),
                max_tokens: Some(self.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
                max_tokens_is_default: self.max_tokens.is_none(),
                top_logprobs: self.logprobs.unwrap_or(0),
                run: self.model.clone(),
                guide: self.guide,
                ..Draw::default()
            })
            .collect())
    }

    /// The response body for the texts of each prompt, in order.
    pub fn response(&self, model: &str, texts: &[Vec<Text>]) -> Value {
        let stops = self.stop.as_ref().map(OneOrMany::list).unwrap_or_default();
        let mut choices = Vec::new();
        let (mut prompt_tokens, mut completion_tokens) = (0, 0);
        for group in texts {
            for t in group {
                let choice = self.choice(choices.len(), t, &stops);
                completion_tokens += choice.1;
                choices.push(choice.0);
            }
            prompt_tokens += group
                .first()
                .map_or(0, |t| t.tokens.iter().filter(|k| k.prompt).count());
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        json!({
            "id": format!("cmpl-{:016x}", rand::random::<u64>()),
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        })
    }

    /// One choice and the tokens it returns. Tokens are written as they appear in the text
    /// (a word after the first with its leading space, a subword piece as it adds to the
    /// text), alternatives too, so they concatenate to it; a stop sequence ends the text
    /// before it, and the tokens from the one it falls in on are left out.
    fn choice(&self, index: usize, t: &Text, stops: &[String]) -> (Value, usize) {
        let echo = self.echo == Some(true);
        let end = t.tokens.len() - usize::from(t.finish_reason == "stop");
        let mut pieces: Vec<(String, &crate::infer::TokenScore, usize)> = Vec::new();
        let mut text = String::new();
        for (i, k) in t.tokens[..end].iter().enumerate() {
            if k.prompt && !echo {
                continue;
            }
            let piece = k.piece.clone();
            text.push_str(&piece);
            pieces.push((piece, k, i));
        }
        let mut finish = t.finish_reason;
        // A stop sequence is looked for in the generated part only.
        let start: usize = pieces
            .iter()
            .filter(|p| p.1.prompt)
            .map(|p| p.0.len())
            .sum();
        if let Some(cut) = stops
            .iter()
            .filter_map(|s| text[start..].find(s.as_str()))
            .min()
        {
            text.truncate(start + cut);
            finish = "stop";
            let mut at = 0;
            pieces.retain(|p| {
                at += p.0.len();
                at <= text.len()
            });
        }
        let generated = pieces.iter().filter(|p| !p.1.prompt).count();
        let logprobs = self.logprobs.map(|_| {
            let mut offset = 0;
            let (mut toks, mut lps, mut tops, mut offs) = (vec![], vec![], vec![], vec![]);
            for (piece, k, _) in &pieces {
                offs.push(offset);
                offset += piece.len();
                toks.push(piece.clone());
                lps.push(k.logprob);
                let top: serde_json::Map<String, Value> = k
                    .top
                    .iter()
                    .zip(&k.top_pieces)
                    .map(|((_, p), s)| (s.clone(), json!(p)))
                    .collect();
                tops.push(Value::Object(top));
            }
            json!({"tokens": toks, "token_logprobs": lps, "top_logprobs": tops, "text_offset": offs})
        });
        let choice = json!({
            "index": index,
            "text": text,
            "logprobs": logprobs,
            "finish_reason": finish,
        });
        (choice, generated)
    }
}
