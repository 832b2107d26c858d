//! Reading text files line by line: UTF-8, or Latin-1 / Windows-1252.
use super::Encoding;
use crate::error::{Error, Result};
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
