//! `textgan classify train|eval|predict`: text classifiers on a pretrained or from-scratch
//! trunk, supervised or semi-supervised (GAN-BERT).
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use textgan::classify::train::{Method, Settings};
use textgan::classify::trunk::{Pooling, TrunkKind};
use textgan::classify::{data, Classifier, TrainData};
use textgan::data::Lines;

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    #[command(subcommand)]
    command: ClassifyCommand,
}

#[derive(Subcommand, Debug)]
enum ClassifyCommand {
    /// Train a classifier (GAN-BERT by default) and save it as a run directory.
    Train(Box<TrainArgs>),
    /// Accuracy, macro-F1 and the confusion matrix of a classifier run on labelled text.
    Eval(EvalArgs),
    /// Label lines of text: `label<TAB>probability<TAB>text` per line.
    Predict(PredictArgs),
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// Labelled text: `label<TAB>text` lines, GAN-BERT's `LABEL text` lines under a header, a
    /// folder of one file per class, or a named set: `trec-ganbert` (its labelled, unlabelled
    /// and test files) or `mr` (10% held out as test).
    #[arg(long, value_name = "PATH|SET")]
    train: String,
    /// Unlabelled text (plain lines, or GAN-BERT's UNK:UNK file) for GAN-BERT.
    #[arg(long, value_name = "FILE")]
    unlabelled: Option<PathBuf>,
    /// Augmented labelled rows to learn from beside the real ones: a file from `textgan
    /// augment`, or `eda` to make them here from the labelled rows (after
    /// --labelled-fraction), with EDA's settings for small data (alpha 0.05).
    #[arg(long, value_name = "FILE|eda")]
    augment: Option<String>,
    /// With `--augment eda`: new rows per labelled row, 1 to 64 (default 16).
    #[arg(long)]
    augment_per_example: Option<usize>,
    /// How much an augmented row's loss counts against a real row's.
    #[arg(long, default_value_t = 1.0, requires = "augment")]
    augment_weight: f64,
    /// Labelled test text, scored after every epoch.
    #[arg(long, value_name = "FILE")]
    test: Option<PathBuf>,
    /// The trunk: a BERT-family folder (default: the data directory's `minilm`, from `textgan
    /// data get minilm`), or `lstm` for a bidirectional LSTM from scratch.
    #[arg(long, value_name = "DIR|lstm")]
    trunk: Option<String>,
    /// The folder whose tokenizer.json an LSTM trunk uses (default: the data directory's minilm).
    #[arg(long, value_name = "DIR")]
    tokenizer: Option<PathBuf>,
    /// linear (logistic regression on the frozen trunk), supervised, or ganbert.
    #[arg(long, default_value = "ganbert")]
    method: Method,
    /// Keep the trunk's weights fixed.
    #[arg(long)]
    freeze: bool,
    /// mean (all-MiniLM-L6-v2's sentence vector) or pooler (BERT's [CLS] pooler, GAN-BERT's).
    #[arg(long, default_value = "mean")]
    pooling: Pooling,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Learning rate of the trunk and discriminator (AdamW).
    #[arg(long, default_value_t = 5e-5)]
    lr: f64,
    /// Learning rate of GAN-BERT's generator.
    #[arg(long, default_value_t = 5e-5)]
    lr_g: f64,
    /// Tokens per text ([CLS] and [SEP] included).
    #[arg(long, default_value_t = 64)]
    max_len: usize,
    /// Keep the labels of only this share of the training rows (seeded, per class at least
    /// one); the rest become unlabelled text.
    #[arg(long, value_name = "F")]
    labelled_fraction: Option<f64>,
    /// Inverse regularisation of the linear method (scikit-learn's C).
    #[arg(long, default_value_t = 10.0)]
    c: f64,
    /// Do not repeat labelled rows (GAN-BERT repeats them log2(1/share) times per epoch).
    #[arg(long)]
    no_balance: bool,
    /// An LSTM trunk's embedding size and hidden size per direction.
    #[arg(long, default_value_t = 128)]
    lstm_size: i64,
    #[arg(long, default_value_t = 42, allow_negative_numbers = true)]
    seed: i64,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
    /// New run directory.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// A classifier run.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Labelled text: a file or folder in any labelled format `train` reads.
    #[arg(long, value_name = "FILE")]
    test: PathBuf,
    /// Write eval.json (scores, unseen labels, the confusion matrix) and confusion.csv into
    /// this new folder (default: print accuracy and macro-F1 only).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: String,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// A classifier run.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Lines to label (default: standard input); blank lines are skipped, so the output has a
    /// line per non-blank input line.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    #[arg(long, default_value = "auto")]
    device: String,
}

