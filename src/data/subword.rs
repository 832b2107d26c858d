//! Subword tokenizers through Hugging Face's `tokenizers` crate: byte-level BPE (GPT-2's
//! kind), Unigram (SentencePiece's) or WordPiece (BERT's), trained on the training text with
//! the special tokens first. The tokenizer travels with the vocabulary as its `tokenizer.json`
//! text, so checkpoints carry it and Python's `tokenizers` reads the same file.
use super::vocab::{BOS, EOS, PAD, UNK};
use super::Tokenizer as Kind;
use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;
use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::unigram::{Unigram, UnigramTrainerBuilder};
use tokenizers::models::wordpiece::{WordPiece, WordPieceTrainerBuilder};
use tokenizers::models::{ModelWrapper, TrainerWrapper};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::metaspace::Metaspace;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{
    AddedToken, DecoderWrapper, NormalizerWrapper, PostProcessorWrapper, PreTokenizerWrapper,
    Tokenizer, TokenizerImpl,
};

/// A trained subword tokenizer and its `tokenizer.json`.
#[derive(Clone)]
pub struct Subword {
    json: String,
    tok: Arc<Tokenizer>,
}

impl std::fmt::Debug for Subword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Subword({} tokens)", self.len())
    }
}

impl PartialEq for Subword {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Serialize for Subword {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.json)
    }
}

impl<'de> Deserialize<'de> for Subword {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let json = String::deserialize(d)?;
        Subword::from_json(json).map_err(serde::de::Error::custom)
    }
}

fn err(e: impl std::fmt::Display) -> Error {
    Error::Data(format!("tokenizer: {e}"))
}

type Impl = TokenizerImpl<
    ModelWrapper,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

impl Subword {
    pub fn from_json(json: String) -> Result<Self> {
        let tok: Tokenizer = json.parse().map_err(err)?;
        Ok(Subword {
            json,
            tok: Arc::new(tok),
        })
    }

    /// Trains a tokenizer of `kind` on `lines`: `vocab_size` tokens (0: 8,000), pieces seen
    /// fewer than `min_count` times left out (BPE and WordPiece), `<pad>`, `<bos>`, `<eos>`,
    /// `<unk>` as ids 0 to 3.
    pub fn train(kind: Kind, lines: &[&str], vocab_size: usize, min_count: usize) -> Result<Self> {
        let specials: Vec<AddedToken> = [PAD, BOS, EOS, UNK]
            .iter()
            .map(|s| AddedToken::from(*s, true))
            .collect();
        let size = if vocab_size == 0 { 8000 } else { vocab_size };
        let min = min_count.max(1) as u64;
        let (model, mut trainer, pre, dec): (
            ModelWrapper,
            TrainerWrapper,
            PreTokenizerWrapper,
            DecoderWrapper,
        ) = match kind {
            Kind::Bpe => (
                BPE::default().into(),
                BpeTrainerBuilder::new()
                    .vocab_size(size)
                    .min_frequency(min)
                    .special_tokens(specials)
                    .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
                    .show_progress(false)
                    .build()
                    .into(),
                ByteLevel::default().into(),
                ByteLevel::default().into(),
            ),
            Kind::Unigram => (
                Unigram::default().into(),
                UnigramTrainerBuilder::default()
                    .vocab_size(size as u32)
                    .special_tokens(specials)
                    .unk_token(Some(UNK.into()))
                    .show_progress(false)
                    .build()
                    .map_err(err)?
                    .into(),
                Metaspace::default().into(),
                Metaspace::default().into(),
            ),
            Kind::Wordpiece => (
                WordPiece::builder()
                    .unk_token(UNK.into())
                    .build()
                    .map_err(err)?
                    .into(),
                WordPieceTrainerBuilder::new()
                    .vocab_size(size)
                    .min_frequency(min)
                    .special_tokens(specials)
                    .show_progress(false)
                    .build()
                    .into(),
                Whitespace {}.into(),
                WordPieceDecoder::default().into(),
            ),
            Kind::Word | Kind::Char | Kind::Pretrained => {
                unreachable!("word and character vocabularies are built, given ones read")
            }
        };
        let mut tok: Impl = TokenizerImpl::new(model);
        tok.with_pre_tokenizer(Some(pre));
        tok.with_decoder(Some(dec));
        tok.train(&mut trainer, lines.iter()).map_err(err)?;
        let tok: Tokenizer = tok.into();
        Subword::from_json(tok.to_string(false).map_err(err)?)
    }

    /// The `tokenizer.json` text.
    pub fn json(&self) -> &str {
        &self.json
    }

    pub fn len(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Token strings by id.
    pub fn tokens(&self) -> Vec<String> {
        (0..self.len() as u32)
            .map(|i| self.tok.id_to_token(i).unwrap_or_default())
            .collect()
    }

    pub fn id(&self, token: &str) -> Option<i64> {
        self.tok.token_to_id(token).map(i64::from)
    }

    /// Ids of a line (no special tokens added).
    pub fn encode(&self, line: &str) -> Result<Vec<i64>> {
        let enc = self.tok.encode(line, false).map_err(err)?;
        Ok(enc.get_ids().iter().map(|&i| i64::from(i)).collect())
    }

    /// Text of ids, special tokens left out.
    pub fn decode(&self, ids: &[i64]) -> String {
        self.decode_raw(ids).trim().to_string()
    }

    /// [`Subword::decode`] without trimming the spaces at the ends.
    pub fn decode_raw(&self, ids: &[i64]) -> String {
        let ids: Vec<u32> = ids.iter().map(|&i| i as u32).collect();
        self.tok.decode(&ids, true).unwrap_or_default()
    }
}
