//! The vocabulary: word- or character-level tokens, special ids, and encoding and decoding.
use super::Tokenizer;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const PAD: &str = "<pad>";
pub const BOS: &str = "<bos>";
pub const EOS: &str = "<eos>";
pub const UNK: &str = "<unk>";

/// Token strings by id, with the special ids a model needs to read and write sequences.
///
/// Text vocabularies hold `<pad>`=0, `<bos>`=1, `<eos>`=2, `<unk>`=3 and then the words, most
/// frequent first. The oracle's vocabulary is the ids "0".."4999" with no specials: its start
/// token is id 0, a real token, and its sequences have a fixed length and no end marker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Vocab {
    pub tokenizer: Tokenizer,
    pub tokens: Vec<String>,
    pub pad: Option<i64>,
    pub bos: i64,
    pub eos: Option<i64>,
    pub unk: Option<i64>,
    /// Class names of a labelled corpus, by label id (sorted by name); empty when the text
    /// carries no labels. A label-conditional model's condition vocabulary.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// The source side's vocabulary of a parallel corpus, when it has its own (not shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Box<Vocab>>,
    /// A subword tokenizer (`data.tokenizer = "bpe"`, ...): it encodes and decodes, and
    /// `tokens` are its pieces by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subword: Option<super::Subword>,
    #[serde(skip)]
    index: HashMap<String, i64>,
}

impl Vocab {
    /// Builds a vocabulary from training lines: `max_size` caps it (specials included, 0 = no cap),
    /// tokens seen fewer than `min_count` times are left out (they encode as `<unk>`).
    pub fn build<'a>(
        lines: impl IntoIterator<Item = &'a str>,
        tokenizer: Tokenizer,
        max_size: usize,
        min_count: usize,
    ) -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for line in lines {
            for tok in tokenize(line, tokenizer) {
                *counts.entry(tok.to_string()).or_default() += 1;
            }
        }
        let specials = [PAD, BOS, EOS, UNK];
        let mut words: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(w, c)| *c >= min_count && !specials.contains(&w.as_str()))
            .collect();
        // Most frequent first; ties broken alphabetically so the ids do not depend on hash order.
        words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        if max_size > 0 {
            words.truncate(max_size.saturating_sub(specials.len()));
        }
        let tokens = specials
            .iter()
            .map(|s| s.to_string())
            .chain(words.into_iter().map(|(w, _)| w))
            .collect();
        Self::from_parts(tokenizer, tokens, Some(0), 1, Some(2), Some(3))
    }

    /// The vocabulary of a trained subword tokenizer: its pieces, with `<pad>`, `<bos>`,
    /// `<eos>` and `<unk>` where it put them.
    pub fn of_subword(tokenizer: Tokenizer, sw: super::Subword) -> Result<Self> {
        let id = |t: &str| {
            sw.id(t)
                .ok_or_else(|| Error::Data(format!("tokenizer: no {t} token")))
        };
        let (pad, bos, eos, unk) = (id(PAD)?, id(BOS)?, id(EOS)?, id(UNK)?);
        let mut v = Self::from_parts(tokenizer, sw.tokens(), Some(pad), bos, Some(eos), Some(unk));
        v.subword = Some(sw);
        Ok(v)
    }

    /// The vocabulary of a given tokenizer (`data.tokenizer_file`): its specials found by the
    /// names the common families use (GPT-2's `<|endoftext|>` starts and ends texts, and it
    /// has no padding, so none is banned from generation).
    pub fn of_pretrained(sw: super::Subword) -> Result<Self> {
        let find = |names: &[&str]| names.iter().find_map(|n| sw.id(n));
        let eos = find(&[EOS, "</s>", "<|endoftext|>", "[SEP]"]).ok_or_else(|| {
            Error::Data(
                "tokenizer: no end-of-text token (<eos>, </s>, <|endoftext|> or [SEP])".into(),
            )
        })?;
        let bos = find(&[BOS, "<s>", "<|endoftext|>", "[CLS]"]).unwrap_or(eos);
        let (pad, unk) = (find(&[PAD, "[PAD]"]), find(&[UNK, "[UNK]"]));
        let mut v = Self::from_parts(Tokenizer::Pretrained, sw.tokens(), pad, bos, Some(eos), unk);
        v.subword = Some(sw);
        Ok(v)
    }

    /// The SeqGAN oracle's vocabulary: ids as their own names, start token 0, no specials.
    pub fn numeric(size: usize) -> Self {
        Self::from_parts(
            Tokenizer::Word,
            (0..size).map(|i| i.to_string()).collect(),
            None,
            0,
            None,
            None,
        )
    }

    pub fn from_parts(
        tokenizer: Tokenizer,
        tokens: Vec<String>,
        pad: Option<i64>,
        bos: i64,
        eos: Option<i64>,
        unk: Option<i64>,
    ) -> Self {
        let mut v = Vocab {
            tokenizer,
            tokens,
            pad,
            bos,
            eos,
            unk,
            labels: Vec::new(),
            source: None,
            subword: None,
            index: HashMap::new(),
        };
        v.reindex();
        v
    }

    /// Checks a vocabulary read from a file: tokens, and special ids that index them.
    pub fn validate(&self) -> crate::Result<()> {
        let n = self.tokens.len() as i64;
        let bad = |what: &str, id: i64| {
            crate::Error::Data(format!(
                "vocabulary: {what} id {id} is outside its {n} tokens"
            ))
        };
        if n == 0 {
            return Err(crate::Error::Data("vocabulary: no tokens".into()));
        }
        if !(0..n).contains(&self.bos) {
            return Err(bad("<bos>", self.bos));
        }
        for (what, id) in [
            ("<pad>", self.pad),
            ("<eos>", self.eos),
            ("<unk>", self.unk),
        ] {
            if let Some(id) = id.filter(|i| !(0..n).contains(i)) {
                return Err(bad(what, id));
            }
        }
        if self.index.len() != self.tokens.len() {
            return Err(crate::Error::Data(
                "vocabulary: a token appears twice".into(),
            ));
        }
        Ok(())
    }

    /// Rebuilds the token index after deserialization.
    pub fn reindex(&mut self) {
        self.index = self
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as i64))
            .collect();
        if let Some(s) = &mut self.source {
            s.reindex();
        }
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn id(&self, token: &str) -> Option<i64> {
        self.index.get(token).copied()
    }

    /// Id of a class label, or an error naming the known ones.
    pub fn label_id(&self, label: &str) -> Result<i64> {
        match self.labels.iter().position(|l| l == label) {
            Some(i) => Ok(i as i64),
            None if self.labels.is_empty() => Err(Error::Data(format!(
                "label `{label}` given, but this model was trained without labels"
            ))),
            None => Err(Error::Data(format!(
                "unknown label `{label}`: the labels are {}",
                self.labels.join(", ")
            ))),
        }
    }

    /// Token ids of a line, without `<bos>` or `<eos>`. Unknown tokens become `<unk>`; a
    /// vocabulary without `<unk>` (the oracle's) rejects them.
    pub fn encode(&self, line: &str) -> Result<Vec<i64>> {
        if let Some(sw) = &self.subword {
            return sw.encode(line);
        }
        tokenize(line, self.tokenizer)
            .map(|t| match (self.id(t), self.unk) {
                (Some(id), _) => Ok(id),
                (None, Some(unk)) => Ok(unk),
                (None, None) => Err(Error::Data(format!("token `{t}` is not in the vocabulary"))),
            })
            .collect()
    }

    /// Text of a sequence: stops at `<eos>`, drops padding and `<bos>`.
    pub fn decode(&self, ids: &[i64]) -> String {
        if let Some(sw) = &self.subword {
            let end = ids
                .iter()
                .position(|&t| Some(t) == self.eos)
                .unwrap_or(ids.len());
            return sw.decode(&ids[..end]);
        }
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            if Some(id) == self.eos {
                break;
            }
            if Some(id) == self.pad || (self.pad.is_some() && id == self.bos) {
                continue;
            }
            out.push(
                self.tokens
                    .get(id as usize)
                    .map(String::as_str)
                    .unwrap_or(UNK),
            );
        }
        match self.tokenizer {
            Tokenizer::Char => out.concat(),
            _ => out.join(" "),
        }
    }

    /// Ids a generator must never emit: padding and the start marker (text vocabularies only).
    pub fn never_generated(&self) -> Vec<i64> {
        match self.pad {
            Some(pad) => vec![pad, self.bos],
            None => vec![],
        }
    }
}

