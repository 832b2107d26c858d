//! A verdict on a quality-coverage plane (Caccia et al. 2020): a candidate's quality against
//! the baseline's at the same coverage, read off the baseline's temperature curve, with a 95%
//! interval over seeds.
//!
//! Each seed gives the baseline a curve (its points at several temperatures) and the candidate
//! a point; the difference of the candidate's quality and the curve's, linearly interpolated
//! at the candidate's coverage, is signed so that positive is better. The seeds' differences
//! give a mean and Student's t interval; a verdict says whether the interval lies above zero,
//! below it, or across it.
pub use super::metric::Better;
use serde::Serialize;

/// The baseline's quality at coverage `x`, linearly interpolated between the two points of
/// `curve` (coverage, quality) around it; `None` outside the curve's coverage range (no
/// extrapolation) or on a curve of fewer than one finite point.
pub fn interpolate(curve: &[(f64, f64)], x: f64) -> Option<f64> {
    let mut pts: Vec<(f64, f64)> = curve
        .iter()
        .copied()
        .filter(|p| p.0.is_finite() && p.1.is_finite())
        .collect();
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !x.is_finite() || pts.is_empty() || x < pts[0].0 || x > pts[pts.len() - 1].0 {
        return None;
    }
    let i = pts.partition_point(|p| p.0 < x);
    if i == 0 || pts[i].0 == x {
        return Some(pts[i].1);
    }
    let ((x0, y0), (x1, y1)) = (pts[i - 1], pts[i]);
    Some(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
}

/// The candidate's advantage at one seed: its quality minus the baseline curve's at its
/// coverage, positive when better; `None` outside the curve (or for a quality that is better
/// neither way).
pub fn advantage(curve: &[(f64, f64)], point: (f64, f64), better: Better) -> Option<f64> {
    let base = interpolate(curve, point.0)?;
    let diff = match better {
        Better::Higher => point.1 - base,
        Better::Lower => base - point.1,
        Better::Neither => return None,
    };
    point.1.is_finite().then_some(diff)
}

/// Student's t quantile at 0.975 for `df` degrees of freedom (df 1-30 exact to 3 decimals,
/// then the normal's 1.96 approached as 1.96 + 2.4 / df).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// A mean with its 95% interval over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub mean: f64,
    /// Bounds of the 95% t interval (NaN with one seed).
    pub lo: f64,
    pub hi: f64,
    /// Seeds counted.
    pub n: usize,
}

/// The mean and 95% t interval of `xs` (the finite ones); `None` when none is finite.
pub fn interval(xs: &[f64]) -> Option<Interval> {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Interval {
            mean,
            lo: f64::NAN,
            hi: f64::NAN,
            n,
        });
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        mean,
        lo: mean - half,
        hi: mean + half,
        n,
    })
}

/// Where a candidate stands against the baseline's curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Better than the baseline at equal coverage: the interval excludes zero from above.
    Above,
    /// The interval holds zero: no difference shown.
    On,
    /// Worse: the interval excludes zero from below.
    Below,
    /// At a coverage the baseline's curve does not reach for some seed: not comparable.
    Outside,
    /// One seed: no interval, no verdict.
    Unsure,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Above => "above",
            Verdict::On => "on",
            Verdict::Below => "below",
            Verdict::Outside => "outside",
            Verdict::Unsure => "one seed",
        }
    }
}

/// The verdict of a candidate's advantages over seeds (`None`: outside the curve at that seed).
pub fn verdict(advantages: &[Option<f64>]) -> (Verdict, Option<Interval>) {
    let xs: Vec<f64> = advantages.iter().flatten().copied().collect();
    let iv = interval(&xs);
    if advantages.iter().any(Option::is_none) || iv.is_none() {
        return (Verdict::Outside, iv);
    }
    let iv = iv.expect("checked");
    let v = match iv.n {
        1 => Verdict::Unsure,
        _ if iv.lo > 0.0 => Verdict::Above,
        _ if iv.hi < 0.0 => Verdict::Below,
        _ => Verdict::On,
    };
    (v, Some(iv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_inside_the_curve_and_refuses_outside() {
        // Unsorted on purpose: the curve is sorted by coverage first.
        let curve = [(0.6, 0.30), (0.2, 0.10), (0.4, 0.20), (f64::NAN, 9.0)];
        assert_eq!(interpolate(&curve, 0.2), Some(0.10));
        assert!((interpolate(&curve, 0.3).unwrap() - 0.15).abs() < 1e-12);
        assert!((interpolate(&curve, 0.55).unwrap() - 0.275).abs() < 1e-12);
        assert_eq!(interpolate(&curve, 0.6), Some(0.30));
        assert_eq!(interpolate(&curve, 0.61), None);
        assert_eq!(interpolate(&curve, 0.19), None);
        assert_eq!(interpolate(&[], 0.3), None);
    }

    #[test]
    fn advantage_is_positive_when_better_either_way() {
        let curve = [(0.0, 1.0), (1.0, 2.0)];
        assert!((advantage(&curve, (0.5, 1.7), Better::Higher).unwrap() - 0.2).abs() < 1e-12);
        assert!((advantage(&curve, (0.5, 1.3), Better::Lower).unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(advantage(&curve, (2.0, 1.0), Better::Higher), None);
    }

    /// The interval by hand: 1, 2, 3 has mean 2, sd 1, half width 4.303 / sqrt(3)
    /// (scipy.stats.t.ppf(0.975, 2) = 4.3027).
    #[test]
    fn the_interval_is_students_t() {
        let iv = interval(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
        let half = 4.303 / 3f64.sqrt();
        assert_eq!(iv.n, 3);
        assert!((iv.mean - 2.0).abs() < 1e-12);
        assert!((iv.lo - (2.0 - half)).abs() < 1e-12 && (iv.hi - (2.0 + half)).abs() < 1e-12);
        assert!((t975(1000) - 1.9624).abs() < 1e-3);
        assert!(interval(&[]).is_none());
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let s = |xs: &[f64]| verdict(&xs.iter().map(|&x| Some(x)).collect::<Vec<_>>()).0;
        assert_eq!(s(&[0.10, 0.12, 0.11]), Verdict::Above);
        assert_eq!(s(&[-0.10, -0.12, -0.11]), Verdict::Below);
        assert_eq!(s(&[0.10, -0.12, 0.01]), Verdict::On);
        assert_eq!(s(&[0.10]), Verdict::Unsure);
        assert_eq!(verdict(&[Some(0.1), None, Some(0.1)]).0, Verdict::Outside);
    }
}
