//! Corpora: the named data sets, sentences drawn from a grammar, and encoded train/test
//! splits.
use super::grammar::Grammar;
use super::labelled::{label_ids, label_names, read_class_files, read_tab_lines, Lines};
use super::read::{read_lines, read_lines_in};
use super::vocab::Vocab;
use super::{DataConfig, DataSource, Encoding, Overlong, MAX_SEQ_LEN};
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

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
    /// Label ids of `train` and `test` (names in `vocab.labels`); empty when unlabelled.
    pub train_labels: Vec<i64>,
    pub test_labels: Vec<i64>,
    /// The source side of a parallel corpus (translation, dialogue).
    pub sources: Option<super::parallel::Sources>,
}

impl Corpus {
    /// Reads and encodes a text corpus as the config says (source "coco" or "text").
    pub fn load(cfg: &DataConfig, seed: u64) -> Result<Self> {
        let (train, test, empty) = match read_source(cfg)? {
            (train, Some(test), empty) => (train, test, empty),
            (train, None, empty) => {
                let (train, test) = split_off_test(train, cfg.test_fraction, seed);
                (train, test, empty)
            }
        };
        let (train, test) = (pretokenize(train, cfg), pretokenize(test, cfg));
        let src_lines = (train.sources.clone(), test.sources.clone());
        let (labels, train_labels, test_labels) = labels_of(&train, &test)?;
        let (train_lines, test_lines) = (train.text, test.text);
        refuse_giant_tokens(&train_lines, cfg.tokenizer)?;
        let mut vocab = build_vocab(cfg, &train_lines, &src_lines.0)?;
        vocab.labels = labels;
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
        let (train, train_kept, mut train_stats) = fit(train_ids, max_len - 1, cfg.overlong);
        let (test, test_kept, mut test_stats) = fit(test_ids, max_len - 1, cfg.overlong);
        (train_stats.skipped, test_stats.skipped) =
            (train_stats.skipped + empty.0, test_stats.skipped + empty.1);
        let sources = super::parallel::encode_sources(
            cfg,
            &mut vocab,
            (&src_lines.0, &train_kept),
            (&src_lines.1, &test_kept),
        )?;
        let keep = |labels: Vec<i64>, kept: &[usize]| match labels.is_empty() {
            true => labels,
            false => kept.iter().map(|&i| labels[i]).collect(),
        };
        let keep_text = |lines: Vec<String>, kept: &[usize]| -> Vec<String> {
            kept.iter().map(|&i| lines[i].clone()).collect()
        };
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
            train_labels: keep(train_labels, &train_kept),
            test_labels: keep(test_labels, &test_kept),
            train_text: keep_text(train_lines, &train_kept),
            test_text: keep_text(test_lines, &test_kept),
            sources,
        })
    }

    /// The conditions of the training rows (labels, sources, or none).
    pub fn train_conds(&self) -> super::Conds<'_> {
        match &self.sources {
            Some(s) => super::Conds::Sources(&s.train, s.pad),
            None if self.is_labelled() => super::Conds::Labels(&self.train_labels),
            None => super::Conds::None,
        }
    }

    /// The conditions of the test rows.
    pub fn test_conds(&self) -> super::Conds<'_> {
        match &self.sources {
            Some(s) => super::Conds::Sources(&s.test, s.pad),
            None if self.is_labelled() => super::Conds::Labels(&self.test_labels),
            None => super::Conds::None,
        }
    }

    /// Whether the sentences carry class labels.
    pub fn is_labelled(&self) -> bool {
        !self.vocab.labels.is_empty()
    }

    /// Test sequences (and their text) of class `label`.
    pub fn test_of_class(&self, label: i64) -> (Vec<Vec<i64>>, Vec<String>) {
        let rows = (0..self.test.len()).filter(|&i| self.test_labels[i] == label);
        rows.map(|i| {
            (
                self.test[i].clone(),
                self.test_text.get(i).cloned().unwrap_or_default(),
            )
        })
        .unzip()
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
            train_labels: Vec::new(),
            test_labels: Vec::new(),
            sources: None,
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

/// The class names of labelled training lines and the label ids of training and test lines.
fn labels_of(train: &Lines, test: &Lines) -> Result<(Vec<String>, Vec<i64>, Vec<i64>)> {
    let labels = label_names(train)?;
    if train.is_labelled() && !test.text.is_empty() && !test.is_labelled() {
        return Err(Error::Data(
            "the training text is labelled but the test text is not".into(),
        ));
    }
    let train_ids = label_ids(train, &labels, "test")?;
    let test_ids = label_ids(test, &labels, "test")?;
    Ok((labels, train_ids, test_ids))
}

/// The target vocabulary from the training lines (and the sources, when shared). Sentences
/// that `overlong = "skip"` will drop do not contribute words.
fn build_vocab(cfg: &DataConfig, lines: &[String], sources: &[String]) -> Result<Vocab> {
    let fits = |l: &&String| {
        cfg.max_len == 0
            || cfg.overlong == Overlong::Truncate
            || super::tokenize(l, cfg.tokenizer).count() < cfg.max_len
    };
    let shared = if cfg.shared_vocab { sources } else { &[] };
    let words = lines.iter().filter(fits).chain(shared).map(String::as_str);
    if let Some(file) = &cfg.tokenizer_file {
        let json = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
        return Vocab::of_pretrained(super::Subword::from_json(json)?);
    }
    if cfg.tokenizer.is_subword() {
        let text: Vec<&str> = words.collect();
        let sw = super::Subword::train(cfg.tokenizer, &text, cfg.vocab_size, cfg.min_count)?;
        return Vocab::of_subword(cfg.tokenizer, sw);
    }
    Ok(Vocab::build(
        words,
        cfg.tokenizer,
        cfg.vocab_size,
        cfg.min_count,
    ))
}

/// Text split by sacreBLEU's 13a tokenizer where the config asks (targets and sources).
fn pretokenize(mut lines: Lines, cfg: &DataConfig) -> Lines {
    if cfg.pretokenize == super::Pretokenize::Thirteen {
        for l in lines.text.iter_mut().chain(lines.sources.iter_mut()) {
            *l = super::tokenize_13a(l);
        }
    }
    lines
}

/// The training lines and, where the source has them, the test lines; and the pairs of a
/// parallel corpus skipped for an empty side (train, test).
fn read_source(cfg: &DataConfig) -> Result<super::parallel::Read> {
    if let Some(r) = super::parallel::read_parallel(cfg)? {
        return Ok(r);
    }
    Ok(match cfg.source {
        DataSource::Grammar => {
            let (train, test) = grammar_lines(cfg)?;
            (Lines::plain(train), Some(Lines::plain(test)))
        }
        DataSource::Coco => {
            let dir = crate::datasets::set("coco")?.locate()?;
            let train = read_lines(&dir.join("train.txt"))?;
            let test = read_lines(&dir.join("test.txt"))?;
            (Lines::plain(train), Some(Lines::plain(test)))
        }
        DataSource::Mr => {
            let dir = crate::datasets::set("mr")?.locate()?;
            let files =
                ["neg", "pos"].map(|c| (c.to_string(), dir.join(format!("rt-polarity.{c}"))));
            (read_class_files(&files, Encoding::Windows1252)?, None)
        }
        DataSource::Text if !cfg.classes.is_empty() => {
            let files: Vec<(String, std::path::PathBuf)> = cfg
                .classes
                .iter()
                .map(|(c, p)| (c.clone(), p.clone()))
                .collect();
            let train = read_class_files(&files, cfg.encoding)?;
            let test = cfg
                .test
                .as_deref()
                .map(|p| read_tab_lines(p, cfg.encoding))
                .transpose()?;
            (train, test)
        }
        DataSource::Text => {
            let train_path = cfg
                .train
                .as_deref()
                .ok_or_else(|| Error::Config("data.train is not set".into()))?;
            let read = |p: &Path| match cfg.labelled {
                true => read_tab_lines(p, cfg.encoding),
                false => read_lines_in(p, cfg.encoding).map(Lines::plain),
            };
            (
                read(train_path)?,
                cfg.test.as_deref().map(read).transpose()?,
            )
        }
        DataSource::Oracle | DataSource::OracleRandom | DataSource::Multi30k => {
            return Err(Error::Data(
                "oracle data is drawn from the oracle, not read".into(),
            ))
        }
    })
    .map(|(train, test)| (train, test, (0, 0)))
}

/// Holds out a seeded random `fraction` of lines (labels kept with their lines) as test data.
fn split_off_test(lines: Lines, fraction: f64, seed: u64) -> (Lines, Lines) {
    let n = lines.text.len();
    let n_test = ((n as f64) * fraction).round() as usize;
    if n_test == 0 || n_test >= n {
        return (lines, Lines::default());
    }
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7e57);
    idx.shuffle(&mut rng);
    let (train, test) = idx.split_at(n - n_test);
    (lines.pick(train), lines.pick(test))
}

