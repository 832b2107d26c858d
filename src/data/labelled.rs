//! Labelled corpora: one file per class (MR's `rt-polarity.pos` / `.neg`), or `label<TAB>text`
//! lines. Labels become ids in the order of their sorted names, so a run's ids do not depend on
//! the order of files or lines.
use super::read::read_lines_in;
use super::Encoding;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// Lines and, when the corpus is labelled, each line's class name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lines {
    pub text: Vec<String>,
    /// One per line, or empty for unlabelled text.
    pub labels: Vec<String>,
    /// The source sentence of each line of a parallel corpus (empty otherwise).
    pub sources: Vec<String>,
}

impl Lines {
    pub fn plain(text: Vec<String>) -> Self {
        Lines {
            text,
            ..Default::default()
        }
    }

    pub fn is_labelled(&self) -> bool {
        !self.labels.is_empty()
    }

    /// The lines at `idx`, labels kept with their lines.
    pub fn pick(&self, idx: &[usize]) -> Lines {
        Lines {
            text: idx.iter().map(|&i| self.text[i].clone()).collect(),
            labels: match self.is_labelled() {
                true => idx.iter().map(|&i| self.labels[i].clone()).collect(),
                false => Vec::new(),
            },
            sources: match self.sources.is_empty() {
                true => Vec::new(),
                false => idx.iter().map(|&i| self.sources[i].clone()).collect(),
            },
        }
    }
}

/// Every non-blank line of each class's file, labelled with the class's name.
pub fn read_class_files(files: &[(String, PathBuf)], encoding: Encoding) -> Result<Lines> {
    let mut out = Lines::default();
    for (class, path) in files {
        let text = read_lines_in(path, encoding)?;
        out.labels
            .extend(std::iter::repeat_n(class.clone(), text.len()));
        out.text.extend(text);
    }
    Ok(out)
}

/// `label<TAB>text` lines; a line without a tab, or with an empty label or text, is an error
/// naming the line (blank lines are skipped).
pub fn read_tab_lines(path: &Path, encoding: Encoding) -> Result<Lines> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = match encoding {
        Encoding::Utf8 => match std::str::from_utf8(&bytes) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(e) => {
                let line = bytes[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                return Err(Error::NotUtf8 {
                    path: path.to_path_buf(),
                    line: line + 1,
                });
            }
        },
        _ => encoding_rs::WINDOWS_1252.decode(&bytes).0,
    };
    let mut out = Lines::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| {
            Error::Data(format!(
                "{} line {}: {why} (data.labelled expects `label<TAB>text` lines)",
                path.display(),
                i + 1
            ))
        };
        let (label, text) = line.split_once('\t').ok_or_else(|| bad("no tab"))?;
        let (label, text) = (label.trim(), text.trim());
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if text.is_empty() {
            return Err(bad("empty text after the label"));
        }
        out.labels.push(label.to_string());
        out.text.push(text.to_string());
    }
    if out.text.is_empty() {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// The sorted distinct class names of training lines: at least two are needed.
pub fn label_names(train: &Lines) -> Result<Vec<String>> {
    let mut names = train.labels.clone();
    names.sort();
    names.dedup();
    match names.len() {
        0 => Ok(names),
        1 => Err(Error::Data(format!(
            "the labelled training data has one class (`{}`): a label-conditional model needs at least two",
            names[0]
        ))),
        _ => Ok(names),
    }
}

/// Label ids of `lines` under `names`; a test label never seen in training is an error.
pub fn label_ids(lines: &Lines, names: &[String], what: &str) -> Result<Vec<i64>> {
    lines
        .labels
        .iter()
        .map(|l| match names.iter().position(|n| n == l) {
            Some(i) => Ok(i as i64),
            None => Err(Error::Data(format!(
                "{what} label `{l}` is not one of the training labels ({})",
                names.join(", ")
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::data::test_file as file;

    #[test]
    fn tab_lines_and_their_errors() {
        let f = file(b"pos\tgood film\n\nneg\t bad  film \n");
        let l = read_tab_lines(f.path(), Encoding::Utf8).unwrap();
        assert_eq!(l.text, ["good film", "bad  film"]);
        assert_eq!(l.labels, ["pos", "neg"]);
        assert_eq!(label_names(&l).unwrap(), ["neg", "pos"]);
        for (bytes, why) in [
            (&b"pos\tok\nno tab here\n"[..], "line 2: no tab"),
            (b"\tok\n", "line 1: empty label"),
            (b"pos\t  \n", "line 1: empty text"),
        ] {
            let e = read_tab_lines(file(bytes).path(), Encoding::Utf8)
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{e}");
        }
        let one = Lines {
            text: vec!["a".into()],
            labels: vec!["pos".into()],
            ..Default::default()
        };
        assert!(label_names(&one)
            .unwrap_err()
            .to_string()
            .contains("one class"));
        let names = vec!["neg".to_string(), "pos".to_string()];
        let test = Lines {
            text: vec!["a".into()],
            labels: vec!["meh".into()],
            ..Default::default()
        };
        let e = label_ids(&test, &names, "test").unwrap_err().to_string();
        assert!(e.contains("`meh`") && e.contains("neg, pos"), "{e}");
    }
}
