//! The `textgan` command line: parses flags, builds library objects, reports progress and errors.
//!
//! Errors print as one line (`error: what: why`) and exit with status 1; nothing else here
//! decides an exit code.
mod augment;
mod augment_classify;
mod bench;
mod classify;
mod compare;
mod compare_draw;
mod compare_out;
mod data;
mod eval;
mod export;
mod judge;
mod launch;
#[cfg(feature = "serve")]
mod loadtest;
mod ngram;
mod presets;
mod progress;
mod report;
mod sample;
#[cfg(feature = "serve")]
mod serve;
mod sweep;
mod sweep_beam;
mod train;
mod train_disc;
mod translate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "textgan",
    version,
    about = "Train text GANs and language models; sample and evaluate them."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a generator by maximum likelihood, then adversarially if the config has a [gan] section (default: an LSTM on sentences of the built-in grammar).
    Train(train::TrainArgs),
    /// The SeqGAN oracle benchmark: draw 10,000 sequences from the oracle LSTM, train by MLE, report NLL-oracle.
    Oracle(train::OracleArgs),
    /// Print sentences sampled from a run's checkpoint.
    Sample(sample::SampleArgs),
    /// Translate (or reply to) source lines with a run trained on a parallel corpus: one output line per input line.
    Translate(translate::TranslateArgs),
    /// Metrics of a sample file (BLEU, Self-BLEU, distinct-n, ...) or of a run's checkpoint (adds NLLs).
    Eval(eval::EvalArgs),
    /// The n-gram baseline: a modified Kneser-Ney model of a text file (ARPA out), sampled at a temperature.
    Ngram(ngram::NgramArgs),
    /// Sample runs at several temperatures; write a table and a quality-diversity plot.
    Sweep(sweep::SweepArgs),
    /// A verdict against MLE's temperature curve: each run's quality at MLE's coverage, with 95% intervals over seeds.
    Compare(compare::CompareArgs),
    /// Train a discriminator afresh on a run's text against its samples, saved with the generator as a new run (for --rerank).
    TrainDiscriminator(train_disc::TrainDiscArgs),
    /// Text classifiers on a pretrained or from-scratch trunk, supervised or semi-supervised (GAN-BERT): train, eval, predict.
    Classify(classify::ClassifyArgs),
    /// More labelled rows for a classifier: EDA's edits, back-translation, or a label-conditional run's samples.
    Augment(augment::AugmentArgs),
    /// Time the hot paths (MLE step, sampling) on synthetic data.
    Bench(bench::BenchArgs),
    /// The named data sets (COCO, the SeqGAN oracle, MR, Multi30k): list them, or get them.
    Data(data::DataArgs),
    /// Write a run's generator as a Hugging Face GPT-2 model folder (config.json, model.safetensors).
    Export(export::ExportArgs),
    /// Serve runs over HTTP: a JSON API (OpenAI-style completions too) and a web page with per-token heatmaps.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    /// Write one self-contained HTML report of runs: config, curves, metrics, samples with heatmaps.
    Report(report::ReportArgs),
    /// Concurrent clients against a running `textgan serve`: throughput, latency percentiles, server memory.
    #[cfg(feature = "serve")]
    Loadtest(loadtest::LoadtestArgs),
    /// List the bundled config presets, or print one.
    Presets {
        /// Preset to print as TOML.
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    textgan::tune_allocator();
    textgan::flush_denormals();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train::run(a),
        Command::Oracle(a) => train::run_oracle(a),
        Command::Sample(a) => sample::run(a),
        Command::Translate(a) => translate::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Ngram(a) => ngram::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Compare(a) => compare::run(a),
        Command::TrainDiscriminator(a) => train_disc::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Augment(a) => augment::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Data(a) => data::run(a),
        Command::Export(a) => export::run(a),
        #[cfg(feature = "serve")]
        Command::Serve(a) => serve::run(a),
        Command::Report(a) => report::report(a),
        #[cfg(feature = "serve")]
        Command::Loadtest(a) => loadtest::run(a),
        Command::Presets { name } => presets::show(name.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let line = format!("error: {e:#}{}", hint(&e));
            // A rank of a launched job hands its error to the launcher, which prints the
            // first cause once; a failed collective is the effect of another rank's failure.
            let collective = matches!(
                e.downcast_ref::<textgan::Error>(),
                Some(textgan::Error::Dist(_))
            );
            if !textgan::dist::hand_to_launcher(&line, !collective) {
                eprintln!("{line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// The flag that helps with a library error, where one does: the library describes the
/// problem, the command line knows its own flags.
fn hint(e: &anyhow::Error) -> &'static str {
    use textgan::error::Fix;
    match e
        .downcast_ref::<textgan::Error>()
        .and_then(textgan::Error::fix)
    {
        Some(Fix::UseCpu) => " (use --device cpu or auto)",
        Some(Fix::GiveTextFile) => " (or give the file with --data FILE)",
        Some(Fix::Resume) => " (--resume DIR continues it)",
        Some(Fix::StartFromGenerator) => " (--init-from DIR starts a new run from its generator)",
        Some(Fix::GiveReferences) => " (give --references FILE or --run DIR)",
        Some(Fix::GiveTrain) => " (give --train FILE or --run DIR)",
        Some(Fix::GiveRun) => " (give --run DIR)",
        None => "",
    }
}
