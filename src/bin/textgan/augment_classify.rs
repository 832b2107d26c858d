//! `classify train --augment eda|FILE`: augmented rows made or read for a classifier.
use anyhow::{bail, Result};
use std::path::Path;
use textgan::augment::eda::Eda;
use textgan::augment::synonyms::NeighbourSettings;
use textgan::classify::data;
use textgan::data::Lines;

/// EDA as `classify train --augment eda` runs it: the paper's settings for small data (every
/// strength 0.05), `n` rows per labelled row.
pub fn eda_small(labelled: &Lines, n: usize, seed: i64, device: tch::Device) -> Result<Lines> {
    let settings = Eda {
        alpha_sr: 0.05,
        alpha_ri: 0.05,
        alpha_rs: 0.05,
        p_rd: 0.05,
    };
    let start = std::time::Instant::now();
    let syn = crate::augment::synonyms(labelled, None, &NeighbourSettings::default(), device)?;
    let out = textgan::augment::eda(labelled, n, &settings, &syn, seed as u64, &mut |_| {})?;
    let seconds = start.elapsed().as_secs_f64();
    crate::augment::summary(
        &out.report,
        labelled.text.len(),
        n * labelled.text.len(),
        seconds,
    );
    Ok(out.lines)
}

/// Refuses `classify train`'s `--augment-per-example` out of range or without `--augment eda`.
pub fn check_for_classifier(augment: Option<&str>, per_example: Option<usize>) -> Result<()> {
    match (augment, per_example) {
        (Some("eda"), Some(n)) if !(1..=textgan::augment::MAX_PER_EXAMPLE).contains(&n) => {
            bail!(
                "--augment-per-example {n}: give 1 to {} new rows per labelled row",
                textgan::augment::MAX_PER_EXAMPLE
            )
        }
        (Some("eda"), _) | (_, None) => Ok(()),
        (_, Some(_)) => bail!("--augment-per-example applies to --augment eda only"),
    }
}

/// The augmented rows `classify train --augment` names: EDA's, made here from `labelled`
/// (`per_example` each, 16 by default), or a file's, whose labels must be among `names`.
pub fn for_classifier(
    (augment, per_example): (Option<&str>, Option<usize>),
    labelled: &Lines,
    names: &[String],
    seed: i64,
    device: tch::Device,
) -> Result<Option<Lines>> {
    Ok(match augment {
        Some("eda") => Some(eda_small(
            labelled,
            per_example.unwrap_or(16),
            seed,
            device,
        )?),
        Some(p) => match data::read_labelled(Path::new(p)) {
            Err(textgan::Error::EmptyCorpus { .. }) => {
                eprintln!("warning: {p} holds no augmented rows: training on the real ones alone");
                None
            }
            Err(e) => return Err(e.into()),
            Ok(aug) => {
                if let Some(l) = textgan::classify::unknown_augmented_label(names, &aug) {
                    bail!("{p}: a row is labelled {l}, which no labelled training row is");
                }
                Some(aug)
            }
        },
        None => None,
    })
}
