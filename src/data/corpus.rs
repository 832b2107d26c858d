//! Corpora: reading text files line by line (UTF-8, or Latin-1 / Windows-1252), the named
//! data sets, sentences drawn from a grammar, and encoded train/test splits.
use super::grammar::Grammar;
use super::vocab::Vocab;
use super::{DataConfig, DataSource, Encoding, Overlong, MAX_SEQ_LEN};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// Non-blank lines of a UTF-8 file, trimmed. Names the first line that is not UTF-8.
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    read_lines_in(path, Encoding::Utf8)
}

/// Non-blank lines of a file in `encoding`, trimmed.
pub fn read_lines_in(path: &Path, encoding: Encoding) -> Result<Vec<String>> {
    let mut lines = match encoding {
        Encoding::Utf8 => read_lines_with_blanks(path)?,
        single_byte => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let codec = match single_byte {
                Encoding::Latin1 | Encoding::Windows1252 => encoding_rs::WINDOWS_1252,
                Encoding::Utf8 => unreachable!("handled above"),
            };
            // Every byte maps to a character in these encodings: decoding cannot fail.
            let (text, _, _) = codec.decode(&bytes);
            text.lines().map(|l| l.trim().to_string()).collect()
        }
    };
    lines.retain(|l| !l.is_empty());
    if lines.is_empty() {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
        });
    }
    Ok(lines)
}

/// Every line of a UTF-8 file, trimmed, blank ones included (as `str::lines` splits them: no
/// empty last line after a final newline). Names the first line that is not UTF-8; a file
/// without a non-blank line is an error.
pub fn read_lines_with_blanks(path: &Path) -> Result<Vec<String>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut out = Vec::new();
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = std::str::from_utf8(raw).map_err(|_| Error::NotUtf8 {
            path: path.to_path_buf(),
            line: i + 1,
        })?;
        out.push(line.trim().to_string());
    }
    if bytes.ends_with(b"\n") {
        out.pop();
    }
    if out.iter().all(String::is_empty) {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// What encoding did to sentences that did not fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EncodeStats {
    pub kept: usize,
    pub truncated: usize,
    pub skipped: usize,
}

/// An encoded corpus: the vocabulary, train and test sequences (ids without `<bos>`/`<eos>`) and
/// the maximum sequence length a model must handle (tokens plus `<eos>` where there is one).
#[derive(Debug, Clone)]
pub struct Corpus {
    pub vocab: Vocab,
    pub train: Vec<Vec<i64>>,
    pub test: Vec<Vec<i64>>,
    pub max_len: usize,
    pub train_stats: EncodeStats,
    pub test_stats: EncodeStats,
    /// The raw lines behind `train` and `test` (empty for the oracle): BLEU references and
    /// copy checks use the text as written, not as the vocabulary decodes it (`<unk>`).
    pub train_text: Vec<String>,
    pub test_text: Vec<String>,
}

