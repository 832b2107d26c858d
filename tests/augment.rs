//! `textgan augment` and `classify train --augment`: bad input refused in one line with the
//! output untouched; EDA's swaps and deletions keep each row's label and words; rows generated
//! by a label-conditional run use their label's words only and pass the classifier filter as
//! `classify predict` sees them; back-translation through a toy translation pair returns the
//! rows it read, and refuses a pair that does not chain.
mod common;
use common::{fails, ok, Fixture, ANIMALS, COLOURS};
use std::collections::HashMap;
use std::path::Path;

/// The rows of a `label<TAB>text` file.
fn rows(path: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').expect("label<TAB>text");
            (a.to_string(), b.to_string())
        })
        .collect()
}

/// A label-conditional LSTM on the fixture's rows.
fn labelled_run(f: &Fixture, out: &str, steps: usize) -> String {
    let data = f.two_classes();
    let mut args: Vec<String> = [
        "train",
        "--out",
        &f.s(out),
        "--max-steps",
        &steps.to_string(),
    ]
    .map(String::from)
    .to_vec();
    for s in [
        "data.source=text".to_string(),
        format!("data.train=\"{data}\""),
        "data.labelled=true".into(),
        "data.test_fraction=0.25".into(),
        "generator.embed_dim=16".into(),
        "generator.hidden_dim=32".into(),
        "train.batch_size=8".into(),
        "train.eval_every=1000".into(),
        "train.eval_samples=10".into(),
        "train.device=cpu".into(),
        "train.lr=0.02".into(),
        "train.epochs=1000".into(),
    ] {
        args.extend(["--set".to_string(), s]);
    }
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    f.s(out)
}

/// A WordLevel tokenizer of the fixture's words, in `tokenizers`' JSON; its folder.
fn tokenizer(f: &Fixture) -> String {
    let tok = f.path("tok");
    std::fs::create_dir_all(&tok).unwrap();
    let mut vocab = serde_json::Map::new();
    let special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];
    for (i, w) in special.iter().chain(&ANIMALS).chain(&COLOURS).enumerate() {
        vocab.insert(w.to_string(), serde_json::json!(i));
    }
    let tj = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null, "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(tok.join("tokenizer.json"), tj.to_string()).unwrap();
    f.s("tok")
}

/// `classify train`: a supervised LSTM classifier (16 wide, lr 0.01) on `data` with the
/// tokenizer `tok`, into `out`, with `extra` flags.
fn lstm_classifier(data: &str, tok: &str, out: &str, extra: &[&str]) {
    let mut a = vec![
        "classify",
        "train",
        "--train",
        data,
        "--trunk",
        "lstm",
        "--tokenizer",
        tok,
        "--method",
        "supervised",
        "--lr",
        "0.01",
        "--lstm-size",
        "16",
        "--device",
        "cpu",
        "--out",
        out,
    ];
    a.extend(extra);
    ok(&a);
}

