//! Reading ARPA files: `\data\`, `ngram n=count` lines, then per order `\n-grams:` with
//! `log10p <TAB> w1 .. wn [<TAB> log10backoff]`, and `\end\`. Text before `\data\` is skipped,
//! a missing back-off is 0, SRILM's -99 for `<s>` is read as it stands.
use super::{Entry, NgramLm, Words, UNK};
use crate::error::{Error, Result};
use std::collections::HashMap;

type Lines<'a> = std::iter::Enumerate<std::str::Lines<'a>>;
/// The orders' n-gram counts a header declares, and the line after it.
type Header<'a> = (Vec<usize>, Option<(usize, &'a str)>);

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Data(format!("ARPA file: {msg}"))
}

/// The `\data\` header: the number of n-grams of each order, and the line after it.
fn header<'a>(lines: &mut Lines<'a>) -> Result<Header<'a>> {
    if !lines.by_ref().any(|(_, l)| l.trim() == "\\data\\") {
        return Err(bad("no \\data\\ header"));
    }
    let mut declared: Vec<usize> = Vec::new();
    let mut section = None;
    for (i, l) in lines.by_ref() {
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        if let Some(rest) = l.strip_prefix("ngram ") {
            let (n, c) = rest
                .split_once('=')
                .ok_or_else(|| bad(format!("line {}: `{l}` is not `ngram N=COUNT`", i + 1)))?;
            let (n, c): (usize, usize) = match (n.trim().parse(), c.trim().parse()) {
                (Ok(n), Ok(c)) => (n, c),
                _ => return Err(bad(format!("line {}: `{l}` is not `ngram N=COUNT`", i + 1))),
            };
            if n != declared.len() + 1 {
                return Err(bad(format!(
                    "line {}: order {n} declared after order {}: an order is missing",
                    i + 1,
                    declared.len()
                )));
            }
            declared.push(c);
            continue;
        }
        section = Some((i, l));
        break;
    }
    if declared.is_empty() || declared.len() > 9 {
        return Err(bad("the header declares no n-gram orders (or more than 9)"));
    }
    Ok((declared, section))
}

/// The model an ARPA file's text holds.
pub fn parse(text: &str) -> Result<NgramLm> {
    let mut lines = text.lines().enumerate();
    let (declared, first) = header(&mut lines)?;
    let mut words = Words::new();
    let mut grams: Vec<HashMap<Vec<u32>, Entry>> = vec![HashMap::new(); declared.len()];
    let mut order = 0;
    let mut pending = first;
    loop {
        let Some((i, l)) = pending.take().or_else(|| lines.next()) else {
            return Err(bad("no \\end\\ line (the file is cut short)"));
        };
        let l = l.trim();
        if l.is_empty() {
            continue;
        }
        if l == "\\end\\" {
            break;
        }
        if let Some(n) = l.strip_prefix('\\').and_then(|r| r.strip_suffix("-grams:")) {
            order = n
                .parse()
                .map_err(|_| bad(format!("line {}: `{l}`", i + 1)))?;
            if order == 0 || order > grams.len() || (order > 1 && grams[order - 2].is_empty()) {
                return Err(bad(format!(
                    "line {}: section \\{order}-grams: out of order or undeclared",
                    i + 1
                )));
            }
            continue;
        }
        if order == 0 {
            return Err(bad(format!(
                "line {}: an n-gram before any \\N-grams: section",
                i + 1
            )));
        }
        let (ws, entry) = entry_line(l, i)?;
        let g: Vec<u32> = ws.iter().map(|w| words.intern(w)).collect();
        if g.len() != order {
            return Err(bad(format!(
                "line {}: {} words in the {order}-grams section",
                i + 1,
                g.len()
            )));
        }
        grams[order - 1].insert(g, entry);
    }
    for (n, (&want, got)) in declared.iter().zip(&grams).enumerate() {
        if want != got.len() {
            return Err(bad(format!(
                "the header declares {want} {}-grams, the file lists {}",
                n + 1,
                got.len()
            )));
        }
    }
    grams[0].entry(vec![words.ids[UNK]]).or_insert(Entry {
        log_p: -100.0,
        backoff: 0.0,
    });
    Ok(NgramLm::from_entries(words, grams))
}

/// One n-gram line, `log10p<TAB>words[<TAB>backoff]` (line `i`): its words and its entry.
fn entry_line(l: &str, i: usize) -> Result<(Vec<&str>, Entry)> {
    let mut parts = l.split('\t');
    let (Some(p), Some(ws)) = (parts.next(), parts.next()) else {
        return Err(bad(format!(
            "line {}: `{l}` is not `log10p<TAB>words[<TAB>backoff]`",
            i + 1
        )));
    };
    let num = |s: &str| {
        s.trim()
            .parse::<f64>()
            .map_err(|_| bad(format!("line {}: `{s}` is not a number", i + 1)))
    };
    let log_p = num(p)?;
    let backoff = parts.next().map(num).transpose()?.unwrap_or(0.0);
    Ok((ws.split_whitespace().collect(), Entry { log_p, backoff }))
}
