//! The watch on one evaluation metric that the adversarial phase keeps (`gan.best_metric`):
//! the best value and where it was seen, early stopping after `patience` evaluations without
//! a better one, and reduce-on-plateau of the rates. It is saved in the checkpoint's progress.
use serde::{Deserialize, Serialize};

/// Where the watch on `gan.best_metric` stands (saved in the checkpoint's progress).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Watch {
    /// The best value so far and the run's step count (MLE + adversarial) where it was seen.
    pub best: Option<f64>,
    pub best_at: usize,
    /// Evaluations since the best one, and since the rates were last cut (or the best).
    pub since_best: usize,
    pub since_cut: usize,
    /// The plateau schedule's factor on every adversarial rate.
    pub scale: f64,
    /// Patience ran out: the phase is over.
    pub stopped: bool,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            best: None,
            best_at: 0,
            since_best: 0,
            since_cut: 0,
            scale: 1.0,
            stopped: false,
        }
    }
}

/// What one observation of the metric decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdict {
    pub improved: bool,
    /// The rates were cut (the plateau schedule).
    pub cut: bool,
    /// Patience ran out.
    pub stop: bool,
}

impl Watch {
    /// Takes one evaluation's `value` of the metric at run step `at` (`higher`: larger is
    /// better). `patience` and `plateau` count evaluations without improvement (0: never).
    pub fn observe(
        &mut self,
        value: f64,
        at: usize,
        higher: bool,
        (patience, plateau, factor): (usize, usize, f64),
    ) -> Verdict {
        let better = match self.best {
            None => value.is_finite(),
            Some(b) => value.is_finite() && if higher { value > b } else { value < b },
        };
        let mut v = Verdict::default();
        if better {
            (self.best, self.best_at) = (Some(value), at);
            (self.since_best, self.since_cut) = (0, 0);
            v.improved = true;
            return v;
        }
        self.since_best += 1;
        self.since_cut += 1;
        if plateau > 0 && self.since_cut >= plateau {
            self.scale *= factor;
            self.since_cut = 0;
            v.cut = true;
        }
        if patience > 0 && self.since_best >= patience {
            self.stopped = true;
            v.stop = true;
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lower is better: 5, 4 (best), then 4.5, 4.2, 4.1: the rates are cut after two
    /// evaluations without improvement, the phase stops after three; higher-is-better mirrors.
    #[test]
    fn the_watch_keeps_the_best_cuts_on_plateaus_and_stops_when_patience_runs_out() {
        let mut w = Watch::default();
        let limits = (3, 2, 0.5);
        let seen: Vec<Verdict> = [5.0, 4.0, 4.5, 4.2, 4.1]
            .iter()
            .enumerate()
            .map(|(i, &v)| w.observe(v, 10 * i, false, limits))
            .collect();
        assert!(seen[0].improved && seen[1].improved);
        assert_eq!(
            seen[2..]
                .iter()
                .map(|v| (v.improved, v.cut, v.stop))
                .collect::<Vec<_>>(),
            [
                (false, false, false),
                (false, true, false),
                (false, false, true)
            ]
        );
        assert_eq!(
            (w.best, w.best_at, w.scale, w.stopped),
            (Some(4.0), 10, 0.5, true)
        );
        let mut h = Watch::default();
        assert!(h.observe(0.2, 0, true, limits).improved);
        assert!(h.observe(0.3, 1, true, limits).improved);
        assert!(!h.observe(0.1, 2, true, limits).improved);
        assert!(!h.observe(f64::NAN, 3, true, limits).improved);
        assert_eq!(h.best, Some(0.3));
    }
}
