//! `textgan classify`: bad input refused in one line with nothing written; a classifier on an
//! LSTM trunk learns, saves, loads alone, scores unseen labels as wrong and predicts; on
//! all-MiniLM-L6-v2 the linear method equals scikit-learn's logistic regression, and a
//! fine-tuned GAN-BERT run's saved trunk and head give in `transformers` the probabilities
//! `predict` prints.
mod common;
use common::{fails, ok, stderr, textgan};
use std::path::Path;

/// A WordLevel tokenizer over the test's words, in `tokenizers`' JSON (no Python needed).
fn tokenizer_folder(dir: &Path, words: &[&str]) -> String {
    let mut vocab = serde_json::Map::new();
    for (i, w) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
        .iter()
        .chain(words)
        .enumerate()
    {
        vocab.insert(w.to_string(), serde_json::json!(i));
    }
    let tok = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null, "pre_tokenizer": {"type": "Whitespace"}, "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    let folder = dir.join("tok");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("tokenizer.json"), tok.to_string()).unwrap();
    folder.display().to_string()
}

const ANIMALS: &[&str] = &["cat", "dog", "bird", "horse", "cow", "goat"];
const CITIES: &[&str] = &["paris", "rome", "oslo", "lima", "cairo", "delhi"];

/// `n` labelled lines `label<TAB>text`: "the <animal> is here" or "we saw <city> today".
fn lines(n: usize, offset: usize, labelled: bool) -> String {
    (0..n)
        .map(|i| {
            let (label, text) = match (i + offset) % 2 {
                0 => (
                    "animal",
                    format!("the {} is here", ANIMALS[(i * 7 + offset) % 6]),
                ),
                _ => (
                    "city",
                    format!("we saw {} today", CITIES[(i * 5 + offset) % 6]),
                ),
            };
            match labelled {
                true => format!("{label}\t{text}\n"),
                false => format!("{text}\n"),
            }
        })
        .collect()
}

/// A temporary folder holding a tokenizer of the test sentences' words; its folder's path.
fn words_and_tokenizer() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let words: Vec<&str> = ["the", "is", "here", "we", "saw", "today"]
        .into_iter()
        .chain(ANIMALS.iter().copied())
        .chain(CITIES.iter().copied())
        .collect();
    let tok = tokenizer_folder(dir.path(), &words);
    (dir, tok)
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    let (dir, tok) = words_and_tokenizer();
    let d = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(d("train.tsv"), lines(20, 0, true)).unwrap();
    std::fs::write(d("plain.txt"), lines(20, 0, false)).unwrap();
    std::fs::write(d("one.tsv"), "pos\tgood film\npos\tfine film\n").unwrap();
    let out = d("out");
    let base = |train: &str| {
        vec![
            "classify",
            "train",
            "--train",
            train,
            "--trunk",
            "lstm",
            "--tokenizer",
            &tok,
            "--out",
            &out,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<String>>()
    };
    let run = |args: Vec<String>, needle: &str| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&a, needle);
        assert!(!Path::new(&out).exists(), "{a:?} left {out}");
    };
    let plain = d("plain.txt");
    run(base(&plain), "no label");
    let mut a = base(&d("train.tsv"));
    a.extend(["--unlabelled".into(), d("train.tsv")]);
    run(a, "a labelled line in the unlabelled text");
    run(base(&d("one.tsv")), "one class (`pos`)");
    let mut a = base(&d("train.tsv"));
    a.extend(["--labelled-fraction".into(), "0".into()]);
    run(a, "--labelled-fraction");
    let mut a = base(&d("train.tsv"));
    a.extend(["--lstm-size".into(), "0".into()]);
    run(a, "--lstm-size must be at least 1");
    let mut a = base(&d("train.tsv"));
    a.extend(["--method".into(), "linear".into()]);
    run(a, "an LSTM trunk starts from random weights");
    // A trunk folder of another model type.
    let gpt2 = dir.path().join("gpt2");
    std::fs::create_dir_all(&gpt2).unwrap();
    std::fs::write(gpt2.join("config.json"), r#"{"model_type": "gpt2"}"#).unwrap();
    std::fs::write(gpt2.join("tokenizer.json"), "{}").unwrap();
    run(
        vec![
            "classify".into(),
            "train".into(),
            "--train".into(),
            d("train.tsv"),
            "--trunk".into(),
            gpt2.display().to_string(),
            "--out".into(),
            out.clone(),
        ],
        "model_type \"gpt2\" is not supported",
    );
    // predict and eval on a folder that is not a classifier run.
    fails(
        &["classify", "predict", "--run", &tok, "--input", &plain],
        "not a classifier run",
    );
    fails(
        &["classify", "eval", "--run", &tok, "--test", &d("train.tsv")],
        "not a classifier run",
    );
}

