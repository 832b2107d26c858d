//! Parallel corpora: two line-aligned files (Multi30k's `train.de` / `train.en`) or
//! `source<TAB>target` lines. The same form serves translation and dialogue (context ->
//! reply). A pair with an empty side is skipped and counted, not an error: parallel corpora
//! have them (alignment gaps), and dropping one keeps the rest aligned.
use super::labelled::Lines;
use super::{read_lines_with_blanks, DataConfig, DataSource, Encoding, Vocab};
use crate::error::{Error, Result};
use std::path::Path;

/// Sources and targets of a parallel corpus, with the pairs skipped for an empty side.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    pub lines: Lines,
    pub skipped_empty: usize,
}

fn lines_in(path: &Path, encoding: Encoding) -> Result<Vec<String>> {
    match encoding {
        Encoding::Utf8 => read_lines_with_blanks(path),
        _ => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            let (text, _, _) = encoding_rs::WINDOWS_1252.decode(&bytes);
            Ok(text.lines().map(|l| l.trim().to_string()).collect())
        }
    }
}

fn push(out: &mut Pairs, src: &str, tgt: &str) {
    if src.is_empty() || tgt.is_empty() {
        out.skipped_empty += 1;
    } else {
        out.lines.sources.push(src.to_string());
        out.lines.text.push(tgt.to_string());
    }
}

/// Two line-aligned files: line i of `source` translates line i of `target`.
pub fn read_aligned(source: &Path, target: &Path, encoding: Encoding) -> Result<Pairs> {
    let (s, t) = (lines_in(source, encoding)?, lines_in(target, encoding)?);
    if s.len() != t.len() {
        return Err(Error::Data(format!(
            "parallel files must have one line per pair: {} has {} lines, {} has {}",
            source.display(),
            s.len(),
            target.display(),
            t.len()
        )));
    }
    let mut out = Pairs::default();
    for (a, b) in s.iter().zip(&t) {
        push(&mut out, a, b);
    }
    Ok(out)
}

/// `source<TAB>target` lines; a non-blank line without a tab is an error naming it.
pub fn read_tab_pairs(path: &Path, encoding: Encoding) -> Result<Pairs> {
    let mut out = Pairs::default();
    // Lines as read, not trimmed: a trailing tab marks an empty target.
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = match encoding {
        Encoding::Utf8 => String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            Error::NotUtf8 {
                path: path.to_path_buf(),
                line: line + 1,
            }
        })?,
        _ => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (s, t) = line.split_once('\t').ok_or_else(|| {
            Error::Data(format!(
                "{} line {}: no tab (data.parallel expects `source<TAB>target` lines)",
                path.display(),
                i + 1
            ))
        })?;
        push(&mut out, s.trim(), t.trim());
    }
    Ok(out)
}

/// Training lines, test lines where the source has them, and the pairs skipped for an
/// empty side (training, test).
pub type Read = (Lines, Option<Lines>, (usize, usize));

/// The parallel corpus a config names, or None when it names another kind: training and
/// test pairs, and how many pairs of each were skipped for an empty side.
pub fn read_parallel(cfg: &DataConfig) -> Result<Option<Read>> {
    let enc = cfg.encoding;
    let (train, test) = match cfg.source {
        DataSource::Multi30k => {
            let dir = crate::datasets::set("multi30k")?.locate()?;
            let (s, t) = match cfg.direction.as_deref() {
                Some("en-de") => ("en", "de"),
                _ => ("de", "en"),
            };
            let pair = |split: &str| {
                read_aligned(
                    &dir.join(format!("{split}.{s}")),
                    &dir.join(format!("{split}.{t}")),
                    enc,
                )
            };
            (pair("train")?, Some(pair("test_2016_flickr")?))
        }
        DataSource::Text if cfg.parallel => {
            let train = cfg.train.as_deref().expect("validated: data.train is set");
            let test = cfg
                .test
                .as_deref()
                .map(|p| read_tab_pairs(p, enc))
                .transpose()?;
            (read_tab_pairs(train, enc)?, test)
        }
        DataSource::Text if cfg.train_source.is_some() => {
            let (src, tgt) = (
                cfg.train_source.as_deref().unwrap(),
                cfg.train.as_deref().unwrap(),
            );
            let test = match (&cfg.test_source, &cfg.test) {
                (Some(s), Some(t)) => Some(read_aligned(s, t, enc)?),
                _ => None,
            };
            (read_aligned(src, tgt, enc)?, test)
        }
        _ => return Ok(None),
    };
    let skipped = (
        train.skipped_empty,
        test.as_ref().map_or(0, |t| t.skipped_empty),
    );
    Ok(Some((train.lines, test.map(|t| t.lines), skipped)))
}

