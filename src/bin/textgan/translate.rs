//! `textgan translate`: outputs for source lines read from standard input (or a file), one
//! line out per line in, with a run trained on a parallel corpus (translation, dialogue).
use anyhow::{bail, Result};
use clap::Args;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use textgan::models::Sampling;
use textgan::run::{Decode, SourceStats, Translator};

#[derive(Args, Debug)]
pub struct TranslateArgs {
    /// Run directory (or checkpoint file) trained on a parallel corpus.
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Read sources from FILE instead of standard input.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Beam width (1: greedy decoding).
    #[arg(long, default_value_t = 1)]
    beam: i64,
    /// GNMT length penalty alpha for beam search (0: none).
    #[arg(long, default_value_t = 1.0)]
    length_penalty: f64,
    /// Sample at this temperature instead of searching (with --seed).
    #[arg(long)]
    temperature: Option<f64>,
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    seed: i64,
    /// Longest output in tokens (default: the run's maximum length).
    #[arg(long)]
    max_len: Option<usize>,
    /// Sources per batch on the device; output is written batch by batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// cpu, cuda, cuda:N or auto.
    #[arg(long, default_value = "auto")]
    device: String,
}

fn decode_of(a: &TranslateArgs) -> Result<Decode> {
    if a.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    decode(a.beam, a.length_penalty, a.temperature)
}

/// How `--beam`, `--length-penalty` and `--temperature` decode: sampling at the temperature
/// where one is given, else greedy (width 1) or beam search; refuses values out of range.
pub fn decode(beam: i64, length_penalty: f64, temperature: Option<f64>) -> Result<Decode> {
    if !(1..=256).contains(&beam) {
        bail!("--beam must be in 1..=256, got {beam}");
    }
    if !(length_penalty.is_finite() && length_penalty >= 0.0) {
        bail!("--length-penalty must be a non-negative number");
    }
    Ok(match temperature {
        Some(temperature) => {
            let s = Sampling {
                temperature,
                ..Default::default()
            };
            s.validate()?;
            Decode::Sample(s)
        }
        None => Decode::search(beam, length_penalty),
    })
}

pub fn run(a: TranslateArgs) -> Result<()> {
    let how = decode_of(&a)?;
    let device = textgan::device::resolve(&a.device)?;
    let loaded = textgan::checkpoint::LoadedGenerator::load(&a.run, device)?;
    let tr = Translator::new(&loaded)?;
    if let Some(m) = a.max_len {
        if m == 0 || loaded.model.net.max_len().is_some_and(|b| m as i64 > b) {
            bail!(
                "--max-len must be in 1..={}",
                loaded.model.net.max_len().unwrap_or(4096)
            );
        }
    }
    let input: Box<dyn BufRead> = match &a.input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    tch::manual_seed(a.seed);
    let mut stats = SourceStats::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batch: Vec<Vec<i64>> = Vec::new();
    let flush = |batch: &mut Vec<Vec<i64>>, out: &mut dyn Write| -> Result<()> {
        let text = tr.translate(batch, &how, a.max_len.unwrap_or(0), a.batch_size);
        for t in text {
            writeln!(out, "{t}")?;
        }
        out.flush()?;
        batch.clear();
        Ok(())
    };
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| anyhow::anyhow!("input line {}: {e}", i + 1))?;
        if line.trim().is_empty() {
            stats.empty += 1;
        }
        batch.push(tr.encode(&line, &mut stats)?);
        if batch.len() >= a.batch_size.max(1) {
            match flush(&mut batch, &mut out) {
                Err(e) if is_broken_pipe(&e) => return Ok(()),
                r => r?,
            }
        }
    }
    match flush(&mut batch, &mut out) {
        Err(e) if is_broken_pipe(&e) => return Ok(()),
        r => r?,
    }
    report(&stats);
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Counted warnings about the input, on standard error.
fn report(s: &SourceStats) {
    if s.empty > 0 {
        eprintln!("warning: {} empty source lines got empty outputs", s.empty);
    }
    if s.truncated > 0 {
        eprintln!(
            "warning: {} sources were cut to the run's maximum source length (data.max_source_len)",
            s.truncated
        );
    }
    if s.unknown > 0 {
        eprintln!(
            "warning: {} source tokens are not in the run's vocabulary and read as <unk>",
            s.unknown
        );
    }
}