#[test]
fn bad_input_is_one_line_and_leaves_the_output_alone() {
    let f = Fixture::new();
    let data = f.two_classes();
    let out = f.s("out.tsv");
    std::fs::write(&out, "kept\n").unwrap();
    let eda = |extra: &[&str], needle: &str| {
        let mut a = vec!["augment", "--method", "eda", "--in", &data, "--out", &out];
        a.extend(extra);
        fails(&a, needle);
    };
    eda(&["--per-example", "0"], "--per-example 0");
    eda(&["--per-example", "65"], "1 to 64");
    eda(
        &[
            "--alpha-sr",
            "0",
            "--alpha-ri",
            "0",
            "--alpha-rs",
            "0",
            "--p-rd",
            "0",
        ],
        "all four",
    );
    eda(&["--p-rd", "1.5"], "--p-rd");
    eda(
        &["--forward", "x"],
        "--forward does not apply to --method eda",
    );
    eda(&["--temperature", "0.5"], "--temperature does not apply");
    eda(&["--neighbours", "0"], "--neighbours must be at least 1");
    eda(&["--min-similarity", "2"], "give a cosine in [-1, 1]");
    eda(&["--alpha-sr", "-0.1"], "--alpha-sr -0.1");
    // Output paths are checked before any work: the input itself, a link, a missing folder.
    fails(
        &["augment", "--method", "eda", "--in", &data, "--out", &data],
        "is the input",
    );
    let link = f.path("link.tsv");
    std::os::unix::fs::symlink(&out, &link).unwrap();
    let link = link.to_string_lossy().into_owned();
    fails(
        &["augment", "--method", "eda", "--in", &data, "--out", &link],
        "not a regular file",
    );
    let missing = f.s("no/such/out.tsv");
    fails(
        &[
            "augment", "--method", "eda", "--in", &data, "--out", &missing,
        ],
        "does not exist",
    );
    // Plain lines are not labelled.
    let plain = f.s("train.txt");
    fails(
        &["augment", "--method", "eda", "--in", &plain, "--out", &out],
        "no label",
    );
    fails(
        &[
            "augment",
            "--method",
            "backtranslate",
            "--in",
            &data,
            "--out",
            &out,
        ],
        "needs --forward RUN and --backward RUN",
    );
    fails(
        &[
            "augment", "--method", "generate", "--in", &data, "--out", &out,
        ],
        "needs --run",
    );
    // An unconditional run cannot write labelled rows nor translate.
    f.train("plain", 2, &[]);
    let plain_run = f.s("plain");
    fails(
        &[
            "augment", "--method", "generate", "--in", &data, "--out", &out, "--run", &plain_run,
        ],
        "not label-conditional",
    );
    fails(
        &[
            "augment",
            "--method",
            "backtranslate",
            "--in",
            &data,
            "--out",
            &out,
            "--forward",
            &plain_run,
            "--backward",
            &plain_run,
        ],
        "forward run was not trained on a parallel corpus",
    );
    fails(
        &[
            "augment",
            "--method",
            "generate",
            "--in",
            &data,
            "--out",
            &out,
            "--run",
            "/nonexistent",
        ],
        "not found",
    );
    // A conditional run whose labels are not the data's.
    let run = labelled_run(&f, "cond", 2);
    std::fs::write(f.path("other.tsv"), "animal\tcat dog\nplant\tfern moss\n").unwrap();
    fails(
        &[
            "augment",
            "--method",
            "generate",
            "--in",
            &f.s("other.tsv"),
            "--out",
            &out,
            "--run",
            &run,
        ],
        "cannot write rows labelled plant",
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "kept\n");
    // classify train: augmented rows of a label the real ones lack; a weight that is not one.
    std::fs::write(f.path("aug.tsv"), "plant\tfern moss\n").unwrap();
    let cls = f.s("cls");
    let base = [
        "classify", "train", "--train", &data, "--trunk", "lstm", "--out", &cls,
    ];
    let tok = tokenizer(&f);
    let mut a = base.to_vec();
    a.extend([
        "--tokenizer",
        &tok,
        "--augment",
        "eda",
        "--augment-weight",
        "0",
    ]);
    fails(&a, "augment_weight must be a positive number");
    let mut a = base.to_vec();
    a.extend([
        "--tokenizer",
        &tok,
        "--augment",
        "eda",
        "--augment-per-example",
        "0",
    ]);
    fails(&a, "--augment-per-example 0");
    let aug = f.s("aug.tsv");
    let mut a = base.to_vec();
    a.extend([
        "--tokenizer",
        &tok,
        "--augment",
        &aug,
        "--augment-per-example",
        "3",
    ]);
    fails(&a, "applies to --augment eda only");
    assert!(!Path::new(&cls).exists());
}