impl Corpus {
    /// Reads and encodes a text corpus as the config says (source "coco" or "text").
    pub fn load(cfg: &DataConfig, seed: u64) -> Result<Self> {
        let (train_lines, test_lines) = match cfg.source {
            DataSource::Grammar => {
                let (train, test) = grammar_lines(cfg)?;
                (train, Some(test))
            }
            DataSource::Coco => {
                let dir = crate::datasets::set("coco")?.locate()?;
                let train = read_lines(&dir.join("train.txt"))?;
                (train, Some(read_lines(&dir.join("test.txt"))?))
            }
            DataSource::Text => {
                let train_path = cfg
                    .train
                    .as_deref()
                    .ok_or_else(|| Error::Config("data.train is not set".into()))?;
                let read = |p: &Path| read_lines_in(p, cfg.encoding);
                let train = read(train_path)?;
                let test = cfg.test.as_deref().map(read).transpose()?;
                (train, test)
            }
            DataSource::Oracle | DataSource::OracleRandom => {
                return Err(Error::Data(
                    "oracle data is drawn from the oracle, not read".into(),
                ))
            }
        };
        let (train_lines, test_lines) = match test_lines {
            Some(test) => (train_lines, test),
            None => split_off_test(train_lines, cfg.test_fraction, seed),
        };
        refuse_giant_tokens(&train_lines, cfg.tokenizer)?;
        let vocab = Vocab::build(
            train_lines.iter().map(String::as_str),
            cfg.tokenizer,
            cfg.vocab_size,
            cfg.min_count,
        );
        let train_ids: Vec<Vec<i64>> = train_lines
            .iter()
            .map(|l| vocab.encode(l))
            .collect::<Result<_>>()?;
        let test_ids: Vec<Vec<i64>> = test_lines
            .iter()
            .map(|l| vocab.encode(l))
            .collect::<Result<_>>()?;
        let longest = train_ids.iter().map(Vec::len).max().unwrap_or(0);
        let max_len = if cfg.max_len == 0 {
            longest + 1
        } else {
            cfg.max_len
        };
        if max_len > MAX_SEQ_LEN {
            return Err(Error::Data(format!(
                "the longest training sentence has {longest} tokens, over the limit of {MAX_SEQ_LEN}; set data.max_len"
            )));
        }
        let (train, train_stats) = fit(train_ids, max_len - 1, cfg.overlong);
        let (test, test_stats) = fit(test_ids, max_len - 1, cfg.overlong);
        if train.is_empty() {
            return Err(Error::Data(format!(
                "no training sentence fits data.max_len = {max_len} (all were skipped)"
            )));
        }
        Ok(Corpus {
            vocab,
            train,
            test,
            max_len,
            train_stats,
            test_stats,
            train_text: train_lines,
            test_text: test_lines,
        })
    }

    /// The grammar a config names: its file, or the built-in scene grammar.
    pub fn grammar(cfg: &DataConfig) -> Result<Grammar> {
        match &cfg.grammar {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                Grammar::parse(&text).map_err(|e| Error::Config(format!("{}: {e}", path.display())))
            }
            None => Grammar::parse(super::grammar::SCENES),
        }
    }

    /// A corpus of ready-made id sequences (the oracle benchmark): fixed length, no `<eos>`.
    pub fn from_ids(vocab: Vocab, train: Vec<Vec<i64>>, test: Vec<Vec<i64>>) -> Self {
        let max_len = train.iter().chain(&test).map(Vec::len).max().unwrap_or(0);
        let stats = |n| EncodeStats {
            kept: n,
            truncated: 0,
            skipped: 0,
        };
        Corpus {
            train_stats: stats(train.len()),
            test_stats: stats(test.len()),
            vocab,
            train,
            test,
            max_len,
            train_text: Vec::new(),
            test_text: Vec::new(),
        }
    }
}

/// Holds out a seeded random `fraction` of lines as test data.
/// Seeded training and test sentences drawn from the config's grammar (at most `max_len - 1`
/// words, or 40 when `max_len` is 0: longer draws are redrawn).
fn grammar_lines(cfg: &DataConfig) -> Result<(Vec<String>, Vec<String>)> {
    use rand::SeedableRng;
    let g = Corpus::grammar(cfg)?;
    let max_words = match cfg.max_len {
        0 => 40,
        m => m - 1,
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.grammar_seed);
    let train = g.sample_lines(&mut rng, cfg.grammar_train, max_words)?;
    let test = g.sample_lines(&mut rng, cfg.grammar_test, max_words)?;
    Ok((train, test))
}

/// Longest token a vocabulary takes, in characters.
pub const MAX_TOKEN_CHARS: usize = 200;

/// A token of hundreds of characters means the text is not words one sentence a line (a
/// minified file, a binary, a language written without spaces in word mode): say so.
fn refuse_giant_tokens(lines: &[String], tokenizer: super::Tokenizer) -> Result<()> {
    for (i, l) in lines.iter().enumerate() {
        if let Some(t) = super::tokenize(l, tokenizer).find(|t| t.chars().count() > MAX_TOKEN_CHARS)
        {
            return Err(Error::Data(format!(
                "training line {} has a token of {} characters (over {MAX_TOKEN_CHARS}): is this text one sentence a line, with spaces between words? (data.tokenizer = \"char\" for text without spaces)",
                i + 1,
                t.chars().count()
            )));
        }
    }
    Ok(())
}

