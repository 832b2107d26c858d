//! Property and fuzz tests of every parser user input reaches: corpus bytes, config TOML,
//! checkpoint files, vocabulary JSON, grammar files, sampling options; and invariants of the
//! text metrics. The property: every input ends in a result or an error, never a panic or a
//! hang. Each property runs a bounded number of cases (about a minute in all on 2 cores);
//! failing inputs proptest finds are kept in `tests/regressions/` and replayed first.
use proptest::prelude::*;
use std::path::Path;
use tch::{Kind, Tensor};
use textgan::config::RunConfig;
use textgan::data::{Encoding, Grammar, Vocab};
use textgan::eval::bleu::{self, Interner, ReferenceIndex, Tokenize};
use textgan::models::Sampling;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// Bytes that look like text files: lines of printable text, control characters, invalid
/// UTF-8, BOMs, CRLF, very long lines.
fn corpus_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        "[a-z ]{0,30}".prop_map(String::into_bytes),
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(vec![0xEF, 0xBB, 0xBF]),
        Just(vec![0xFF, 0xFE]),
        Just(b"\x00\x07\x1b[0m".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
        Just("x".repeat(300).into_bytes()),
        Just("床前明月光".as_bytes().to_vec()),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(config(2000))]

    /// A corpus file in any encoding setting reads, trains a vocabulary and encodes, or says
    /// why not in one line.
    #[test]
    fn corpus_bytes_read_or_fail_cleanly(bytes in corpus_bytes(), enc in 0usize..3) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        std::fs::write(&path, &bytes).unwrap();
        let encoding = [Encoding::Utf8, Encoding::Latin1, Encoding::Windows1252][enc];
        let sets = [
            "data.source=\"text\"".to_string(),
            format!("data.train=\"{}\"", path.display()),
            format!("data.encoding=\"{}\"", ["utf-8", "latin-1", "windows-1252"][enc]),
        ];
        let _ = textgan::data::read_lines_in(&path, encoding);
        let cfg = RunConfig::load(None, &sets).unwrap();
        match textgan::data::Corpus::load(&cfg.data, 1) {
            Ok(c) => prop_assert!(!c.train.is_empty()),
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    /// `--set` overrides with any key and any value resolve or fail with one line.
    #[test]
    fn config_overrides_resolve_or_fail_cleanly(
        key in prop_oneof![
            Just("train.lr".to_string()), Just("gan.algorithm".to_string()),
            Just("generator.kind".to_string()), Just("data.max_len".to_string()),
            Just("gan.beta_max".to_string()), Just("discriminator.filter_sizes".to_string()),
            "[a-z_]{1,8}(\\.[a-z_]{1,8}){0,3}",
        ],
        value in prop_oneof![
            "-?[0-9]{1,20}(\\.[0-9]{0,5})?", Just("nan".to_string()), Just("inf".to_string()),
            Just("\"seqgan\"".to_string()), Just("\"gumbel\"".to_string()),
            Just("[2, 3]".to_string()), Just("[]".to_string()), Just("{a=1}".to_string()),
            "[ -~]{0,20}",
        ],
        algo in prop_oneof![Just("none"), Just("seqgan"), Just("gumbel"), Just("scratchgan")],
    ) {
        let sets = vec![format!("gan.algorithm={algo}"), "gan.steps=1".into(), format!("{key}={value}")];
        match RunConfig::load(None, &sets) {
            Ok(cfg) => {
                // What resolves serializes and reads back the same.
                let again = RunConfig::from_toml_str(&cfg.to_toml()).unwrap();
                prop_assert_eq!(again, cfg);
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1, "{}", e),
        }
    }

    /// Arbitrary config text parses or fails with one line.
    #[test]
    fn config_text_parses_or_fails_cleanly(text in "[ -~\\n]{0,200}") {
        if let Err(e) = RunConfig::from_toml_str(&text) {
            prop_assert_eq!(e.to_string().lines().count(), 1, "{}", e);
        }
    }

    /// Vocabulary JSON as a checkpoint stores it: any ids, any tokens.
    #[test]
    fn vocabularies_validate_or_fail_cleanly(
        tokens in proptest::collection::vec("[a-z<>]{0,5}", 0..8),
        pad in proptest::option::of(-3i64..10), bos in -3i64..10,
        eos in proptest::option::of(-3i64..10), unk in proptest::option::of(-3i64..10),
    ) {
        let json = serde_json::json!({"tokenizer": "word", "tokens": tokens, "pad": pad, "bos": bos, "eos": eos, "unk": unk});
        let mut v: Vocab = serde_json::from_value(json).unwrap();
        v.reindex();
        match v.validate() {
            Ok(()) => {
                // A valid vocabulary's banned ids index its rows.
                for b in v.never_generated() {
                    prop_assert!((0..v.len() as i64).contains(&b));
                }
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1),
        }
    }

    /// Grammar text from grammar-like pieces parses or fails with one line; what parses
    /// samples within bounded time (or says its sentences are too long) and scores its own
    /// samples as derivable.
    #[test]
    fn grammars_parse_sample_and_score_or_fail_cleanly(
        lines in proptest::collection::vec(
            proptest::collection::vec(
                prop_oneof![
                    Just("S"), Just("A"), Just("B"), Just("->"), Just("|"), Just("a"),
                    Just("b"), Just("[0.5]"), Just("[2]"), Just("[x]"), Just("#"), Just("[-1]"),
                ],
                0..8,
            ).prop_map(|w| w.join(" ")),
            0..8,
        ),
    ) {
        let text = lines.join("\n");
        match Grammar::parse(&text) {
            Ok(g) => {
                use rand::SeedableRng;
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
                match g.sample_lines(&mut rng, 5, 12) {
                    Ok(s) => {
                        let (_, validity) = g.score(&s);
                        prop_assert_eq!(validity, 1.0);
                    }
                    Err(e) => prop_assert!(e.to_string().contains("data.max_len"), "{}", e),
                }
            }
            Err(e) => prop_assert_eq!(e.to_string().lines().count(), 1, "{}", e),
        }
    }

    /// Sampling options the commands accept give token ids in range, whatever the logits.
    #[test]
    fn sampling_options_give_ids_in_range(
        temperature in 0.01f64..5.0, top_k in 0i64..12, top_p in 0.01f64..=1.0,
        greedy in any::<bool>(), scale in prop_oneof![Just(1.0f64), Just(1e3), Just(1e-3)],
    ) {
        let logits = Tensor::randn([3, 10], (Kind::Float, tch::Device::Cpu)) * scale;
        let s = Sampling { temperature, top_k, top_p, greedy };
        let ids: Vec<i64> = Vec::try_from(s.pick_n(&logits, 4).view([-1])).unwrap();
        prop_assert!(ids.iter().all(|&i| (0..10).contains(&i)), "{:?}", ids);
    }
}