/// EDA with only swaps and deletions needs no encoder: every new row keeps its source's label
/// and uses only words of one source row of that label.
#[test]
fn eda_swaps_and_deletions_keep_labels_and_words() {
    let f = Fixture::new();
    let data = f.two_classes();
    let out = f.s("eda.tsv");
    let args = [
        "augment",
        "--method",
        "eda",
        "--in",
        &data,
        "--out",
        &out,
        "--per-example",
        "4",
        "--alpha-sr",
        "0",
        "--alpha-ri",
        "0",
        "--alpha-rs",
        "0.5",
        "--p-rd",
        "0.3",
        "--seed",
        "7",
    ];
    let o = ok(&args);
    let err = common::stderr(&o);
    let input = rows(&data);
    let new = rows(&out);
    assert!(!new.is_empty(), "{err}");
    assert!(
        err.contains(&format!(
            "{} new rows (192 asked) from 48 input rows",
            new.len()
        )),
        "{err}"
    );
    let sorted = |t: &str| {
        let mut w: Vec<&str> = t.split(' ').collect();
        w.sort();
        w.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for (label, text) in &new {
        assert!(
            !input.iter().any(|(_, t)| t == text),
            "a copy of an input row: {text}"
        );
        let words = sorted(text);
        let from_one = input.iter().any(|(l, t)| {
            let mut src = sorted(t);
            l == label
                && words.iter().all(|w| match src.iter().position(|s| s == w) {
                    Some(i) => {
                        src.remove(i);
                        true
                    }
                    None => false,
                })
        });
        assert!(from_one, "{label}\t{text} is not an edit of a {label} row");
    }
    // `-` writes the same rows to standard output.
    let mut a = args.to_vec();
    a[6] = "-";
    let o = ok(&a);
    assert_eq!(o.stdout, std::fs::read(&out).unwrap());
    // The same seed writes the same rows.
    let again = f.s("again.tsv");
    let mut a = args.to_vec();
    a[6] = &again;
    ok(&a);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
}

/// Rows generated under a label use that label's words (the run learned them); a filter at
/// probability .9 keeps only rows the classifier gives their label at .9 or more.
#[test]
fn generated_rows_follow_their_labels_and_the_filter() {
    let f = Fixture::new();
    let run = labelled_run(&f, "cond", 150);
    let data = f.s("labelled.tsv");
    let out = f.s("gen.tsv");
    let o = ok(&[
        "augment",
        "--method",
        "generate",
        "--in",
        &data,
        "--out",
        &out,
        "--run",
        &run,
        "--per-example",
        "2",
        "--seed",
        "3",
    ]);
    let new = rows(&out);
    let counts: HashMap<&str, usize> = new.iter().fold(HashMap::new(), |mut m, (l, _)| {
        *m.entry(l.as_str()).or_default() += 1;
        m
    });
    // 48 per label asked; a small run repeats itself, so some are dropped as duplicates.
    assert!(
        counts.values().all(|&n| n > 5 && n <= 48),
        "{counts:?} {}",
        common::stderr(&o)
    );
    // The run learned its labels: nearly every row is mostly its own label's words (the new
    // ones are where the small run strays from its training rows), and none is `<unk>`.
    let own = new
        .iter()
        .filter(|(label, text)| {
            let words = if label == "animal" { ANIMALS } else { COLOURS };
            let n = text.split(' ').count();
            2 * text.split(' ').filter(|w| words.contains(w)).count() > n
        })
        .count();
    assert!(own * 10 >= new.len() * 9, "{own} of {}: {new:?}", new.len());
    assert!(new.iter().all(|(_, t)| !t.contains("<unk>")), "{new:?}");
    // A classifier of the two classes, then the filter.
    let tok = tokenizer(&f);
    let cls = f.s("cls");
    lstm_classifier(
        &data,
        &tok,
        &cls,
        &["--epochs", "8", "--batch-size", "8", "--seed", "1"],
    );
    let filtered = f.s("filtered.tsv");
    let o = ok(&[
        "augment",
        "--method",
        "generate",
        "--in",
        &data,
        "--out",
        &filtered,
        "--run",
        &run,
        "--per-example",
        "2",
        "--seed",
        "3",
        "--filter-run",
        &cls,
        "--min-prob",
        "0.9",
    ]);
    let kept = rows(&filtered);
    assert!(!kept.is_empty(), "{}", common::stderr(&o));
    let texts: String = kept.iter().map(|(_, t)| format!("{t}\n")).collect();
    std::fs::write(f.path("texts.txt"), texts).unwrap();
    let p = ok(&[
        "classify",
        "predict",
        "--run",
        &cls,
        "--input",
        &f.s("texts.txt"),
    ]);
    for (line, (label, _)) in String::from_utf8(p.stdout).unwrap().lines().zip(&kept) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[0], label, "{line}");
        assert!(fields[1].parse::<f64>().unwrap() >= 0.9 - 5e-5, "{line}");
    }
    // The augmented rows train a classifier beside the real ones, at a weight.
    let cls2 = f.s("cls2");
    lstm_classifier(
        &data,
        &tok,
        &cls2,
        &[
            "--epochs",
            "1",
            "--augment",
            &filtered,
            "--augment-weight",
            "0.5",
        ],
    );
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.path("cls2/classifier.json")).unwrap())
            .unwrap();
    assert_eq!(spec["settings"]["augment_weight"], 0.5);
}