/// Applies the length limit (`limit` tokens before `<eos>`), counting what it changed; also
/// returns the indices of the sequences kept.
fn fit(
    seqs: Vec<Vec<i64>>,
    limit: usize,
    overlong: Overlong,
) -> (Vec<Vec<i64>>, Vec<usize>, EncodeStats) {
    let mut stats = EncodeStats::default();
    let mut out = Vec::with_capacity(seqs.len());
    let mut kept = Vec::with_capacity(seqs.len());
    for (i, mut s) in seqs.into_iter().enumerate() {
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
        kept.push(i);
    }
    (out, kept, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{read_lines_with_blanks, Tokenizer};

    use crate::data::test_file as file;

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

    /// MR15: the data README counts 1,606 positive and 1,630 negative sentences of at most 15
    /// words; the held-out 10% keeps labels with their lines.
    #[test]
    fn mr15_counts_and_labels() {
        if let Err(e) = crate::datasets::set("mr").unwrap().locate() {
            eprintln!("skipped: {e}");
            return;
        }
        let cfg = DataConfig {
            source: DataSource::Mr,
            max_len: 16,
            overlong: Overlong::Skip,
            ..Default::default()
        };
        let c = Corpus::load(&cfg, 3).unwrap();
        assert_eq!(c.vocab.labels, ["neg", "pos"]);
        let count = |labels: &[i64], l| labels.iter().filter(|&&x| x == l).count();
        let all = |l| count(&c.train_labels, l) + count(&c.test_labels, l);
        assert_eq!((all(1), all(0)), (1_606, 1_630));
        assert_eq!(c.train.len() + c.test.len(), 3_236);
        assert!((300..350).contains(&c.test.len()), "{}", c.test.len()); // ~10% of 3,236
        assert_eq!(c.test_text.len(), c.test.len());
        // Labels travel with their lines: every test line is in its class's file.
        let dir = crate::datasets::set("mr").unwrap().locate().unwrap();
        let pos = read_lines_in(&dir.join("rt-polarity.pos"), Encoding::Windows1252).unwrap();
        for (text, &l) in c.test_text.iter().zip(&c.test_labels) {
            assert_eq!(pos.contains(text), l == 1, "{text}");
        }
        let (seqs, text) = c.test_of_class(1);
        assert_eq!(
            (seqs.len(), text.len()),
            (count(&c.test_labels, 1), seqs.len())
        );
    }

    #[test]
    fn class_files_and_tab_lines_give_the_same_corpus() {
        let pos = file(b"good film\nfine acting\n");
        let neg = file(b"bad film\n");
        let tab = file(b"pos\tgood film\nneg\tbad film\npos\tfine acting\n");
        let by_files = DataConfig {
            source: DataSource::Text,
            classes: [("pos", pos.path()), ("neg", neg.path())]
                .map(|(c, p)| (c.to_string(), p.to_path_buf()))
                .into(),
            test_fraction: 0.0,
            ..Default::default()
        };
        let a = Corpus::load(&by_files, 0).unwrap();
        let by_tabs = DataConfig {
            classes: Default::default(),
            train: Some(tab.path().into()),
            labelled: true,
            ..by_files
        };
        let b = Corpus::load(&by_tabs, 0).unwrap();
        let pairs = |c: &Corpus| {
            let mut v: Vec<(String, i64)> = c
                .train_text
                .iter()
                .cloned()
                .zip(c.train_labels.clone())
                .collect();
            v.sort();
            v
        };
        assert_eq!(pairs(&a), pairs(&b));
        assert_eq!(pairs(&a)[0], ("bad film".to_string(), 0));
        assert_eq!(a.vocab.labels, ["neg", "pos"]);
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