pub fn run(a: ClassifyArgs) -> Result<()> {
    match a.command {
        ClassifyCommand::Train(a) => train(*a),
        ClassifyCommand::Eval(a) => eval(a),
        ClassifyCommand::Predict(a) => predict(a),
    }
}

/// Labelled, unlabelled and test text of `--train` and its companions.
fn read_data(a: &TrainArgs) -> Result<(Lines, Vec<String>, Option<Lines>)> {
    let named = match a.train.as_str() {
        "trec-ganbert" | "mr" => Some(textgan::datasets::set(&a.train)?.locate()?),
        _ => None,
    };
    let (labelled, mut unlabelled, mut test) = match (a.train.as_str(), &named) {
        ("trec-ganbert", Some(dir)) => (
            data::read_labelled(&dir.join("labeled.tsv"))?,
            data::read_unlabelled(&dir.join("unlabeled.tsv"))?,
            Some(data::read_labelled(&dir.join("test.tsv"))?),
        ),
        ("mr", Some(dir)) => {
            let all = data::read_labelled(dir)?;
            let (train, test) = split_off(&all, 0.1, 0);
            (train, Vec::new(), Some(test))
        }
        _ => (data::read_labelled(Path::new(&a.train))?, Vec::new(), None),
    };
    if let Some(p) = &a.unlabelled {
        unlabelled = data::read_unlabelled(p)?;
    }
    if let Some(p) = &a.test {
        test = Some(data::read_labelled(p)?);
    }
    let (labelled, unlabelled) = match a.labelled_fraction {
        None => (labelled, unlabelled),
        Some(f) if f > 0.0 && f <= 1.0 => {
            let (keep, rest) = split_off(&labelled, 1.0 - f, a.seed);
            let mut u = rest.text;
            u.extend(unlabelled);
            (keep, u)
        }
        Some(f) => bail!("--labelled-fraction {f}: give a share in (0, 1]"),
    };
    Ok((labelled, unlabelled, test))
}

/// A seeded split of labelled lines: (the rest, `share` of each class), every class keeping at
/// least one row on the first side.
fn split_off(lines: &Lines, share: f64, seed: i64) -> (Lines, Lines) {
    use rand::{seq::SliceRandom, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64 ^ 0x5eed);
    let mut names = lines.labels.clone();
    names.sort();
    names.dedup();
    let (mut keep, mut off) = (Vec::new(), Vec::new());
    for name in names {
        let mut idx: Vec<usize> = (0..lines.labels.len())
            .filter(|&i| lines.labels[i] == name)
            .collect();
        idx.shuffle(&mut rng);
        let n_off = ((idx.len() as f64 * share).round() as usize).min(idx.len() - 1);
        off.extend_from_slice(&idx[..n_off]);
        keep.extend_from_slice(&idx[n_off..]);
    }
    keep.sort();
    off.sort();
    (lines.pick(&keep), lines.pick(&off))
}

fn minilm() -> Result<PathBuf> {
    Ok(textgan::datasets::set("minilm")?.locate()?)
}

