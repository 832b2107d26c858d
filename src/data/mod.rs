//! Text in, token ids out: reading corpora, the vocabulary, and batches for teacher forcing.
//!
//! Data knows no networks; the oracle benchmark hands its sampled sequences in through
//! [`Corpus::from_ids`].
mod batch;
mod condition;
mod config;
mod corpus;
pub mod grammar;
mod labelled;
mod parallel;
mod read;
mod subword;
mod tok13a;
mod vocab;

pub use batch::{in_order, Batch, Batcher, IGNORE_INDEX};
pub use condition::{Condition, Conds};
pub use config::{DataConfig, DataSource, Encoding, Overlong, Pretokenize, Tokenizer, MAX_SEQ_LEN};
pub use corpus::{Corpus, EncodeStats};
pub use grammar::Grammar;
pub use labelled::Lines;
pub use parallel::Sources;
pub use read::{read_lines, read_lines_in, read_lines_with_blanks};
pub use subword::Subword;
pub use tok13a::tokenize_13a;
pub use vocab::{tokenize, Vocab, BOS, EOS, PAD, UNK};

/// A temporary file holding `bytes`, for the readers' tests.
#[cfg(test)]
pub(crate) fn test_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}