fn split_off_test(mut lines: Vec<String>, fraction: f64, seed: u64) -> (Vec<String>, Vec<String>) {
    let n_test = ((lines.len() as f64) * fraction).round() as usize;
    if n_test == 0 || n_test >= lines.len() {
        return (lines, Vec::new());
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7e57);
    lines.shuffle(&mut rng);
    let test = lines.split_off(lines.len() - n_test);
    (lines, test)
}

/// Applies the length limit (`limit` tokens before `<eos>`), counting what it changed.
fn fit(seqs: Vec<Vec<i64>>, limit: usize, overlong: Overlong) -> (Vec<Vec<i64>>, EncodeStats) {
    let mut stats = EncodeStats::default();
    let mut out = Vec::with_capacity(seqs.len());
    for mut s in seqs {
        if s.len() > limit {
            match overlong {
                Overlong::Truncate => {
                    s.truncate(limit);
                    stats.truncated += 1;
                }
                Overlong::Skip => {
                    stats.skipped += 1;
                    continue;
                }
            }
        }
        if s.is_empty() {
            stats.skipped += 1;
            continue;
        }
        stats.kept += 1;
        out.push(s);
    }
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Tokenizer;
    use std::io::Write;

    fn file(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    #[test]
    fn reads_lines_and_names_bad_utf8() {
        let f = file(b"a b\n\n  c d \r\n");
        assert_eq!(read_lines(f.path()).unwrap(), vec!["a b", "c d"]);
        assert_eq!(
            read_lines_with_blanks(f.path()).unwrap(),
            vec!["a b", "", "c d"]
        );
        let bad = file(b"ok\nfine\nbad \xff byte\n");
        let e = read_lines(bad.path()).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let empty = file(b"\n  \n");
        assert!(matches!(
            read_lines(empty.path()),
            Err(Error::EmptyCorpus { .. })
        ));
    }

    #[test]
    fn max_len_truncates_or_skips_and_counts() {
        let train = file(b"a b c d e\na b\n");
        let mut cfg = DataConfig {
            source: DataSource::Text,
            train: Some(train.path().into()),
            test_fraction: 0.0,
            max_len: 4,
            ..DataConfig::default()
        };
        let c = Corpus::load(&cfg, 0).unwrap();
        assert_eq!(
            c.train_stats,
            EncodeStats {
                kept: 2,
                truncated: 1,
                skipped: 0
            }
        );
        assert_eq!(c.train[0].len(), 3);
        cfg.overlong = Overlong::Skip;
        let c = Corpus::load(&cfg, 0).unwrap();
        assert_eq!(
            c.train_stats,
            EncodeStats {
                kept: 1,
                truncated: 0,
                skipped: 1
            }
        );
        cfg.max_len = 0;
        let c = Corpus::load(&cfg, 0).unwrap();
        assert_eq!(c.max_len, 6);
    }

    #[test]
    fn holds_out_a_fraction_reproducibly() {
        let text: String = (0..100).map(|i| format!("w{i} x\n")).collect();
        let f = file(text.as_bytes());
        let cfg = DataConfig {
            source: DataSource::Text,
            train: Some(f.path().into()),
            test_fraction: 0.1,
            ..Default::default()
        };
        let a = Corpus::load(&cfg, 7).unwrap();
        let b = Corpus::load(&cfg, 7).unwrap();
        assert_eq!((a.train.len(), a.test.len()), (90, 10));
        assert_eq!(a.test, b.test);
    }

    #[test]
    fn coco_reads_from_the_data_directory() {
        let set = crate::datasets::set("coco").unwrap();
        if let Err(e) = set.locate() {
            eprintln!("skipped: {e}");
            return;
        }
        let cfg = DataConfig::default();
        let c = Corpus::load(
            &DataConfig {
                source: DataSource::Coco,
                ..cfg
            },
            1,
        )
        .unwrap();
        let (train, test) = (c.train_text, c.test_text);
        assert_eq!((train.len(), test.len()), (10_000, 10_000));
        let v = Vocab::build(train.iter().map(String::as_str), Tokenizer::Word, 0, 1);
        assert_eq!(v.len(), 4 + 6094); // `tr -s " " "\n" < train.txt | sort -u | wc -l` = 6094
    }
}