/// The encoded source side of a parallel corpus, aligned with the kept targets.
#[derive(Debug, Clone)]
pub struct Sources {
    pub train: Vec<Vec<i64>>,
    pub test: Vec<Vec<i64>>,
    /// The test sources as read (what `translate` is given).
    pub test_text: Vec<String>,
    /// Sources cut to `data.max_source_len` (training and test).
    pub truncated: usize,
    /// The padding id of the source vocabulary.
    pub pad: i64,
}

/// Encodes the sources of the kept pairs (`kept`: indices into the read lines), in the
/// target vocabulary when it is shared, else in a source vocabulary built from the training
/// sources and stored in `vocab.source`. None for a corpus without sources.
pub fn encode_sources(
    cfg: &DataConfig,
    vocab: &mut Vocab,
    (train, train_kept): (&[String], &[usize]),
    (test, test_kept): (&[String], &[usize]),
) -> Result<Option<Sources>> {
    if train.is_empty() {
        return Ok(None);
    }
    if !cfg.shared_vocab {
        let v = Vocab::build(
            train.iter().map(String::as_str),
            cfg.tokenizer,
            cfg.vocab_size,
            cfg.min_count,
        );
        vocab.source = Some(Box::new(v));
    }
    let v = vocab.source.as_deref().unwrap_or(vocab).clone();
    let mut truncated = 0;
    let mut encode = |lines: &[String], kept: &[usize]| -> Result<Vec<Vec<i64>>> {
        kept.iter()
            .map(|&i| {
                let mut ids = v.encode(&lines[i])?;
                if ids.len() > cfg.max_source_len {
                    ids.truncate(cfg.max_source_len);
                    truncated += 1;
                }
                Ok(ids)
            })
            .collect()
    };
    let (train_ids, test_ids) = (encode(train, train_kept)?, encode(test, test_kept)?);
    Ok(Some(Sources {
        train: train_ids,
        test: test_ids,
        test_text: test_kept.iter().map(|&i| test[i].clone()).collect(),
        truncated,
        pad: v.pad.unwrap_or(0),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::data::test_file as file;

    #[test]
    fn aligned_files_and_tab_pairs() {
        let (de, en) = (file(b"ein hund\n\nzwei\n"), file(b"a dog\nnothing\ntwo\n"));
        let p = read_aligned(de.path(), en.path(), Encoding::Utf8).unwrap();
        assert_eq!(p.lines.sources, ["ein hund", "zwei"]);
        assert_eq!(p.lines.text, ["a dog", "two"]);
        assert_eq!(p.skipped_empty, 1);
        let short = file(b"a dog\n");
        let e = read_aligned(de.path(), short.path(), Encoding::Utf8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("has 3 lines") && e.contains("has 1"), "{e}");
        let tab = file(b"hallo\thello\n\nwie geht's\t\nno tab\n");
        let e = read_tab_pairs(tab.path(), Encoding::Utf8)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4: no tab"), "{e}");
        let tab = file(b"hallo\thello\nwie geht's\t\n");
        let p = read_tab_pairs(tab.path(), Encoding::Utf8).unwrap();
        assert_eq!((p.lines.sources.len(), p.skipped_empty), (1, 1));
    }
}
