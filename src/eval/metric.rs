//! The metrics textgan names, as one enum: the name `--metrics` takes, what each measures,
//! which way is better, and the key its figure has in a run's `metrics.jsonl` where the
//! training loop records it. Every list of metric names is read from here.
use crate::error::{Error, Result};

/// A metric family (BLEU-2..5 is one: `bleu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    Bleu,
    SelfBleu,
    Sacrebleu,
    Chrf,
    Distinct,
    Length,
    Copied,
    NllTest,
    NllTrain,
    NllOracle,
    GrammarNll,
    Validity,
    LmScore,
    ReverseLm,
    Mauve,
    Fed,
    NgramPpl,
}

/// Which way a metric improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// Neither way is better in itself (a length, a diversity that trades against quality).
    Neither,
}

impl Metric {
    /// Every metric, in the report's order.
    pub const ALL: [Metric; 17] = [
        Metric::Bleu,
        Metric::SelfBleu,
        Metric::Sacrebleu,
        Metric::Chrf,
        Metric::Distinct,
        Metric::Length,
        Metric::Copied,
        Metric::NllTest,
        Metric::NllTrain,
        Metric::NllOracle,
        Metric::GrammarNll,
        Metric::Validity,
        Metric::LmScore,
        Metric::ReverseLm,
        Metric::Mauve,
        Metric::Fed,
        Metric::NgramPpl,
    ];

    /// The name `--metrics` takes (and the report's rows start with).
    pub fn name(self) -> &'static str {
        match self {
            Metric::Bleu => "bleu",
            Metric::SelfBleu => "self-bleu",
            Metric::Sacrebleu => "sacrebleu",
            Metric::Chrf => "chrf",
            Metric::Distinct => "distinct",
            Metric::Length => "length",
            Metric::Copied => "copied",
            Metric::NllTest => "nll-test",
            Metric::NllTrain => "nll-train",
            Metric::NllOracle => "nll-oracle",
            Metric::GrammarNll => "grammar-nll",
            Metric::Validity => "validity",
            Metric::LmScore => "lm-score",
            Metric::ReverseLm => "reverse-lm",
            Metric::Mauve => "mauve",
            Metric::Fed => "fed",
            Metric::NgramPpl => "ngram-ppl",
        }
    }

    /// What it measures, in one line.
    pub fn about(self) -> &'static str {
        match self {
            Metric::Bleu => "BLEU-2..5 against every reference line",
            Metric::SelfBleu => "Self-BLEU-2..5: each sample against all other samples",
            Metric::Sacrebleu => "corpus BLEU as sacreBLEU 2.x by default (13a, exp smoothing); one reference line per sample",
            Metric::Chrf => "corpus chrF2 as sacreBLEU 2.x by default; one reference line per sample",
            Metric::Distinct => "distinct-1..4 over all samples",
            Metric::Length => "mean tokens per sample",
            Metric::Copied => "fraction of samples equal to a training sentence",
            Metric::NllTest => "generator NLL per token on the test data (needs a run)",
            Metric::NllTrain => "generator NLL per token on the training data (needs a run)",
            Metric::NllOracle => "oracle NLL per token of the samples (oracle runs)",
            Metric::GrammarNll => "per-token NLL of the samples under the run's grammar, of those it derives (grammar runs)",
            Metric::Validity => "fraction of the samples the run's grammar derives (grammar runs)",
            Metric::LmScore => "NLL of the samples under a real-data LM (needs an LM run)",
            Metric::ReverseLm => "NLL of the test data under an LM trained on the samples (needs an LM run)",
            Metric::Mauve => "MAUVE (and MAUVE*, frontier integral) of the samples against the references, on --encoder features",
            Metric::Fed => "Frechet distance of --encoder features, samples against references",
            Metric::NgramPpl => "per-token perplexity of the samples under a modified Kneser-Ney n-gram model (--ngram-order) of the training text (else the references)",
        }
    }

    /// Which way it improves. Self-BLEU and distinct-n measure diversity, which a quality-
    /// diversity plane trades against quality; the NLL of the test data measures coverage.
    pub fn better(self) -> Better {
        match self {
            Metric::Bleu | Metric::Sacrebleu | Metric::Chrf | Metric::Validity | Metric::Mauve => {
                Better::Higher
            }
            Metric::NllTest
            | Metric::NllTrain
            | Metric::NllOracle
            | Metric::GrammarNll
            | Metric::LmScore
            | Metric::ReverseLm
            | Metric::Fed
            | Metric::NgramPpl
            | Metric::Copied => Better::Lower,
            Metric::SelfBleu | Metric::Distinct | Metric::Length => Better::Neither,
        }
    }

    /// The key its figure has in `metrics.jsonl`, where the training loop records it.
    pub fn record_key(self) -> Option<&'static str> {
        match self {
            Metric::Bleu => Some("bleu"),
            Metric::SelfBleu => Some("self_bleu"),
            Metric::Sacrebleu => Some("sacrebleu"),
            Metric::Chrf => Some("chrf"),
            Metric::NllTest => Some("test_nll"),
            Metric::NllOracle => Some("nll_oracle"),
            Metric::GrammarNll => Some("grammar_nll"),
            Metric::Validity => Some("validity"),
            _ => None,
        }
    }

    /// The metric called `name` (a family, or a row of the report's table: `bleu-4`,
    /// `self-bleu-2`, `distinct-3` name their family).
    pub fn from_name(name: &str) -> Result<Metric> {
        let family = match name.rsplit_once('-') {
            Some((family, n)) if n.parse::<u8>().is_ok() && family != "nll" => family,
            _ => name,
        };
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == family)
            .ok_or_else(|| {
                let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
                Error::Eval(format!(
                    "unknown metric `{family}` (known: {})",
                    known.join(", ")
                ))
            })
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names round-trip, table rows name their family, and the unknown is refused with the list.
    #[test]
    fn names_parse_back() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()).unwrap(), m);
        }
        assert_eq!(Metric::from_name("bleu-4").unwrap(), Metric::Bleu);
        assert_eq!(Metric::from_name("nll-test").unwrap(), Metric::NllTest);
        let e = Metric::from_name("perplexity").unwrap_err().to_string();
        assert!(
            e.contains("unknown metric `perplexity`") && e.contains("reverse-lm"),
            "{e}"
        );
        assert_eq!(Metric::NllTest.record_key(), Some("test_nll"));
        assert_eq!(Metric::Bleu.better(), Better::Higher);
        assert_eq!(Metric::NllTest.better(), Better::Lower);
    }
}
