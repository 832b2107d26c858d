//! The `[data]` section: where the sentences come from and how they become token ids.
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Longest sequence any model accepts; guards against absurd `max_len` values.
pub const MAX_SEQ_LEN: usize = 4096;

/// Where the sentences come from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DataSource {
    /// Sentences drawn from a probabilistic grammar: the built-in grammar of scene
    /// descriptions, or `data.grammar`'s file. No download; exact metrics (grammar NLL,
    /// validity).
    Grammar,
    /// The COCO captions, Texygen's split (10,000 train and 10,000 test): data set `coco`,
    /// read from the data directory.
    Coco,
    /// Text files named by `train` (and `test`), or one file per class (`classes`).
    Text,
    /// The MR movie-review sentiment corpus (data set `mr`): labels `neg` and `pos`,
    /// Windows-1252, `test_fraction` held out. MR15, the SentiGAN/CatGAN benchmark, is
    /// `max_len = 16` with `overlong = "skip"` (at most 15 words).
    Mr,
    /// Multi30k task 1 (data set `multi30k`): German-English image-caption translation
    /// pairs, `direction` "de-en" (default) or "en-de"; the test set is test_2016_flickr.
    Multi30k,
    /// Sequences drawn from the SeqGAN oracle LSTM (the synthetic benchmark; data set
    /// `seqgan-oracle`).
    Oracle,
    /// Sequences drawn from an oracle LSTM of the same shape with N(0, 1) weights from a
    /// fixed seed: no download.
    #[serde(rename = "oracle-random")]
    OracleRandom,
}

impl DataSource {
    /// Its name in configs.
    pub fn name(self) -> &'static str {
        match self {
            DataSource::Grammar => "grammar",
            DataSource::Coco => "coco",
            DataSource::Text => "text",
            DataSource::Mr => "mr",
            DataSource::Multi30k => "multi30k",
            DataSource::Oracle => "oracle",
            DataSource::OracleRandom => "oracle-random",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Tokenizer {
    /// Whitespace-separated words.
    Word,
    /// One token per character (for text written without spaces, e.g. Chinese poems).
    Char,
    /// Byte-level BPE (GPT-2's kind), trained on the training text (`data.vocab_size` tokens).
    Bpe,
    /// Unigram (SentencePiece's), trained on the training text.
    Unigram,
    /// WordPiece (BERT's), trained on the training text.
    Wordpiece,
    /// The tokenizer of `data.tokenizer_file` (a `tokenizer.json`, e.g. GPT-2's).
    Pretrained,
}

impl Tokenizer {
    /// A subword tokenizer, trained with Hugging Face's `tokenizers`.
    pub fn is_subword(self) -> bool {
        matches!(
            self,
            Tokenizer::Bpe | Tokenizer::Unigram | Tokenizer::Wordpiece
        )
    }
}

/// How a text file's bytes become characters.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8")]
    Utf8,
    /// ISO-8859-1, read as its superset Windows-1252 (as web browsers do).
    #[serde(rename = "latin-1")]
    Latin1,
    #[serde(rename = "windows-1252")]
    Windows1252,
}

/// `data.train`, `data.test` and `data.classes` name files, which only `source = "text"` reads.
fn check_files_need_text(d: &DataConfig) -> crate::Result<()> {
    ensure(
        (d.train.is_none() && d.test.is_none() && d.classes.is_empty())
            || d.source == DataSource::Text,
        || {
            format!(
                "data.train and data.test name files of sentences, read only with data.source = \"text\" (this config reads {})",
                d.source.name()
            )
        },
    )
    .map_err(|e| e.with_fix(crate::error::Fix::GiveTextFile))
}

fn is_default_source_len(n: &usize) -> bool {
    *n == 128
}

/// Tokenisation applied to the text as it is read.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum Pretokenize {
    #[default]
    #[serde(rename = "none")]
    None,
    #[serde(rename = "13a")]
    Thirteen,
}

