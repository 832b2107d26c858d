//! GPT-2 in and out, against Hugging Face `transformers` itself: a tiny random GPT-2 made and
//! saved by `transformers` (tests/fixtures/gpt2_reference.py) loads into textgan with the
//! same logits, step-by-step decoding with the key/value cache agrees, and what textgan
//! exports loads back into `transformers` with the same logits. `transformers` is installed
//! into the checkout's Python environment when missing (CI included); where neither is
//! possible the tests say they skipped.
mod common;
use common::{ok, Fixture};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{Device, Kind, Tensor};
use textgan::models::gpt2::{load_hf, save_hf};

fn python_with_transformers() -> Option<PathBuf> {
    common::python_with("transformers", "transformers")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/gpt2_reference.py")
}

/// The logits `transformers` computes with the model in `folder` for the ids in `ids_file`.
fn hf_logits(py: &Path, folder: &Path, ids_file: &Path) -> Vec<f64> {
    let o = Command::new(py)
        .arg(script())
        .arg("logits")
        .arg(folder)
        .arg(ids_file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    flatten(&serde_json::from_slice(&o.stdout).unwrap())
}

/// A tiny random GPT-2 with a byte-level BPE trained on the fixture's training text, saved by
/// `transformers` to `tiny-lm` in the fixture; with its NLL per token on the test text, as
/// `transformers` computes it.
fn tiny_lm(py: &Path, f: &Fixture) -> (PathBuf, f64) {
    let hf = f.path("tiny-lm");
    let o = Command::new(py)
        .arg(script())
        .args([
            "lm",
            &hf.to_string_lossy(),
            &f.s("train.txt"),
            &f.s("test.txt"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let nll: Value =
        serde_json::from_str(&std::fs::read_to_string(hf.join("nll.json")).unwrap()).unwrap();
    (hf, nll["nll"].as_f64().unwrap())
}

/// `train --init-from-hf HF --out OUT` on the fixture's text, on the CPU, with `extra`
/// arguments after those.
fn fine_tune(f: &Fixture, hf: &Path, out: &str, extra: &[&str]) -> std::process::Output {
    let (hf, out) = (hf.to_string_lossy().into_owned(), f.s(out));
    let (train, test) = (f.s("train.txt"), f.s("test.txt"));
    let mut args = vec![
        "train",
        "--init-from-hf",
        &hf,
        "--out",
        &out,
        "--data",
        &train,
        "--test-data",
        &test,
        "--set",
        "train.device=\"cpu\"",
    ];
    args.extend_from_slice(extra);
    ok(&args)
}

/// What `AutoTokenizer` reads from `folder`: size, special tokens, the ids of `text`.
fn hf_tokenizer(py: &Path, folder: &Path, text: &str) -> Value {
    let o = Command::new(py)
        .arg(script())
        .arg("tokenizer")
        .arg(folder)
        .arg(text)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn flatten(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        other => panic!("not a number: {other}"),
    }
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

fn ours(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap()
}

#[test]
fn gpt2_loads_and_exports_with_the_logits_of_transformers() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let tiny = dir.path().join("tiny");
    let o = Command::new(&py)
        .arg(script())
        .arg("make")
        .arg(&tiny)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reference: Value =
        serde_json::from_str(&std::fs::read_to_string(tiny.join("reference.json")).unwrap())
            .unwrap();
    let want = flatten(&reference["logits"]);

    let (cfg, vocab, model) = load_hf(&tiny, Device::Cpu).unwrap();
    assert_eq!(
        (vocab, cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.n_positions),
        (300, 2, 64, 4, 40)
    );
    assert_eq!(cfg.activation_function, "gelu_new");
    let ids: Vec<i64> = flatten(&reference["ids"])
        .iter()
        .map(|&x| x as i64)
        .collect();
    let ids = Tensor::from_slice(&ids).view([2, 8]);
    let logits = tch::no_grad(|| model.net.forward(&ids, false));
    let d = max_diff(&ours(&logits), &want);
    eprintln!("loaded: largest logit difference from transformers {d:.2e}");
    assert!(d < 1e-4, "logits differ from transformers' by {d}");

    // Decoding one token at a time through the key/value cache gives the same logits.
    let mut state = model.net.initial_state(2);
    for t in 0..8 {
        let step = tch::no_grad(|| model.net.step(&ids.select(1, t), &mut state));
        let d = max_diff(&ours(&step), &ours(&logits.select(1, t)));
        assert!(d < 1e-4, "position {t}: the cached step differs by {d}");
    }

    // What textgan writes, transformers loads, with the same logits.
    let out = dir.path().join("exported");
    save_hf(&model, &cfg, (vocab, 299, 299), &out).unwrap();
    let back = hf_logits(&py, &out, &tiny.join("reference.json"));
    let d = max_diff(&back, &want);
    eprintln!("exported: largest logit difference {d:.2e}");
    assert!(d < 1e-4, "the exported model's logits differ by {d}");

    // Other model families are refused in one line.
    std::fs::write(
        dir.path().join("config.json"),
        json!({"model_type": "llama", "vocab_size": 10}).to_string(),
    )
    .unwrap();
    let err = load_hf(dir.path(), Device::Cpu).err().unwrap().to_string();
    assert!(err.contains("model_type `llama` is not supported"), "{err}");
}

/// `textgan export --hf` on a trained textgan Transformer run: `transformers` loads the folder
/// and computes textgan's own logits.
#[test]
fn export_command_writes_a_folder_transformers_loads() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let f = Fixture::new();
    f.train(
        "gpt",
        6,
        &[
            "--set",
            "generator.kind=\"transformer\"",
            "--set",
            "generator.n_layer=2",
            "--set",
            "generator.n_head=2",
            "--set",
            "generator.n_embd=16",
        ],
    );
    let out = f.path("hf");
    ok(&[
        "export",
        "--run",
        &f.s("gpt"),
        "--hf",
        &out.to_string_lossy(),
    ]);
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["model_type"], "gpt2");
    assert_eq!(cfg["activation_function"], "gelu");

    let run = textgan::checkpoint::LoadedGenerator::load(&f.path("gpt"), Device::Cpu).unwrap();
    let ids = [[1i64, 5, 6, 7, 4, 2], [1, 9, 10, 11, 12, 13]];
    std::fs::write(f.path("ids.json"), json!({ "ids": ids }).to_string()).unwrap();
    let x = Tensor::from_slice(&ids.concat()).view([2, 6]);
    let logits = tch::no_grad(|| run.model.net.forward(&x, false));
    let back = hf_logits(&py, &out, &f.path("ids.json"));
    let d = max_diff(&back, &ours(&logits));
    eprintln!("export command: largest logit difference {d:.2e}");
    assert!(
        d < 1e-4,
        "transformers' logits of the export differ from textgan's by {d}"
    );

    // A `gpt2` run trains through the same pipeline and exports with GPT-2's own GELU.
    let gpt2 = [
        "--set",
        "generator.kind=\"gpt2\"",
        "--set",
        "generator.n_layer=1",
        "--set",
        "generator.n_head=2",
        "--set",
        "generator.n_embd=16",
        "--set",
        "generator.n_positions=16",
    ];
    f.train("g2", 4, &gpt2);
    let out2 = f.path("hf-g2");
    ok(&[
        "export",
        "--run",
        &f.s("g2"),
        "--hf",
        &out2.to_string_lossy(),
    ]);
    let run = textgan::checkpoint::LoadedGenerator::load(&f.path("g2"), Device::Cpu).unwrap();
    let logits = tch::no_grad(|| run.model.net.forward(&x, false));
    let d = max_diff(&hf_logits(&py, &out2, &f.path("ids.json")), &ours(&logits));
    assert!(d < 1e-4, "gpt2 run: transformers' logits differ by {d}");
    let mut short = gpt2.to_vec();
    short[9] = "generator.n_positions=4";
    let (train, test, never) = (f.s("train.txt"), f.s("test.txt"), f.s("never"));
    let mut args = vec![
        "train",
        "--out",
        &never,
        "--data",
        &train,
        "--test-data",
        &test,
    ];
    args.extend(short);
    common::fails(&args, "generator.n_positions = 4 is shorter than the texts");
    assert!(
        !f.path("never").exists(),
        "a refused run leaves no directory"
    );

    // A run with a BPE of its own exports its tokenizer with textgan's special tokens, which
    // AutoTokenizer then reads as such (ids as textgan's).
    f.train(
        "bpe",
        2,
        &[
            "--set",
            "generator.kind=\"transformer\"",
            "--set",
            "generator.n_layer=1",
            "--set",
            "generator.n_head=2",
            "--set",
            "generator.n_embd=16",
            "--set",
            "data.tokenizer=\"bpe\"",
            "--set",
            "data.vocab_size=120",
        ],
    );
    ok(&["export", "--run", &f.s("bpe"), "--hf", &f.s("bpe-hf")]);
    let t = hf_tokenizer(&py, &f.path("bpe-hf"), "the cat");
    let run = textgan::checkpoint::LoadedGenerator::load(&f.path("bpe"), Device::Cpu).unwrap();
    let v = &run.vocab;
    assert_eq!(t["len"].as_u64(), Some(v.len() as u64), "{t}");
    assert_eq!(
        (t["eos"].as_str(), t["bos"].as_str(), t["pad"].as_str()),
        (Some("<eos>"), Some("<bos>"), Some("<pad>")),
        "{t}"
    );
    assert_eq!(t["eos_id"].as_i64(), v.eos, "{t}");
    let ids: Vec<i64> = t["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(ids, v.encode("the cat").unwrap(), "{t}");

    // A run whose generator GPT-2 cannot hold is refused in one line; so is a full folder.
    f.train("lstm", 2, &[]);
    common::fails(
        &["export", "--run", &f.s("lstm"), "--hf", &f.s("hf2")],
        "generator is `lstm`",
    );
    common::fails(
        &[
            "export",
            "--run",
            &f.s("gpt"),
            "--hf",
            &out.to_string_lossy(),
        ],
        "not empty",
    );
}

/// `train --init-from-hf`: a GPT-2 folder with its tokenizer (made by transformers and
/// tokenizers) starts a run; before any real update its test NLL is the one transformers
/// computes on the same sentences; it fine-tunes, samples text and exports again.
#[test]
fn init_from_hf_reads_text_with_the_models_tokenizer() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let f = Fixture::new();
    let (hf, want) = tiny_lm(&py, &f);
    let (hf_s, train) = (hf.to_string_lossy().into_owned(), f.s("train.txt"));
    // One step at a learning rate of 1e-9: the first evaluation sees the loaded weights.
    let few = ["--set", "train.batch_size=4"];
    let one = [
        "--max-steps",
        "1",
        "--set",
        "train.lr=1e-9",
        "--set",
        "train.eval_every=1",
    ];
    fine_tune(&f, &hf, "ft", &[&one[..], &few].concat());
    let m = common::metrics(&f.path("ft"));
    let got = m[0]["test_nll"].as_f64().unwrap();
    eprintln!("init-from-hf: test NLL {got} vs transformers {want}");
    assert!(
        (got - want).abs() < 1e-4,
        "test NLL {got} vs transformers' {want}"
    );
    let cfg = std::fs::read_to_string(f.path("ft").join("config.toml")).unwrap();
    assert!(
        cfg.contains("kind = \"gpt2\"") && cfg.contains("tokenizer = \"pretrained\""),
        "{cfg}"
    );
    // Fine-tuning proper, sampling, and the folder again.
    let run2 = f.s("ft2");
    let six = [
        "--max-steps",
        "6",
        "--set",
        "train.lr=0.003",
        "--set",
        "train.eval_every=3",
    ];
    fine_tune(&f, &hf, "ft2", &[&six[..], &few].concat());
    let m = common::metrics(&f.path("ft2"));
    let last = m.last().unwrap()["test_nll"].as_f64().unwrap();
    assert!(
        last < want,
        "fine-tuning did not lower the test NLL: {want} -> {last}"
    );
    let o = ok(&["sample", "--run", &run2, "-n", "3"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 3);
    ok(&["export", "--run", &run2, "--hf", &f.s("ft2-hf")]);
    // The tokenizer goes with the export, so the folder starts a run of its own.
    let exported = std::fs::read_to_string(f.path("ft2-hf").join("tokenizer.json")).unwrap();
    let original = std::fs::read_to_string(hf.join("tokenizer.json")).unwrap();
    let vocab = |t: &str| serde_json::from_str::<Value>(t).unwrap()["model"]["vocab"].clone();
    assert_eq!(vocab(&exported), vocab(&original));
    // AutoTokenizer reads the exported folder with the run's special tokens.
    let t = hf_tokenizer(&py, &f.path("ft2-hf"), "a man");
    assert_eq!(
        (t["len"].as_u64(), t["eos"].as_str()),
        (
            Some(vocab(&original).as_object().unwrap().len() as u64),
            Some("<|endoftext|>")
        ),
        "{t}"
    );
    // A folder whose weights hold a NaN is refused at load, naming the tensor; no run is left.
    let bad = f.path("nan-hf");
    std::fs::create_dir_all(&bad).unwrap();
    for file in ["config.json", "tokenizer.json"] {
        std::fs::copy(hf.join(file), bad.join(file)).unwrap();
    }
    let mut weights = Tensor::read_safetensors(hf.join("model.safetensors")).unwrap();
    let (name, t) = weights
        .iter_mut()
        .find(|(n, _)| n.ends_with("ln_f.weight"))
        .expect("a final layer norm");
    let _ = t.get(0).fill_(f64::NAN);
    let name = name.clone();
    Tensor::write_safetensors(&weights, bad.join("model.safetensors")).unwrap();
    let bad_s = bad.to_string_lossy().into_owned();
    let err = common::fails(
        &[
            "train",
            "--init-from-hf",
            &bad_s,
            "--out",
            &f.s("nan-run"),
            "--data",
            &train,
        ],
        "holds NaN or infinite values",
    );
    assert!(err.contains(&name), "{err}");
    assert!(!f.path("nan-run").exists(), "a refused run leaves nothing");
    // With its folder's tokenizer gone, the run resumes on the copy it keeps...
    std::fs::remove_file(hf.join("tokenizer.json")).unwrap();
    ok(&["train", "--resume", &run2, "--max-steps", "8"]);
    // ...and a folder without its tokenizer is refused in one line.
    common::fails(
        &[
            "train",
            "--init-from-hf",
            &hf_s,
            "--out",
            &f.s("x"),
            "--data",
            &train,
        ],
        "no tokenizer.json",
    );
}

/// `bench --size gpt2tiny`: the forward pass and cached generation are timed; steps the GPT-2
/// sizes do not time are refused in one line.
#[test]
fn bench_times_gpt2_forward_and_generation() {
    let o = ok(&[
        "bench", "--size", "gpt2tiny", "--step", "forward", "--step", "sample", "--step", "mle",
        "--reps", "1", "--warmup", "0",
    ]);
    let o2 = ok(&[
        "bench",
        "--size",
        "gpt2tiny",
        "--step",
        "mle",
        "--lora-rank",
        "4",
        "--reps",
        "1",
        "--warmup",
        "0",
    ]);
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&o2.stdout).lines())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for (l, step) in lines.iter().zip(["forward", "sample", "mle", "mle"]) {
        assert_eq!(
            (l["step"].as_str(), l["size"].as_str()),
            (Some(step), Some("gpt2tiny"))
        );
        assert!(l["median_ms"].as_f64().unwrap() > 0.0);
    }
    // Rank-4 adapters on the two layers' c_attn (64 -> 192) and c_proj (64 -> 64):
    // 2 x 4 x ((64 + 192) + (64 + 64)) = 3,072 trained parameters.
    assert_eq!(lines[3]["trained_parameters"], 3072, "{}", lines[3]);
    common::fails(
        &[
            "bench", "--size", "gpt2tiny", "--step", "seqgan", "--reps", "1",
        ],
        "forward, sample and mle steps only",
    );
    common::fails(
        &[
            "bench", "--size", "oracle", "--step", "forward", "--reps", "1",
        ],
        "gpt2 sizes only",
    );
}

/// `--set generator.lora_rank=4` on a run started from a GPT-2 folder: only the adapters
/// train (the folder's weights come out of the run unchanged, bit for bit), the test NLL
/// still falls, and the export folds the adapters into the projections, so `transformers`
/// computes the run's logits from a plain GPT-2 folder.
#[test]
fn lora_trains_only_the_adapters_and_exports_them_merged() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let f = Fixture::new();
    let (hf, want) = tiny_lm(&py, &f);
    let run = f.s("lora");
    let o = fine_tune(
        &f,
        &hf,
        "lora",
        &[
            "--max-steps",
            "8",
            "--set",
            "generator.lora_rank=4",
            "--set",
            "train.lr=0.02",
            "--set",
            "train.eval_every=4",
            "--set",
            "train.batch_size=4",
            "--set",
            "generator.dropout=0.0",
        ],
    );
    let log = String::from_utf8_lossy(&o.stderr).into_owned() + &String::from_utf8_lossy(&o.stdout);
    assert!(log.contains("trained (LoRA adapters)"), "{log}");
    let m = common::metrics(&f.path("lora"));
    let last = m.last().unwrap()["test_nll"].as_f64().unwrap();
    assert!(
        last < want,
        "LoRA did not lower the test NLL: {want} -> {last}"
    );

    let (_, _, original) = load_hf(&hf, Device::Cpu).unwrap();
    let tuned = textgan::checkpoint::LoadedGenerator::load(&f.path("lora"), Device::Cpu).unwrap();
    let vars = tuned.model.vs.variables();
    for (name, w) in original.vs.variables() {
        assert!(w.equal(&vars[&name]), "{name} changed under LoRA");
    }
    let b = &vars["h.0.attn.c_attn.lora_b"];
    assert!(
        b.abs().max().double_value(&[]) > 0.0,
        "the adapters did not train"
    );

    let out = f.path("lora-hf");
    ok(&["export", "--run", &run, "--hf", &out.to_string_lossy()]);
    let ids = [[1i64, 5, 6, 7, 4, 2], [1, 9, 10, 11, 12, 13]];
    std::fs::write(f.path("ids.json"), json!({ "ids": ids }).to_string()).unwrap();
    let x = Tensor::from_slice(&ids.concat()).view([2, 6]);
    let logits = tch::no_grad(|| tuned.model.net.forward(&x, false));
    let before = tch::no_grad(|| original.net.forward(&x, false));
    let moved = max_diff(&ours(&before), &ours(&logits));
    assert!(
        moved > 1e-3,
        "the adapters change the logits by only {moved}"
    );
    let d = max_diff(&hf_logits(&py, &out, &f.path("ids.json")), &ours(&logits));
    eprintln!("LoRA export: largest logit difference {d:.2e} (adapters moved them {moved:.2e})");
    assert!(d < 1e-4, "the merged export's logits differ by {d}");
    let cfg = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(!cfg.contains("lora"), "the export is a plain GPT-2: {cfg}");
}