const SRC: [&str; 8] = [
    "ein", "hund", "katze", "rot", "blau", "groß", "klein", "baum",
];
const TGT: [&str; 8] = ["a", "dog", "cat", "red", "blue", "big", "small", "tree"];

/// A toy translation run from `from` words to `to` words (word for word); its directory.
fn toy_translator(dir: &Path, name: &str, from: &[&str; 8], to: &[&str; 8]) -> String {
    let mut state = 11u64;
    let (mut s, mut t) = (String::new(), String::new());
    for _ in 0..300 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let len = 2 + (state >> 60) as usize % 3;
        let words: Vec<usize> = (0..len)
            .map(|k| ((state >> (8 * k + 3)) % 8) as usize)
            .collect();
        s.push_str(&words.iter().map(|&w| from[w]).collect::<Vec<_>>().join(" "));
        t.push_str(&words.iter().map(|&w| to[w]).collect::<Vec<_>>().join(" "));
        s.push('\n');
        t.push('\n');
    }
    let (src, tgt) = (
        dir.join(format!("{name}.src")),
        dir.join(format!("{name}.tgt")),
    );
    std::fs::write(&src, s).unwrap();
    std::fs::write(&tgt, t).unwrap();
    let out = dir.join(name).to_string_lossy().into_owned();
    let mut a: Vec<String> = vec!["train".into(), "--out".into(), out.clone()];
    for s in [
        "data.source=text".to_string(),
        format!("data.train_source=\"{}\"", src.display()),
        format!("data.train=\"{}\"", tgt.display()),
        "data.test_fraction=0.1".into(),
        "generator.kind=seq2seq".into(),
        "generator.enc_layers=1".into(),
        "generator.dec_layers=1".into(),
        "generator.n_head=2".into(),
        "generator.n_embd=32".into(),
        "generator.ffn=64".into(),
        "generator.dropout=0.0".into(),
        "train.batch_size=16".into(),
        "train.lr=0.003".into(),
        "train.device=cpu".into(),
        "train.eval_every=1000".into(),
        "train.eval_samples=10".into(),
        "train.max_steps=500".into(),
        "train.epochs=1000".into(),
    ] {
        a.extend(["--set".into(), s]);
    }
    ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    out
}

/// Through a pair that translates word for word, back-translation returns the rows it read:
/// every row comes back unchanged (and is not written); sampling hot writes new rows under
/// the same labels; a pair that does not chain is refused.
#[test]
fn back_translation_through_a_toy_pair() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fwd = toy_translator(d, "de-en", &SRC, &TGT);
    let bwd = toy_translator(d, "en-de", &TGT, &SRC);
    let data = d.join("rows.tsv");
    std::fs::write(
        &data,
        "x\tein hund\ny\tkatze rot baum\nx\tklein blau\ny\tein groß baum\n",
    )
    .unwrap();
    let data = data.to_string_lossy().into_owned();
    let out = d.join("bt.tsv").to_string_lossy().into_owned();
    let base = [
        "augment",
        "--method",
        "backtranslate",
        "--in",
        &data,
        "--out",
        &out,
        "--forward",
        &fwd,
        "--backward",
        &bwd,
        "--device",
        "cpu",
    ];
    for beam in ["1", "3"] {
        let mut a = base.to_vec();
        a.extend(["--beam", beam]);
        let o = ok(&a);
        let err = common::stderr(&o);
        assert!(
            err.contains("0 new rows (4 asked) from 4 input rows"),
            "{err}"
        );
        assert!(err.contains("skipped 4 unchanged"), "{err}");
    }
    let mut a = base.to_vec();
    a.extend(["--per-example", "2"]);
    fails(&a, "needs sampling (--temperature)");
    let mut a = base.to_vec();
    a.extend(["--per-example", "8", "--temperature", "3", "--seed", "5"]);
    ok(&a);
    let new = rows(&out);
    assert!(!new.is_empty());
    for (label, text) in &new {
        assert!(label == "x" || label == "y");
        assert!(text.split(' ').all(|w| SRC.contains(&w)), "{text}");
    }
    // The forward run twice: its German output is not the backward side's source language.
    let mut a = base.to_vec();
    a[10] = &fwd;
    fails(&a, "its source language is not the forward run's target");
}