impl Pretokenize {
    fn is_none(&self) -> bool {
        *self == Pretokenize::None
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Overlong {
    /// Keep the first `max_len - 1` tokens (the last slot holds `<eos>`).
    Truncate,
    /// Drop the sentence.
    Skip,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub source: DataSource,
    /// Training file (source = "text"): UTF-8, one sentence a line.
    pub train: Option<PathBuf>,
    /// Test file; when absent, `test_fraction` of the training lines are held out.
    pub test: Option<PathBuf>,
    /// `train` and `test` hold `label<TAB>text` lines: a labelled corpus.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub labelled: bool,
    /// One file per class, by class name (`classes = { pos = "a.pos", neg = "a.neg" }`):
    /// a labelled corpus read with source = "text" instead of `train`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub classes: std::collections::BTreeMap<String, PathBuf>,
    /// `train` and `test` hold `source<TAB>target` lines: a parallel corpus (translation,
    /// dialogue context -> reply).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub parallel: bool,
    /// Source files line-aligned with `train` and `test` (which then hold the targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_source: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_source: Option<PathBuf>,
    /// Multi30k's direction: "de-en" or "en-de".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// One vocabulary for sources and targets (a shared embedding in the encoder-decoder).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shared_vocab: bool,
    /// Longest source in tokens; longer sources are cut and counted.
    #[serde(skip_serializing_if = "is_default_source_len")]
    pub max_source_len: usize,
    /// Split punctuation off words before the vocabulary sees the text: "13a" (sacreBLEU's
    /// tokenizer, for raw text such as Multi30k's) or "none".
    #[serde(skip_serializing_if = "Pretokenize::is_none")]
    pub pretokenize: Pretokenize,
    /// The text files' encoding: `utf-8` (default), `latin-1` or `windows-1252` (the MR
    /// sentiment corpus).
    pub encoding: Encoding,
    /// Fraction of training lines held out as test data when no test file is given.
    pub test_fraction: f64,
    pub tokenizer: Tokenizer,
    /// A Hugging Face `tokenizer.json` to read text with (`tokenizer = "pretrained"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer_file: Option<PathBuf>,
    /// Vocabulary cap, counting the special tokens (0 = no cap).
    pub vocab_size: usize,
    /// Words seen fewer times than this become `<unk>`.
    pub min_count: usize,
    /// Maximum tokens per sequence including `<eos>` (0 = longest training sentence + 1).
    pub max_len: usize,
    /// What to do with sentences longer than `max_len`.
    pub overlong: Overlong,
    /// Oracle benchmark: number of training sequences drawn from the oracle.
    pub oracle_samples: usize,
    /// Oracle benchmark: sequence length.
    pub oracle_seq_len: usize,
    /// Oracle benchmark: seed of the draw of the training and test sequences.
    pub oracle_seed: u64,
    /// Grammar benchmark: a grammar file of your own (absent: the built-in scene grammar).
    pub grammar: Option<PathBuf>,
    /// Grammar benchmark: training and test sentences drawn, and the draw's seed.
    pub grammar_train: usize,
    pub grammar_test: usize,
    pub grammar_seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source: DataSource::Grammar,
            train: None,
            test: None,
            labelled: false,
            classes: Default::default(),
            parallel: false,
            train_source: None,
            test_source: None,
            direction: None,
            shared_vocab: false,
            max_source_len: 128,
            pretokenize: Pretokenize::None,
            encoding: Encoding::Utf8,
            test_fraction: 0.1,
            tokenizer: Tokenizer::Word,
            tokenizer_file: None,
            vocab_size: 20_000,
            min_count: 1,
            max_len: 0,
            overlong: Overlong::Truncate,
            oracle_samples: 10_000,
            oracle_seq_len: 20,
            oracle_seed: 88,
            grammar: None,
            grammar_train: 10_000,
            grammar_test: 2_000,
            grammar_seed: 7,
        }
    }
}

impl DataConfig {
    /// Whether the data are pairs (a source per sentence).
    pub fn is_parallel(&self) -> bool {
        self.parallel || self.train_source.is_some() || self.source == DataSource::Multi30k
    }

