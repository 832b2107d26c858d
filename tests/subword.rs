//! Subword tokenizers (`data.tokenizer = "bpe" | "unigram" | "wordpiece"`), trained by Hugging
//! Face's `tokenizers` crate on the training text: the run carries its `tokenizer.json`, the
//! ids textgan encodes equal those Python's `tokenizers` gives with that file (installed with
//! `transformers` into `.venv`), and sample, eval and the model's text all decode through it.
mod common;
use common::{ok, Fixture};
use std::process::Command;

const WORDS: [&str; 12] = [
    "the", "cat", "sat", "on", "mat", "a", "dog", "ran", "in", "park", "birds", "sea",
];

/// A corpus big enough for merges to happen: 300 sentences of the fixture's words.
fn corpus(f: &Fixture) {
    let mut text = String::new();
    for i in 0..300usize {
        let w = |k: usize| WORDS[(i * 7 + k * 5 + i / 11) % WORDS.len()];
        text.push_str(&format!("{} {} {} {} {}\n", w(0), w(1), w(2), w(3), w(4)));
    }
    std::fs::write(f.path("big.txt"), text).unwrap();
}

#[test]
fn trained_subword_tokenizers_match_python_tokenizers() {
    let f = Fixture::new();
    corpus(&f);
    let py = common::python_with("tokenizers", "tokenizers");
    let probe = "the cats sat, on the mät! unseen-words 123";
    for (kind, size) in [("bpe", "300"), ("unigram", "40"), ("wordpiece", "80")] {
        let run = f.s(kind);
        let (data, test) = (f.s("big.txt"), f.s("test.txt"));
        ok(&[
            "train",
            "--out",
            &run,
            "--max-steps",
            "4",
            "--data",
            &data,
            "--test-data",
            &test,
            "--set",
            &format!("data.tokenizer=\"{kind}\""),
            "--set",
            &format!("data.vocab_size={size}"),
            "--set",
            "train.device=\"cpu\"",
            "--set",
            "generator.embed_dim=8",
            "--set",
            "generator.hidden_dim=16",
            "--set",
            "train.batch_size=16",
            "--set",
            "train.eval_every=2",
            "--set",
            "train.eval_samples=5",
        ]);
        let tok = f.path(kind).join("tokenizer.json");
        assert!(tok.exists(), "{kind}: the run carries its tokenizer.json");
        let loaded =
            textgan::checkpoint::LoadedGenerator::load(&f.path(kind), tch::Device::Cpu).unwrap();
        let v = &loaded.vocab;
        assert_eq!(
            (v.pad, v.bos, v.eos, v.unk),
            (Some(0), 1, Some(2), Some(3)),
            "{kind}: the special tokens come first"
        );
        let ids = v.encode(probe).unwrap();
        let words = v.encode("the cat sat on the mat").unwrap();
        if kind == "bpe" {
            assert!(
                words.len() < "the cat sat on the mat".len(),
                "bpe merged nothing: {words:?}"
            );
        }
        // The text comes back through the tokenizer's decoder.
        assert_eq!(v.decode(&words), "the cat sat on the mat", "{kind}");
        if let Some(py) = &py {
            let o = Command::new(py)
                .args(["-c", "import json, sys; from tokenizers import Tokenizer; t = Tokenizer.from_file(sys.argv[1]); print(json.dumps(t.encode(sys.argv[2], add_special_tokens=False).ids))"])
                .arg(&tok)
                .arg(probe)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            let want: Vec<i64> = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(ids, want, "{kind}: ids differ from Python's tokenizers");
        }
        let o = ok(&["sample", "--run", &run, "-n", "3", "--seed", "1"]);
        assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
        if cfg!(feature = "serve") {
            served_completions_spell_the_text(&run);
        }
    }
}

/// `/v1/completions` of a subword run: the tokens, as they stand in the text, make it up.
fn served_completions_spell_the_text(run: &str) {
    let (mut child, url) =
        common::serve(&["--run", run, "--addr", "127.0.0.1:0", "--device", "cpu"]);
    let post = |body: serde_json::Value| {
        let r = ureq::post(&format!("{url}/v1/completions"))
            .set("Content-Type", "application/json")
            .send_string(&body.to_string());
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(c, r)) => panic!("{c}: {}", r.into_string().unwrap()),
            Err(e) => panic!("{e}"),
        };
        serde_json::from_str::<serde_json::Value>(&r.into_string().unwrap()).unwrap()
    };
    let v = post(serde_json::json!({"prompt": "the cat", "n": 4, "logprobs": 1, "seed": 3}));
    // Greedy, with echo: every chosen token is the most likely one, so the one key of each
    // position's top_logprobs is spelled as that token is, at the first position and after.
    let greedy = post(serde_json::json!({"prompt": "the cat", "logprobs": 1,
        "temperature": 0, "echo": true}));
    let _ = child.kill();
    let _ = child.wait();
    let tokens = |ch: &serde_json::Value| -> Vec<String> {
        ch["logprobs"]["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    };
    for ch in v["choices"].as_array().unwrap() {
        assert_eq!(
            tokens(ch).concat(),
            ch["text"].as_str().unwrap(),
            "{run}: {ch}"
        );
    }
    let ch = &greedy["choices"][0];
    let tops = ch["logprobs"]["top_logprobs"].as_array().unwrap();
    // (A tiny run may end at once; src/serve/scoring.rs checks the spelling for every kind.)
    let prompt = greedy["usage"]["prompt_tokens"].as_u64().unwrap() as usize;
    for (i, (tok, top)) in tokens(ch).iter().zip(tops).enumerate() {
        let keys: Vec<&String> = top.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 1, "{run}: {ch}");
        // The prompt's tokens were not chosen by the model: only the generated ones must be
        // the most likely.
        if i >= prompt && !tok.is_empty() {
            assert_eq!(keys[0], tok, "{run}: position {i} in {ch}");
        }
    }
}
