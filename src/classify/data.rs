//! Labelled and unlabelled text for classifiers, in the formats textgan's conditional runs read
//! and in GAN-BERT's:
//!
//! - `label<TAB>text` lines;
//! - GAN-BERT's `.tsv`: a header line whose first word ends in `label` (`fine_label
//!   utterance`), then `LABEL<space>text` lines; its unlabelled file marks every line `UNK:UNK`;
//! - a folder with one file per class, the class named by the file's extension
//!   (`rt-polarity.pos`) or, without one, by its name;
//! - unlabelled text as plain lines.
//!
//! Files are read as UTF-8, and as Windows-1252 where they are not (MR's files are).
use crate::data::Lines;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The label GAN-BERT's unlabelled file gives every line.
pub const GANBERT_UNLABELLED: &str = "UNK:UNK";

/// The lines of `path`, decoded, with their 1-based line numbers (blank lines dropped).
fn numbered_lines(path: &Path) -> Result<Vec<(usize, String)>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned(),
    };
    let lines: Vec<(usize, String)> = text
        .lines()
        .enumerate()
        // Spaces trimmed, not tabs: `label<TAB>` is a label with an empty text.
        .map(|(i, l)| (i + 1, l.trim_matches([' ', '\r']).to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect();
    if lines.is_empty() {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
        });
    }
    Ok(lines)
}

/// Whether `line` is a GAN-BERT header (`fine_label utterance`, `label text`).
fn is_ganbert_header(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    !line.contains('\t') && words.len() == 2 && words[0].to_ascii_lowercase().ends_with("label")
}

/// Whether `line` is the header of a tab file (`label<TAB>text`, `label<TAB>sentence`).
fn is_tab_header(line: &str) -> bool {
    match line.split_once('\t') {
        Some((a, b)) => {
            a.trim().eq_ignore_ascii_case("label")
                && ["text", "sentence", "utterance"]
                    .contains(&b.trim().to_ascii_lowercase().as_str())
        }
        None => false,
    }
}

/// The layout of one file.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    Tab,
    GanBert,
    Plain,
}

fn layout(lines: &[(usize, String)]) -> Layout {
    match &lines[0].1 {
        l if is_ganbert_header(l) => Layout::GanBert,
        l if l.contains('\t') => Layout::Tab,
        _ => Layout::Plain,
    }
}