/// Every algorithm for plain text fine-tunes a pretrained GPT-2 adversarially from its first
/// step (`train.epochs = 0`): REINFORCE with rollouts, Gumbel-softmax through the soft
/// embedding, ScratchGAN's dense per-token rewards, and TextGAIL's PPO (with LoRA adapters
/// and the KL penalty to the starting model); each moves the generator, checkpoints, and
/// samples from its run.
#[test]
fn every_algorithm_fine_tunes_a_pretrained_gpt2() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let f = Fixture::new();
    let (hf, _) = tiny_lm(&py, &f);
    let (_, _, original) = load_hf(&hf, Device::Cpu).unwrap();
    let (hf_s, train) = (hf.to_string_lossy().into_owned(), f.s("train.txt"));
    let d_tf = "discriminator.kind=\"transformer\"";
    let d_sizes = [
        "discriminator.n_layer=2",
        "discriminator.n_head=2",
        "discriminator.n_embd=32",
    ];
    let from_folder = format!("gan.d_init=\"{hf_s}\"");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("seqgan", vec!["gan.rollouts=2"]),
        ("maligan", vec![]),
        // The discriminator starts from the generator's own trunk...
        (
            "gumbel",
            [&[d_tf, "gan.d_init=\"generator\""][..], &d_sizes].concat(),
        ),
        ("scratchgan", vec!["discriminator.kind=\"lstm\""]),
        // ...or from a GPT-2 folder's.
        (
            "textgail",
            [
                &[
                    "gan.loss=\"rsgan\"",
                    "gan.ppo_batch=2",
                    "gan.kl_coef=0.05",
                    "generator.lora_rank=2",
                    d_tf,
                    &from_folder,
                ][..],
                &d_sizes,
            ]
            .concat(),
        ),
    ];
    for (alg, extra) in cases {
        let run = f.s(alg);
        let algo = format!("gan.algorithm=\"{alg}\"");
        let mut args = vec![
            "--set",
            "train.epochs=0",
            "--set",
            &algo,
            "--set",
            "gan.steps=2",
            "--set",
            "gan.batch_size=4",
            "--set",
            "gan.eval_every=2",
            "--set",
            "gan.d_pretrain_steps=1",
            "--set",
            "gan.g_lr=0.01",
            "--set",
            "train.eval_samples=4",
        ];
        for e in &extra {
            args.extend(["--set", e]);
        }
        let o = fine_tune(&f, &hf, alg, &args);
        let log =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        let started = log.contains("discriminator started from");
        assert_eq!(
            started,
            extra.iter().any(|e| e.starts_with("gan.d_init")),
            "{alg}: {log}"
        );
        let m = common::metrics(&f.path(alg));
        let last = m.last().unwrap();
        assert_eq!(
            (last["phase"].as_str(), last["adv_step"].as_u64()),
            (Some("adv"), Some(2)),
            "{alg}: {last}"
        );
        let tuned = textgan::checkpoint::LoadedGenerator::load(&f.path(alg), Device::Cpu).unwrap();
        let vars = tuned.model.vs.variables();
        let moved = original
            .vs
            .variables()
            .iter()
            .any(|(n, w)| !w.equal(&vars[n]))
            || vars
                .iter()
                .any(|(n, w)| n.ends_with("lora_b") && w.abs().max().double_value(&[]) > 0.0);
        assert!(moved, "{alg}: the generator did not move");
        let o = ok(&["sample", "--run", &run, "-n", "2"]);
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).lines().count(),
            2,
            "{alg}"
        );
    }
    // A discriminator of other sizes than the trunk's is refused before anything runs...
    let refused = |out: &str, extra: &[&str], needle: &str| {
        let out = f.s(out);
        let mut args = vec![
            "train",
            "--out",
            &out,
            "--data",
            &train,
            "--set",
            "gan.algorithm=\"gumbel\"",
            "--set",
            "gan.steps=1",
            "--set",
            d_tf,
            "--set",
            &from_folder,
        ];
        args.extend_from_slice(extra);
        common::fails(&args, needle);
        assert!(
            !Path::new(&out).exists(),
            "{needle}: a refused run left {out}"
        );
    };
    refused(
        "bad",
        &["--init-from-hf", &hf_s],
        "the discriminator needs the folder's sizes (n_layer 2, n_head 2, n_embd 32",
    );
    // ...and so is a folder whose vocabulary is not the run's (a word vocabulary here).
    let sizes: Vec<&str> = d_sizes.iter().flat_map(|s| ["--set", *s]).collect();
    refused("bad2", &sizes, "the folder's vocabulary has");
}