/// The trunk `--trunk` names, and the folder of its weights or tokenizer.
fn trunk_of(a: &TrainArgs) -> Result<(TrunkKind, PathBuf)> {
    let (kind, folder) = match a.trunk.as_deref() {
        Some("lstm") => (
            TrunkKind::Lstm {
                embedding: a.lstm_size,
                hidden: a.lstm_size,
            },
            match &a.tokenizer {
                Some(t) => t.clone(),
                None => minilm()?,
            },
        ),
        other => (
            TrunkKind::Bert { pooling: a.pooling },
            match other {
                Some(dir) => PathBuf::from(dir),
                None => minilm()?,
            },
        ),
    };
    if !folder.join("tokenizer.json").exists() {
        bail!(
            "{}: no tokenizer.json (a trunk is a Hugging Face BERT-family folder, such as `textgan data get minilm`'s, or `lstm`)",
            folder.display()
        );
    }
    if matches!(kind, TrunkKind::Bert { .. }) {
        textgan::models::bert::BertConfig::read(&folder)?;
    }
    Ok((kind, folder))
}

/// Says how many test rows have labels training never saw (they count as wrong).
fn warn_unseen(test: &Lines, names: &[String]) {
    let mut unseen: Vec<&String> = test.labels.iter().filter(|l| !names.contains(l)).collect();
    if unseen.is_empty() {
        return;
    }
    let n = unseen.len();
    unseen.sort();
    unseen.dedup();
    let list: Vec<&str> = unseen.iter().map(|s| s.as_str()).collect();
    eprintln!(
        "warning: {n} test rows have labels training never saw, scored as wrong: {}",
        list.join(", ")
    );
}

/// The last epoch's test accuracy and the best epoch's.
fn report(records: &[textgan::classify::EpochRecord]) {
    if let Some(last) = records.last().and_then(|r| r.test_accuracy) {
        let best = records
            .iter()
            .filter_map(|r| r.test_accuracy.map(|acc| (acc, r.epoch)))
            .fold((f64::MIN, 0), |b, x| if x.0 > b.0 { x } else { b });
        eprintln!(
            "test accuracy {last:.4} after the last epoch (best {:.4} at epoch {})",
            best.0, best.1
        );
    }
}

/// The training settings the flags give.
fn settings_of(a: &TrainArgs) -> Settings {
    Settings {
        method: a.method,
        freeze: a.freeze || a.method == Method::Linear,
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr_d: a.lr,
        lr_g: a.lr_g,
        max_len: a.max_len,
        c: a.c,
        balance: !a.no_balance,
        seed: a.seed,
        augment_weight: a.augment_weight,
        ..Settings::default()
    }
}