/// Labelled text from a file (tab or GAN-BERT lines) or a folder of class files. A line
/// without its label, a GAN-BERT file of `UNK:UNK` lines, or plain lines are errors naming
/// the file: they are unlabelled text.
pub fn read_labelled(path: &Path) -> Result<Lines> {
    if path.is_dir() {
        return read_class_folder(path);
    }
    let lines = numbered_lines(path)?;
    let bad = |line: usize, why: &str| {
        Error::Data(format!(
            "{} line {line}: {why} (labelled text is `label<TAB>text` lines, GAN-BERT's `LABEL text` lines under a header, or a folder of one file per class)",
            path.display()
        ))
    };
    let mut out = Lines::default();
    match layout(&lines) {
        Layout::Plain => {
            return Err(bad(
                lines[0].0,
                "no label (plain lines are unlabelled text: give them as --unlabelled)",
            ))
        }
        Layout::Tab => {
            let skip = is_tab_header(&lines[0].1) as usize;
            for (n, l) in &lines[skip..] {
                let (label, text) = l.split_once('\t').ok_or_else(|| bad(*n, "no tab"))?;
                push(&mut out, label, text).map_err(|why| bad(*n, why))?;
            }
        }
        Layout::GanBert => {
            for (n, l) in &lines[1..] {
                let (label, text) = l.split_once(' ').ok_or_else(|| bad(*n, "no text"))?;
                push(&mut out, label, text).map_err(|why| bad(*n, why))?;
            }
            if let Some(i) = out.labels.iter().position(|l| l == GANBERT_UNLABELLED) {
                let what = match out.labels.iter().all(|l| l == GANBERT_UNLABELLED) {
                    true => "every line is labelled UNK:UNK: that is GAN-BERT's unlabelled file (give it as --unlabelled)".to_string(),
                    false => format!("line {} is labelled UNK:UNK, GAN-BERT's mark of an unlabelled line (give those lines as --unlabelled)", lines[i + 1].0),
                };
                return Err(Error::Data(format!("{}: {what}", path.display())));
            }
        }
    }
    if out.text.is_empty() {
        return Err(Error::EmptyCorpus {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

fn push(out: &mut Lines, label: &str, text: &str) -> std::result::Result<(), &'static str> {
    let (label, text) = (label.trim(), text.trim());
    if label.is_empty() {
        return Err("empty label");
    }
    if text.is_empty() {
        return Err("empty text after the label");
    }
    out.labels.push(label.to_string());
    out.text.push(text.to_string());
    Ok(())
}

/// One file per class: the class is the file's extension (`rt-polarity.pos` is `pos`), or
/// its whole name without one. Hidden files are skipped.
fn read_class_folder(dir: &Path) -> Result<Lines> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !path.is_file() || name.starts_with('.') {
            continue;
        }
        files.push((name.to_string(), path));
    }
    files.sort();
    // The class is the extension where the files' extensions differ (`rt-polarity.pos`,
    // `rt-polarity.neg`), else the name without it (`pos.txt`, `neg.txt`).
    let ext = |p: &PathBuf| p.extension().map(|e| e.to_string_lossy().into_owned());
    let by_extension = files.iter().all(|(_, p)| ext(p).is_some())
        && files.iter().any(|(_, p)| ext(p) != ext(&files[0].1));
    for (class, path) in files.iter_mut() {
        *class = match by_extension {
            true => ext(path).unwrap_or_default(),
            false => path
                .file_stem()
                .map_or(class.clone(), |s| s.to_string_lossy().into_owned()),
        };
    }
    if files.is_empty() {
        return Err(Error::Data(format!(
            "{}: no class files (a folder of labelled text holds one file per class)",
            dir.display()
        )));
    }
    let mut out = Lines::default();
    for (class, path) in files {
        let lines = numbered_lines(&path)?;
        if layout(&lines) != Layout::Plain {
            return Err(Error::Data(format!(
                "{}: its lines carry labels (`label<TAB>text` or a GAN-BERT header), but a folder of labelled text holds one plain file per class, named by its class: give the file itself",
                path.display()
            )));
        }
        out.labels
            .extend(std::iter::repeat_n(class.clone(), lines.len()));
        out.text.extend(lines.into_iter().map(|(_, l)| l));
    }
    Ok(out)
}

/// Unlabelled text: plain lines, or GAN-BERT's file whose lines are all `UNK:UNK`. A file of
/// labelled lines is an error (it would be read as text with its labels in it).
pub fn read_unlabelled(path: &Path) -> Result<Vec<String>> {
    let lines = numbered_lines(path)?;
    let labelled = |n: usize| {
        Error::Data(format!(
            "{} line {n}: a labelled line in the unlabelled text (give labelled text as --train, or strip the labels)",
            path.display()
        ))
    };
    // GAN-BERT's file: its header, then `UNK:UNK` lines; anything else is plain text.
    let second = lines.get(1).map_or("", |(_, l)| l.as_str());
    let header = layout(&lines) == Layout::GanBert;
    let first_word = second.split(' ').next().unwrap_or("");
    let unk = header && first_word == GANBERT_UNLABELLED;
    if header && !unk && first_word.contains(':') {
        return Err(labelled(lines[1].0));
    }
    if !unk {
        return match lines.iter().find(|(_, l)| l.contains('\t')) {
            Some((n, _)) => Err(labelled(*n)),
            None => Ok(lines.into_iter().map(|(_, l)| l).collect()),
        };
    }
    let mut out = Vec::new();
    for (n, l) in &lines[1..] {
        match l.split_once(' ') {
            Some((GANBERT_UNLABELLED, text)) if !text.trim().is_empty() => {
                out.push(text.trim().to_string())
            }
            _ => return Err(labelled(*n)),
        }
    }
    Ok(out)
}

/// Plain lines to classify (one text per line, blank lines dropped).
pub fn read_texts(path: &Path) -> Result<Vec<String>> {
    Ok(numbered_lines(path)?.into_iter().map(|(_, l)| l).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::test_file as file;

    #[test]
    fn reads_every_labelled_layout() {
        let tab = read_labelled(file(b"pos\tgood film\n\nneg\tbad film\n").path()).unwrap();
        assert_eq!(tab.labels, ["pos", "neg"]);
        assert_eq!(tab.text, ["good film", "bad film"]);
        let gb = read_labelled(
            file(b"fine_label utterance\nNUM:dist How far is it ?\nLOC:city Where is Rome ?\n")
                .path(),
        )
        .unwrap();
        assert_eq!(gb.labels, ["NUM:dist", "LOC:city"]);
        assert_eq!(gb.text, ["How far is it ?", "Where is Rome ?"]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rt.pos"), "fine\n").unwrap();
        // Not UTF-8: read as Windows-1252, as MR's files are.
        std::fs::write(dir.path().join("rt.neg"), b"caf\xe9 dull\nawful\n").unwrap();
        let f = read_labelled(dir.path()).unwrap();
        assert_eq!(f.labels, ["neg", "neg", "pos"]);
        assert_eq!(f.text[0], "café dull");
        // One extension for all: the class is the name before it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pos.txt"), "fine\n").unwrap();
        std::fs::write(dir.path().join("neg.txt"), "dull\n").unwrap();
        assert_eq!(read_labelled(dir.path()).unwrap().labels, ["neg", "pos"]);
        // A folder of labelled tab files is not a folder of classes.
        let splits = tempfile::tempdir().unwrap();
        std::fs::write(splits.path().join("train.tsv"), "pos\tfine\n").unwrap();
        std::fs::write(splits.path().join("dev.tsv"), "neg\tdull\n").unwrap();
        let e = read_labelled(splits.path()).unwrap_err().to_string();
        assert!(e.contains("give the file itself"), "{e}");
    }

    #[test]
    fn labelled_and_unlabelled_text_are_not_confused() {
        let plain = file(b"just a line\n");
        let e = read_labelled(plain.path()).unwrap_err().to_string();
        assert!(e.contains("no label") && e.contains("--unlabelled"), "{e}");
        let unk = file(b"fine_label utterance\nUNK:UNK What is it ?\nUNK:UNK Who ?\n");
        let e = read_labelled(unk.path()).unwrap_err().to_string();
        assert!(e.contains("UNK:UNK") && e.contains("--unlabelled"), "{e}");
        assert_eq!(
            read_unlabelled(unk.path()).unwrap(),
            ["What is it ?", "Who ?"]
        );
        assert_eq!(read_unlabelled(plain.path()).unwrap(), ["just a line"]);
        let tab = file(b"pos\tgood\n");
        let e = read_unlabelled(tab.path()).unwrap_err().to_string();
        assert!(e.contains("line 1: a labelled line"), "{e}");
        // GAN-BERT's labelled file as unlabelled text; plain text that looks like a header.
        let gb = file(b"fine_label utterance\nNUM:count How many ?\n");
        let e = read_unlabelled(gb.path()).unwrap_err().to_string();
        assert!(e.contains("line 2: a labelled line"), "{e}");
        let relabel = file(b"Relabel everything\nnice one\n");
        assert_eq!(read_unlabelled(relabel.path()).unwrap().len(), 2);
        // A BOM, a tab file's header, an UNK:UNK line among labelled ones.
        let bom = read_labelled(file(b"\xef\xbb\xbflabel\ttext\npos\tgood\n").path()).unwrap();
        assert_eq!(bom.labels, ["pos"]);
        let some = file(b"fine_label utterance\nNUM:count How many ?\nUNK:UNK Who ?\n");
        let e = read_labelled(some.path()).unwrap_err().to_string();
        assert!(e.contains("line 3 is labelled UNK:UNK"), "{e}");
        let mixed = file(b"fine_label utterance\nUNK:UNK What ?\nNUM:count How many ?\n");
        let e = read_unlabelled(mixed.path()).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
        let e = read_labelled(file(b"pos\tok\nno tab\n").path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2: no tab"), "{e}");
        let e = read_labelled(file(b"pos\t \n").path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("empty text"), "{e}");
        assert!(read_labelled(file(b"\n \n").path()).is_err());
    }
}