/// Bad GPT-2 folders are refused in one line each, naming what is wrong, and leave no run
/// directory: no `config.json`, no weights, another `model_type`, weights of other shapes than
/// the config says, a tokenizer of another size than the embedding, a tokenizer that does
/// not parse.
#[test]
fn bad_folders_are_refused_in_one_line() {
    let Some(py) = python_with_transformers() else {
        return;
    };
    let f = Fixture::new();
    let (good, _) = tiny_lm(&py, &f);
    let copy = |name: &str, edit: &dyn Fn(&Path)| -> PathBuf {
        let dir = f.path(name);
        std::fs::create_dir_all(&dir).unwrap();
        for e in std::fs::read_dir(&good).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
        edit(&dir);
        dir
    };
    let json_edit = |file: &'static str, change: fn(&mut Value)| {
        move |d: &Path| {
            let p = d.join(file);
            let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            change(&mut v);
            std::fs::write(&p, v.to_string()).unwrap();
        }
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (
            copy("no-config", &|d| {
                std::fs::remove_file(d.join("config.json")).unwrap()
            }),
            "config.json",
        ),
        (
            copy("no-weights", &|d| {
                std::fs::remove_file(d.join("model.safetensors")).unwrap()
            }),
            "model.safetensors: not found",
        ),
        (
            copy(
                "llama",
                &json_edit("config.json", |v| v["model_type"] = json!("llama")),
            ),
            "model_type `llama` is not supported",
        ),
        (
            copy(
                "wider",
                &json_edit("config.json", |v| v["n_embd"] = json!(64)),
            ),
            "the model expects",
        ),
        (
            copy(
                "more-tokens",
                &json_edit("tokenizer.json", |v| {
                    let id = v["model"]["vocab"].as_object().unwrap().len();
                    v["added_tokens"].as_array_mut().unwrap().push(json!({
                        "id": id, "content": "<extra>", "single_word": false, "lstrip": false,
                        "rstrip": false, "normalized": false, "special": true
                    }));
                }),
            ),
            "tokens, its tokenizer",
        ),
        (
            copy("garbled", &|d| {
                std::fs::write(d.join("tokenizer.json"), "{ not json").unwrap()
            }),
            "tokenizer",
        ),
    ];
    for (i, (dir, needle)) in cases.iter().enumerate() {
        let out = f.s(&format!("run-{i}"));
        common::fails(
            &[
                "train",
                "--init-from-hf",
                &dir.to_string_lossy(),
                "--out",
                &out,
                "--data",
                &f.s("train.txt"),
                "--set",
                "train.device=\"cpu\"",
            ],
            needle,
        );
        assert!(
            !Path::new(&out).exists(),
            "{needle}: a refused run left {out}"
        );
    }
}