/// EDA's synonyms are all-MiniLM-L6-v2's neighbours as sentence-transformers computes them:
/// each word encoded alone, the vocabulary's whole words ranked by cosine, forms of the same
/// word left out, 0.5 at least, five at most. Skipped without the encoder's package.
#[test]
fn eda_synonyms_are_sentence_transformers_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let Some(minilm) = common::minilm_folder(dir.path()) else {
        return;
    };
    let Some(py) = common::python_with("sentence-transformers", "sentence_transformers") else {
        return;
    };
    let words = [
        "movie",
        "good",
        "largest",
        "river",
        "invented",
        "funny",
        "city",
        "president",
        "money",
        "country",
        "fast",
        "doctor",
        "ocean",
        "car",
        "animal",
        "song",
        "war",
        "small",
        "island",
        "language",
    ];
    let data = dir.path().join("in.tsv");
    let text: String = words
        .iter()
        .map(|w| format!("a\tthe {w}\nb\t{w} here\n"))
        .collect();
    std::fs::write(&data, text).unwrap();
    let table = dir.path().join("syn.tsv");
    let out = dir.path().join("out.tsv");
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(["augment", "--method", "eda", "--device", "cpu", "--encoder"])
        .arg(&minilm)
        .arg("--in")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .arg("--write-synonyms")
        .arg(&table)
        .env("TEXTGAN_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::stderr(&o));
    let ours: HashMap<String, String> = std::fs::read_to_string(&table)
        .unwrap()
        .lines()
        .map(|l| {
            let (w, s) = l.split_once('\t').unwrap();
            (w.to_string(), s.to_string())
        })
        .collect();
    let script = r#"
import sys, json
from sentence_transformers import SentenceTransformer
m = SentenceTransformer(sys.argv[1], device="cpu")
vocab = m.tokenizer.get_vocab()
cands = sorted(w for w in vocab if len(w) >= 2 and all("a" <= c <= "z" for c in w))
C = m.encode(cands, batch_size=64, convert_to_tensor=True, normalize_embeddings=True)
def stem(a, b):
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k >= 4 or k + 1 >= min(len(a), len(b))
for w in sys.argv[2:]:
    q = m.encode([w], convert_to_tensor=True, normalize_embeddings=True)[0]
    s = C @ q
    top = s.topk(28)
    near = [cands[i] for v, i in zip(top.values.tolist(), top.indices.tolist())
            if v >= 0.5 and not stem(w, cands[i])][:5]
    print(w + "\t" + " ".join(near))
"#;
    let p = std::process::Command::new(py)
        .arg("-c")
        .arg(script)
        .arg(&minilm)
        .args(words)
        .output()
        .unwrap();
    assert!(p.status.success(), "{}", String::from_utf8_lossy(&p.stderr));
    let theirs = String::from_utf8(p.stdout).unwrap();
    let mut same = 0;
    for line in theirs.lines() {
        let (w, s) = line.split_once('\t').unwrap();
        let mine = ours.get(w).map(String::as_str).unwrap_or("");
        if mine == s {
            same += 1;
        } else {
            eprintln!("{w}: textgan [{mine}] sentence-transformers [{s}]");
        }
    }
    // Near-ties at the threshold may order differently in float32: 19 of 20 lists must match.
    assert!(
        same >= 19,
        "{same} of 20 synonym lists equal sentence-transformers'"
    );
}