#[test]
fn lstm_classifier_learns_saves_and_scores_unseen_labels_as_wrong() {
    let (dir, tok) = words_and_tokenizer();
    let d = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(d("train.tsv"), lines(24, 0, true)).unwrap();
    std::fs::write(d("unlabelled.txt"), lines(40, 1, false)).unwrap();
    // The test holds a label training never saw: counted, named, scored as wrong.
    let test = format!("{}food\tthe soup is here\n", lines(9, 3, true));
    std::fs::write(d("test.tsv"), test).unwrap();
    let run = d("run");
    ok(&[
        "classify",
        "train",
        "--train",
        &d("train.tsv"),
        "--unlabelled",
        &d("unlabelled.txt"),
        "--trunk",
        "lstm",
        "--tokenizer",
        &tok,
        "--lstm-size",
        "16",
        "--lr",
        "0.01",
        "--lr-g",
        "0.01",
        "--epochs",
        "8",
        "--batch-size",
        "8",
        "--seed",
        "1",
        "--out",
        &run,
        "--device",
        "cpu",
    ]);
    for f in [
        "classifier.json",
        "head.safetensors",
        "metrics.jsonl",
        "trunk/tokenizer.json",
    ] {
        assert!(Path::new(&run).join(f).exists(), "{f}");
    }
    let records = common::metrics(Path::new(&run));
    assert_eq!(records.len(), 8);
    let o = textgan(&[
        "classify",
        "eval",
        "--run",
        &run,
        "--test",
        &d("test.tsv"),
        "--out",
        &d("eval"),
        "--device",
        "cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(stderr(&o).contains("food (1)"), "{}", stderr(&o));
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d("eval/eval.json")).unwrap()).unwrap();
    assert_eq!(eval["n"], 10);
    assert_eq!(eval["unknown_labels"]["food"], 1);
    // The 9 known rows are easy: all right, and the unseen one wrong.
    assert_eq!(eval["accuracy"].as_f64().unwrap(), 0.9, "{printed}");
    let csv = std::fs::read_to_string(d("eval/confusion.csv")).unwrap();
    assert!(csv.starts_with("true\\predicted,animal,city\n"), "{csv}");
    // predict: label, probability, text per line, from the run alone.
    let predict = |f: &str| {
        let o = ok(&[
            "classify",
            "predict",
            "--run",
            &run,
            "--input",
            &d(f),
            "--device",
            "cpu",
        ]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = predict("unlabelled.txt");
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 40);
    for r in &rows {
        let want = if r[2].starts_with("the ") {
            "animal"
        } else {
            "city"
        };
        assert_eq!(r[0], want, "{r:?}");
        let p: f64 = r[1].parse().unwrap();
        assert!((0.5..=1.0).contains(&p), "{r:?}");
    }
    // A text's answer does not depend on the other texts of its batch (padding is not read).
    std::fs::write(d("one.txt"), "we saw rome today\n").unwrap();
    std::fs::write(
        d("two.txt"),
        "we saw rome today\nthe cat the dog the bird the cow is here today\n",
    )
    .unwrap();
    let first = |f: &str| predict(f).lines().next().unwrap().to_string();
    assert_eq!(first("one.txt"), first("two.txt"));
    #[cfg(feature = "serve")]
    serves_the_classifier(&run, &rows);
}

/// `POST /v1/classify` answers as `predict` does, and refuses bad requests in JSON.
#[cfg(feature = "serve")]
fn serves_the_classifier(run: &str, predicted: &[Vec<&str>]) {
    let (mut child, url) = common::serve(&[
        "--classifier",
        run,
        "--addr",
        "127.0.0.1:0",
        "--device",
        "cpu",
    ]);
    // Every answer, errors included, is a JSON object.
    let post = |body: serde_json::Value| {
        let (status, v) = common::post_json(&format!("{url}/v1/classify"), &body.to_string());
        assert!(v.is_object(), "{status}: {v}");
        (status, v)
    };
    let texts: Vec<&str> = predicted.iter().take(5).map(|r| r[2]).collect();
    let (status, v) = post(serde_json::json!({"texts": texts}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["labels"], serde_json::json!(["animal", "city"]));
    for (r, want) in v["results"].as_array().unwrap().iter().zip(predicted) {
        assert_eq!(r["label"], want[0], "{r}");
        let p = r["probability"].as_f64().unwrap();
        assert!((p - want[1].parse::<f64>().unwrap()).abs() < 1e-4, "{r}");
        let sum: f64 = r["probabilities"]
            .as_object()
            .unwrap()
            .values()
            .map(|x| x.as_f64().unwrap())
            .sum();
        assert!((sum - 1.0).abs() < 1e-5, "{r}");
    }
    let (status, v) = post(serde_json::json!({"texts": []}));
    assert_eq!(status, 400, "{v}");
    let (status, v) = post(serde_json::json!({"texts": ["a"], "model": "nope"}));
    assert_eq!(status, 404, "{v}");
    let (status, v) = post(serde_json::json!({"text": "a"}));
    assert_eq!(status, 422, "{v}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// TREC's files and MiniLM in a data directory, or None (skipped).
fn trec_and_minilm(dir: &Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    if !common::have("trec-ganbert") {
        return None;
    }
    let trec = textgan::datasets::set("trec-ganbert")
        .unwrap()
        .locate()
        .unwrap();
    let minilm = common::minilm_folder(dir)?;
    Some((trec, minilm))
}

#[test]
fn minilm_linear_equals_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let Some((trec, minilm)) = trec_and_minilm(dir.path()) else {
        return;
    };
    let (Some(_), Some(py)) = (
        common::python_with("scikit-learn", "sklearn"),
        common::python_with("sentence-transformers", "sentence_transformers"),
    ) else {
        return;
    };
    let run = dir.path().join("run").display().to_string();
    let (train, test) = (trec.join("labeled.tsv"), trec.join("test.tsv"));
    let o = ok(&[
        "classify",
        "train",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--trunk",
        minilm.to_str().unwrap(),
        "--method",
        "linear",
        "--out",
        &run,
        "--device",
        "cpu",
    ]);
    let ours = common::metrics(Path::new(&run))[0]["test_accuracy"]
        .as_f64()
        .unwrap_or_else(|| panic!("{}", stderr(&o)));
    let script = r#"
import sys, numpy as np
from sentence_transformers import SentenceTransformer
from sklearn.linear_model import LogisticRegression
def read(p):
    rows = [l.split(' ', 1) for l in open(p).read().splitlines()[1:] if l.strip()]
    return [a for a, b in rows], [b for a, b in rows]
yl, xl = read(sys.argv[2]); yt, xt = read(sys.argv[3])
m = SentenceTransformer(sys.argv[1], device='cpu')
clf = LogisticRegression(C=10, max_iter=5000).fit(m.encode(xl), yl)
print((clf.predict(m.encode(xt)) == np.array(yt)).mean())
"#;
    let o = std::process::Command::new(py)
        .args(["-c", script, minilm.to_str().unwrap()])
        .arg(&train)
        .arg(&test)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let theirs: f64 = out
        .trim()
        .lines()
        .last()
        .unwrap_or("")
        .parse()
        .unwrap_or_else(|_| panic!("scikit-learn: {out} {}", stderr(&o)));
    // The same convex problem solved two ways: one question of 500 either way at most.
    assert!(
        (ours - theirs).abs() <= 0.0021,
        "textgan {ours}, scikit-learn {theirs}"
    );
}

#[test]
fn fine_tuned_ganbert_run_is_a_transformers_folder_and_a_head() {
    let dir = tempfile::tempdir().unwrap();
    let Some((trec, minilm)) = trec_and_minilm(dir.path()) else {
        return;
    };
    let Some(py) = common::python_with("transformers", "transformers") else {
        return;
    };
    // A small slice of TREC: one epoch of GAN-BERT with the trunk fine-tuned.
    let read = |f: &str| std::fs::read_to_string(trec.join(f)).unwrap();
    let labelled: Vec<String> = read("labeled.tsv")
        .lines()
        .take(25)
        .map(String::from)
        .collect();
    let unlabelled: Vec<String> = read("unlabeled.tsv")
        .lines()
        .take(33)
        .map(String::from)
        .collect();
    let d = |n: &str| dir.path().join(n);
    std::fs::write(d("l.tsv"), labelled.join("\n")).unwrap();
    std::fs::write(d("u.tsv"), unlabelled.join("\n")).unwrap();
    let texts: Vec<&str> = unlabelled[1..9].iter().map(|l| &l[8..]).collect();
    std::fs::write(d("texts.txt"), texts.join("\n")).unwrap();
    let run = d("run");
    ok(&[
        "classify",
        "train",
        "--train",
        d("l.tsv").to_str().unwrap(),
        "--unlabelled",
        d("u.tsv").to_str().unwrap(),
        "--trunk",
        minilm.to_str().unwrap(),
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--out",
        run.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let o = ok(&[
        "classify",
        "predict",
        "--run",
        run.to_str().unwrap(),
        "--input",
        d("texts.txt").to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let ours: Vec<(String, f64)> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].parse().unwrap())
        })
        .collect();
    // transformers reads the saved trunk/ as a BertModel; the head is three tensors.
    let script = r#"
import sys, json, torch
from transformers import AutoModel, AutoTokenizer
from safetensors.torch import load_file
run = sys.argv[1]
tok = AutoTokenizer.from_pretrained(run + '/trunk')
model = AutoModel.from_pretrained(run + '/trunk').eval()
head = load_file(run + '/head.safetensors')
labels = json.load(open(run + '/classifier.json'))['labels']
texts = open(sys.argv[2]).read().splitlines()
with torch.no_grad():
    enc = tok(texts, padding=True, truncation=True, max_length=64, return_tensors='pt')
    h = model(**enc).last_hidden_state
    m = enc['attention_mask'].unsqueeze(-1).float()
    x = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    x = x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)
    z = torch.nn.functional.leaky_relu(x @ head['head.hidden0.weight'].T + head['head.hidden0.bias'], 0.2)
    logits = z @ head['head.logit.weight'].T + head['head.logit.bias']
    p = logits[:, :-1].softmax(-1)
    best, idx = p.max(1)
for b, i in zip(best.tolist(), idx.tolist()):
    print(labels[i] + '\t' + repr(b))
"#;
    let o = std::process::Command::new(py)
        .args([
            "-c",
            script,
            run.to_str().unwrap(),
            d("texts.txt").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let theirs: Vec<(String, f64)> = out
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(a, b)| (a.to_string(), b.parse().unwrap()))
        .collect();
    assert_eq!(
        theirs.len(),
        ours.len(),
        "transformers: {out} {}",
        stderr(&o)
    );
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a.0, b.0);
        assert!((a.1 - b.1).abs() < 1e-3, "{a:?} {b:?}");
    }
}