/// Sentences of 5 to 12 tokens from a small vocabulary.
fn sentences() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(
        proptest::collection::vec("[a-e]", 5..12).prop_map(|w| w.join(" ")),
        2..12,
    )
}

fn ids(lines: &[String]) -> Vec<Vec<u32>> {
    Interner::new(Tokenize::Whitespace)
        .tokenize_all(lines)
        .unwrap()
}

proptest! {
    #![proptest_config(config(1000))]

    /// BLEU of a text against itself is 1; reordering the references changes nothing; scores
    /// lie in [0, 1]; Self-BLEU of identical samples is 1.
    #[test]
    fn bleu_keeps_its_invariants(refs in sentences(), hyps in sentences(), seed in any::<u64>()) {
        let mut int = Interner::new(Tokenize::Whitespace);
        let r = int.tokenize_all(&refs).unwrap();
        let h = int.tokenize_all(&hyps).unwrap();
        let index = ReferenceIndex::new(&r, bleu::MAX_ORDER);
        for s in bleu::bleu(&r, &index)[1..].iter() {
            prop_assert!((s - 1.0).abs() < 1e-12, "self-reference BLEU {}", s);
        }
        let b = bleu::bleu(&h, &index);
        let mut shuffled = r.clone();
        use rand::{seq::SliceRandom, SeedableRng};
        shuffled.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let b2 = bleu::bleu(&h, &ReferenceIndex::new(&shuffled, bleu::MAX_ORDER));
        for (x, y) in b.iter().zip(&b2) {
            prop_assert!((x - y).abs() < 1e-12 && (0.0..=1.0).contains(x));
        }
        let same = vec![hyps[0].clone(); hyps.len()];
        for s in bleu::self_bleu(&ids(&same), bleu::MAX_ORDER)[1..].iter() {
            prop_assert!((s - 1.0).abs() < 1e-12, "Self-BLEU of identical samples {}", s);
        }
        for s in bleu::self_bleu(&h, bleu::MAX_ORDER) {
            prop_assert!((0.0..=1.0).contains(&s));
        }
    }
}

