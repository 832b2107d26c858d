//! sacreBLEU's `13a` tokenizer (mteval-v13a's): punctuation split off words, as machine
//! translation text is tokenised before BLEU and, with `data.pretokenize = "13a"`, before a
//! vocabulary is built from raw text. REFERENCE-wave2 section 4.2 gives the rules.
use regex::Regex;
use std::sync::OnceLock;

/// sacreBLEU's default tokenizer (`13a`, mteval-v13a's), for one line.
pub fn tokenize_13a(line: &str) -> String {
    static RULES: OnceLock<[(Regex, &str); 4]> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        let r = |p: &str| Regex::new(p).expect("a valid pattern");
        [
            // Every character in these ASCII ranges gets a space on each side.
            (r(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), " $1 "),
            // A period or comma after a non-digit, or before one, is split off.
            (r(r"([^0-9])([\.,])"), "$1 $2 "),
            (r(r"([\.,])([^0-9])"), " $1 $2"),
            // A hyphen after a digit.
            (r(r"([0-9])(-)"), "$1 $2 "),
        ]
    });
    let mut s = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if s.contains('&') {
        s = s
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut s = format!(" {s} ");
    for (re, rep) in rules {
        s = re.replace_all(&s, *rep).into_owned();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