fn train(a: TrainArgs) -> Result<()> {
    crate::sweep::check_out(&a.out)?;
    let device = textgan::device::resolve(&a.device)?;
    let (kind, folder) = trunk_of(&a)?;
    let settings = settings_of(&a);
    textgan::classify::check(&kind, &settings)?;
    crate::augment_classify::check_for_classifier(a.augment.as_deref(), a.augment_per_example)?;
    let (labelled, unlabelled, test) = read_data(&a)?;
    let names = textgan::classify::class_names(&labelled)?;
    let augmented = crate::augment_classify::for_classifier(
        (a.augment.as_deref(), a.augment_per_example),
        &labelled,
        &names,
        a.seed,
        device,
    )?;
    if let Some(t) = &test {
        warn_unseen(t, &names);
    }
    if a.method == Method::GanBert && unlabelled.is_empty() {
        eprintln!(
            "note: no unlabelled text: GAN-BERT learns from the labelled rows and its fakes alone"
        );
    }
    let n_aug = augmented
        .as_ref()
        .map_or(String::new(), |x| format!(" (+{} augmented)", x.text.len()));
    eprintln!(
        "{} labelled rows{n_aug}, {} unlabelled, {} test; {:?} on {}",
        labelled.text.len(),
        unlabelled.len(),
        test.as_ref().map_or(0, |t| t.text.len()),
        settings.method,
        folder.display()
    );
    let data = TrainData {
        labelled: &labelled,
        unlabelled: &unlabelled,
        augmented: augmented.as_ref(),
        test: test.as_ref(),
    };
    let bar = crate::progress::bar(0, "training");
    let mut on_step = |done: usize, of: usize| {
        bar.set_length(of as u64);
        bar.set_position(done as u64);
    };
    let mut on_epoch = |r: &textgan::classify::EpochRecord| {
        bar.suspend(|| {
            let test = match (r.test_accuracy, r.test_macro_f1) {
                (Some(acc), Some(f1)) => format!("  test accuracy {acc:.4}  macro-F1 {f1:.4}"),
                _ => String::new(),
            };
            eprintln!(
                "epoch {}: d {:.4}  g {:.4}  supervised {:.4}{test}  ({:.0} s)",
                r.epoch, r.d_loss, r.g_loss, r.supervised_loss, r.seconds
            );
        })
    };
    let (c, records) = Classifier::train(
        &kind,
        &folder,
        &data,
        &settings,
        device,
        &mut on_epoch,
        &mut on_step,
    )?;
    bar.finish_and_clear();
    c.save(&a.out, &records)?;
    report(&records);
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

fn eval(a: EvalArgs) -> Result<()> {
    if let Some(out) = &a.out {
        crate::sweep::check_out(out)?;
    }
    let device = textgan::device::resolve(&a.device)?;
    let c = Classifier::load(&a.run, device)?;
    let test = data::read_labelled(&a.test)?;
    let s = c.score(&test)?;
    println!(
        "accuracy {:.4}  macro-F1 {:.4}  on {} rows",
        s.accuracy, s.macro_f1, s.n
    );
    if !s.unknown_labels.is_empty() {
        let list: Vec<String> = s
            .unknown_labels
            .iter()
            .map(|(l, n)| format!("{l} ({n})"))
            .collect();
        eprintln!(
            "warning: {} test rows have labels the classifier never saw, scored as wrong: {}",
            s.unknown_labels.values().sum::<usize>(),
            list.join(", ")
        );
    }
    if let Some(out) = &a.out {
        crate::sweep::make_out(out)?;
        let json = serde_json::to_string_pretty(&s)?;
        std::fs::write(out.join("eval.json"), json).context("writing eval.json")?;
        std::fs::write(out.join("confusion.csv"), s.confusion_csv())
            .context("writing confusion.csv")?;
        eprintln!("wrote {}/eval.json and confusion.csv", out.display());
    }
    Ok(())
}

fn predict(a: PredictArgs) -> Result<()> {
    let device = textgan::device::resolve(&a.device)?;
    let c = Classifier::load(&a.run, device)?;
    let mut out = std::io::stdout().lock();
    let mut write = |chunk: &[String]| -> Result<()> {
        for ((label, p), text) in c.predict(chunk)?.into_iter().zip(chunk) {
            // A tab inside a text would add a field: it is written as a space.
            let text = text.replace('\t', " ");
            writeln!(out, "{}\t{p:.4}\t{text}", c.spec.labels[label])?;
        }
        out.flush()?;
        Ok(())
    };
    match &a.input {
        Some(p) => {
            for chunk in data::read_texts(p)?.chunks(256) {
                write(chunk)?;
            }
        }
        // Standard input streams: each chunk of lines is answered as it fills (a line at a
        // time from a terminal), and a short last one at the end.
        None => {
            use std::io::IsTerminal;
            let size = if std::io::stdin().is_terminal() {
                1
            } else {
                256
            };
            let mut chunk = Vec::new();
            // Bytes, decoded as UTF-8 or else Windows-1252, as files are.
            for line in std::io::stdin().lock().split(b'\n') {
                let bytes = line.context("reading standard input")?;
                let line = match std::str::from_utf8(&bytes) {
                    Ok(s) => s.to_string(),
                    Err(_) => encoding_rs::WINDOWS_1252.decode(&bytes).0.into_owned(),
                };
                let line = line.trim();
                if !line.is_empty() {
                    chunk.push(line.to_string());
                }
                if chunk.len() == size {
                    write(&chunk)?;
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                write(&chunk)?;
            }
        }
    }
    Ok(())
}