/// Checkpoint bytes truncated, bit-flipped or with a header length out of range load or fail
/// with one line; none panics or allocates what the header claims. Seeded, bounded.
#[test]
fn damaged_checkpoints_fail_cleanly() {
    use rand::{Rng, SeedableRng};
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/v1-seqgan/checkpoint.safetensors");
    let good = std::fs::read(&fixture).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut outcomes = [0usize; 2];
    for case in 0..4000 {
        let mut bytes = good.clone();
        match case % 4 {
            0 => bytes.truncate(rng.gen_range(0..good.len())),
            1 => {
                for _ in 0..rng.gen_range(1..8) {
                    let i = rng.gen_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.gen_range(0..8);
                }
            }
            2 => {
                let n: u64 = match rng.gen_range(0..3) {
                    0 => u64::MAX,
                    1 => rng.gen(),
                    _ => rng.gen_range(0..bytes.len() as u64),
                };
                bytes[..8].copy_from_slice(&n.to_le_bytes());
            }
            _ => {
                // Inside the header: the JSON that names dtypes, shapes and offsets.
                let i = rng.gen_range(8..8 + header);
                bytes[i] = b"0123456789\",:{}[]FUI8"[rng.gen_range(0..21)];
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        match textgan::checkpoint::load(&path) {
            Ok(_) => outcomes[0] += 1,
            Err(e) => {
                assert_eq!(e.to_string().lines().count(), 1, "case {case}: {e}");
                outcomes[1] += 1;
            }
        }
        if case % 8 == 0 {
            // The loaded generator is what `sample` builds; it must fail cleanly too.
            let _ = textgan::checkpoint::LoadedGenerator::load(&path, tch::Device::Cpu);
        }
    }
    assert!(outcomes[1] > 2000, "most damage is caught: {outcomes:?}");
}

/// A checkpoint carries a SHA-256 of its tensors and metadata: any bit flipped in its tensor
/// data (where the file still parses and every value is finite) is caught on load, in one
/// line naming the file, instead of loading silently; the file as written loads.
#[test]
fn bit_flips_in_tensor_data_are_caught() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let vocab = Vocab::numeric(10);
    let progress = textgan::checkpoint::Progress {
        max_len: 8,
        ..Default::default()
    };
    // Not in name order: the hash must not depend on the order the caller gives.
    let tensors = vec![
        (
            "model.b".to_string(),
            Tensor::randn([8], tch::kind::FLOAT_CPU),
        ),
        (
            "model.a".to_string(),
            Tensor::randn([16, 8], tch::kind::FLOAT_CPU),
        ),
        (
            "optim.m".to_string(),
            Tensor::randn([4, 4], tch::kind::FLOAT_CPU),
        ),
    ];
    textgan::checkpoint::save(&path, &RunConfig::default(), &vocab, &progress, &tensors).unwrap();
    let good = std::fs::read(&path).unwrap();
    textgan::checkpoint::load(&path).expect("the file as written loads");
    let data_start = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    for case in 0..200 {
        let mut bytes = good.clone();
        let i = rng.gen_range(data_start..bytes.len());
        bytes[i] ^= 1 << rng.gen_range(0..8);
        std::fs::write(&path, &bytes).unwrap();
        let e = textgan::checkpoint::load(&path).expect_err("a flipped bit loads");
        let msg = e.to_string();
        assert_eq!(msg.lines().count(), 1, "case {case}: {msg}");
        assert!(
            msg.contains(&path.display().to_string())
                && (msg.contains("SHA-256") || msg.contains("NaN")),
            "case {case}: {msg}"
        );
    }
}