    /// The settings of a parallel corpus.
    fn validate_pairs(&self) -> Result<()> {
        let d = self;
        ensure(!(d.parallel && d.train_source.is_some()), || {
            "data.parallel (source<TAB>target lines) and data.train_source (aligned files) both give sources: use one".into()
        })?;
        ensure(
            !(d.parallel || d.train_source.is_some()) || d.train.is_some(),
            || {
                "a parallel corpus needs data.train (the targets, or source<TAB>target lines)"
                    .into()
            },
        )?;
        ensure(
            d.test_source.is_none() || (d.train_source.is_some() && d.test.is_some()),
            || "data.test_source needs data.train_source and data.test".into(),
        )?;
        ensure(
            d.train_source.is_none() || d.test.is_none() || d.test_source.is_some(),
            || "data.test holds targets here: give their sources as data.test_source".into(),
        )?;
        ensure(
            !(d.labelled && (d.parallel || d.train_source.is_some())),
            || "a corpus is labelled or parallel, not both".into(),
        )?;
        ensure(
            d.direction.is_none() || d.source == DataSource::Multi30k,
            || "data.direction is for data.source = \"multi30k\"".into(),
        )?;
        ensure(
            matches!(d.direction.as_deref(), None | Some("de-en") | Some("en-de")),
            || {
                format!(
                    "data.direction must be \"de-en\" or \"en-de\", got {:?}",
                    d.direction.as_deref().unwrap_or("")
                )
            },
        )?;
        ensure((1..=MAX_SEQ_LEN).contains(&d.max_source_len), || {
            format!(
                "data.max_source_len must be in 1..={MAX_SEQ_LEN}, got {}",
                d.max_source_len
            )
        })?;
        Ok(())
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let d = self;
        ensure(
            (d.tokenizer == Tokenizer::Pretrained) == d.tokenizer_file.is_some(),
            || {
                "data.tokenizer = \"pretrained\" goes with data.tokenizer_file (a tokenizer.json), and only with it".into()
            },
        )?;
        ensure(!(d.tokenizer.is_subword() && d.is_parallel()), || {
            "data.tokenizer = \"bpe\", \"unigram\" or \"wordpiece\" is not supported for parallel corpora yet (use \"word\")".into()
        })?;
        ensure(
            d.source != DataSource::Text || d.train.is_some() || !d.classes.is_empty(),
            || {
                "data.source = \"text\" needs data.train (a UTF-8 file, one sentence a line) or data.classes (a file per class)".into()
            },
        )?;
        ensure(d.classes.is_empty() || d.train.is_none(), || {
            "data.classes and data.train both name training text: give one".into()
        })?;
        ensure(d.classes.is_empty() || d.classes.len() >= 2, || {
            "data.classes names one class: a label-conditional model needs at least two".into()
        })?;
        d.validate_pairs()?;
        ensure(!d.labelled || d.train.is_some(), || {
            "data.labelled reads `label<TAB>text` lines from data.train, which is not set".into()
        })?;
        ensure((0.0..0.9).contains(&d.test_fraction), || {
            format!(
                "data.test_fraction must be in [0, 0.9), got {}",
                d.test_fraction
            )
        })?;
        ensure(d.vocab_size == 0 || d.vocab_size >= 5, || {
            format!(
                "data.vocab_size must be 0 (no cap) or at least 5, got {}",
                d.vocab_size
            )
        })?;
        ensure(d.min_count >= 1, || {
            "data.min_count must be at least 1".into()
        })?;
        ensure(d.max_len <= MAX_SEQ_LEN, || {
            format!(
                "data.max_len must be at most {MAX_SEQ_LEN}, got {}",
                d.max_len
            )
        })?;
        ensure(d.max_len != 1, || {
            "data.max_len must be at least 2 (one token and <eos>) or 0 (from the data)".into()
        })?;
        check_files_need_text(d)?;
        ensure(
            d.grammar.is_none() || d.source == DataSource::Grammar,
            || "data.grammar needs data.source = \"grammar\"".into(),
        )?;
        ensure(
            (1..=1_000_000).contains(&d.grammar_train) && d.grammar_test <= 1_000_000,
            || {
                "data.grammar_train must be in 1..=1000000 and data.grammar_test at most 1000000"
                    .into()
            },
        )?;
        ensure((1..=1_000_000).contains(&d.oracle_samples), || {
            format!(
                "data.oracle_samples must be in 1..=1000000, got {}",
                d.oracle_samples
            )
        })?;
        ensure((1..=MAX_SEQ_LEN).contains(&d.oracle_seq_len), || {
            format!(
                "data.oracle_seq_len must be in 1..={MAX_SEQ_LEN}, got {}",
                d.oracle_seq_len
            )
        })
    }
}