/// Splits a line into tokens: on whitespace, or into characters (whitespace dropped).
pub fn tokenize(line: &str, tokenizer: Tokenizer) -> Box<dyn Iterator<Item = &str> + '_> {
    match tokenizer {
        // Subword pieces come from their tokenizer; word counts stand in for them here.
        Tokenizer::Word
        | Tokenizer::Bpe
        | Tokenizer::Unigram
        | Tokenizer::Wordpiece
        | Tokenizer::Pretrained => Box::new(line.split_whitespace()),
        Tokenizer::Char => Box::new(
            line.char_indices()
                .filter(|(_, c)| !c.is_whitespace())
                .map(move |(i, c)| &line[i..i + c.len_utf8()]),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_vocab_orders_by_frequency_and_caps() {
        let lines = ["a b b c", "b c c c", "d"];
        let v = Vocab::build(lines.iter().copied(), Tokenizer::Word, 0, 1);
        assert_eq!(&v.tokens[..4], &[PAD, BOS, EOS, UNK]);
        assert_eq!(&v.tokens[4..], &["c", "b", "a", "d"]); // c:4 b:3, then a and d (1 each) alphabetically
        let capped = Vocab::build(lines.iter().copied(), Tokenizer::Word, 6, 1);
        assert_eq!(capped.len(), 6);
        assert_eq!(capped.encode("a d c z").unwrap(), vec![3, 3, 4, 3]);
        let min2 = Vocab::build(lines.iter().copied(), Tokenizer::Word, 0, 2);
        assert_eq!(&min2.tokens[4..], &["c", "b"]);
    }

    #[test]
    fn decode_stops_at_eos_and_skips_padding() {
        let v = Vocab::build(["x y"].iter().copied(), Tokenizer::Word, 0, 1);
        let x = v.id("x").unwrap();
        let y = v.id("y").unwrap();
        assert_eq!(v.decode(&[1, x, y, 2, x, 0]), "x y");
        assert_eq!(v.decode(&[x, 0, y]), "x y");
    }

    #[test]
    fn char_mode_splits_characters_and_joins_without_spaces() {
        let v = Vocab::build(
            ["床前明月光", "疑是 地上霜"].iter().copied(),
            Tokenizer::Char,
            0,
            1,
        );
        assert_eq!(v.len(), 4 + 10);
        let ids = v.encode("明月 光").unwrap();
        assert_eq!(ids.len(), 3);
        assert_eq!(v.decode(&ids), "明月光");
    }

    #[test]
    fn numeric_vocab_has_no_specials() {
        let v = Vocab::numeric(5000);
        assert_eq!(v.encode("0 17 4999").unwrap(), vec![0, 17, 4999]);
        assert!(v.encode("5000").is_err());
        assert_eq!(v.decode(&[0, 1, 0]), "0 1 0");
        assert!(v.never_generated().is_empty());
    }
}
