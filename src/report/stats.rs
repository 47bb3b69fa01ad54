//! The statistics conventions of `analytic.md`: Wilson intervals for rates, exact
//! order-statistic intervals for percentiles, CLT intervals for means, and the rule that flags a
//! prediction outside its interval or declares it not measurable at this n.

use serde::{Deserialize, Serialize};

/// z for a two-sided 95% interval (report flags; tests gate at 99% with fixed seeds).
pub const Z95: f64 = 1.959_963_984_540_054;

/// An estimate with its 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub est: f64,
    pub lo: f64,
    pub hi: f64,
}

impl Interval {
    pub fn point(v: f64) -> Interval {
        Interval {
            est: v,
            lo: v,
            hi: v,
        }
    }
    pub fn width(&self) -> f64 {
        self.hi - self.lo
    }
    pub fn contains(&self, v: f64) -> bool {
        // A hair of slack for values printed and compared at f64 precision.
        let eps = 1e-9 * (1.0 + v.abs());
        self.lo - eps <= v && v <= self.hi + eps
    }
    /// Every value of `self` is below every value of `o`.
    pub fn below(&self, o: &Interval) -> bool {
        self.hi < o.lo
    }
}

/// Wilson score interval for k successes out of n.
pub fn wilson(k: u64, n: u64) -> Interval {
    if n == 0 {
        return Interval {
            est: f64::NAN,
            lo: 0.0,
            hi: 1.0,
        };
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z95 * ((p * (1.0 - p) / n) + z2 / (4.0 * n * n)).sqrt() / denom;
    // At k = 0 (k = n) the bound is exactly 0 (1); rounding must not make it look measurable.
    Interval {
        est: p,
        lo: if k == 0.0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        hi: if k == n {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    }
}

/// Mean with a CLT 95% interval.
pub fn mean_ci(values: &[f64]) -> Interval {
    let n = values.len() as f64;
    if values.is_empty() {
        return Interval::point(f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return Interval::point(mean);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = Z95 * (var / n).sqrt();
    Interval {
        est: mean,
        lo: mean - half,
        hi: mean + half,
    }
}

/// Binomial(n, q) probabilities, computed in log space so large n does not underflow.
fn binomial_pmf(n: usize, q: f64) -> Vec<f64> {
    if q <= 0.0 || q >= 1.0 {
        let mut v = vec![0.0; n + 1];
        v[if q <= 0.0 { 0 } else { n }] = 1.0;
        return v;
    }
    let mut logs = Vec::with_capacity(n + 1);
    let mut l = n as f64 * (1.0 - q).ln();
    logs.push(l);
    let ratio = (q / (1.0 - q)).ln();
    for k in 0..n {
        l += ((n - k) as f64).ln() - ((k + 1) as f64).ln() + ratio;
        logs.push(l);
    }
    let max = logs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut p: Vec<f64> = logs.iter().map(|x| (x - max).exp()).collect();
    let s: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= s);
    p
}

/// The q-quantile of `sorted` with an exact distribution-free 95% interval from order
/// statistics: the ranks [l, u] such that P(X(l) ≤ ξ_q ≤ X(u)) ≥ 0.95 under Binomial(n, q),
/// chosen as symmetric in tail mass as the discrete distribution allows.
pub fn quantile_ci(sorted: &[f64], q: f64) -> Option<Interval> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let est = sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let pmf = binomial_pmf(n, q);
    // cdf[k] = P(B ≤ k); the interval [X(l), X(u)] (1-based) covers ξ_q with probability
    // P(l ≤ B < u) = cdf[u−1] − cdf[l−1].
    let mut cdf = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    for p in &pmf {
        acc += p;
        cdf.push(acc);
    }
    let alpha = 0.025;
    // Largest l with P(B < l) ≤ α/2 ... i.e. cdf[l−1] ≤ α.
    let mut l = 1usize;
    while l < n && cdf[l] <= alpha {
        l += 1;
    }
    let mut u = n;
    while u > 1 && 1.0 - cdf[u - 2] <= alpha {
        u -= 1;
    }
    let u = u.max(l);
    Some(Interval {
        est,
        lo: sorted[l - 1],
        hi: sorted[u - 1],
    })
}

/// How a simulated value relates to its analytic prediction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// The prediction lies inside the 95% interval.
    Agrees,
    /// Outside; the formula's independence assumptions hold here, so this is a defect to chase.
    SimulatorBug,
    /// Outside where the scenario violates the formula's assumptions (correlated faults, a
    /// bound rather than an identity): showing the gap is a result.
    CorrelationEffect,
    /// The predicted rate is below 10/n: no claim either way.
    NotMeasurable,
}

impl Agreement {
    pub fn label(&self) -> &'static str {
        match self {
            Agreement::Agrees => "agrees",
            Agreement::SimulatorBug => "outside the interval: simulator bug?",
            Agreement::CorrelationEffect => "outside the interval: correlation effect",
            Agreement::NotMeasurable => "not measurable at this n",
        }
    }
}

/// Compares a prediction with a measured interval. `rate_n` is Some(n) for rates (enables the
/// 10/n rule); `assumptions_hold` decides how a miss is labelled.
pub fn compare(
    predicted: f64,
    measured: &Interval,
    rate_n: Option<u64>,
    assumptions_hold: bool,
) -> Agreement {
    if let Some(n) = rate_n {
        let rare = predicted.min(1.0 - predicted);
        if n == 0 || rare < 10.0 / n as f64 && rare > 0.0 {
            return Agreement::NotMeasurable;
        }
    }
    if measured.contains(predicted) {
        Agreement::Agrees
    } else if assumptions_hold {
        Agreement::SimulatorBug
    } else {
        Agreement::CorrelationEffect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_is_exactly_zero_or_one_at_the_ends() {
        for n in [1u64, 7, 100, 4000, 123_457] {
            assert_eq!(wilson(0, n).lo, 0.0, "n = {n}");
            assert_eq!(wilson(n, n).hi, 1.0, "n = {n}");
            assert!(wilson(1, n).lo > 0.0, "n = {n}");
        }
    }

    #[test]
    fn wilson_matches_a_known_value() {
        // 81 of 100: Wilson 95% ≈ [0.7222, 0.8750].
        let w = wilson(81, 100);
        assert!((w.lo - 0.7222).abs() < 5e-4, "{w:?}");
        assert!((w.hi - 0.8750).abs() < 5e-4, "{w:?}");
        let all = wilson(100, 100);
        assert_eq!(all.hi, 1.0);
        assert!(all.lo < 1.0 && all.lo > 0.95);
    }

    #[test]
    fn quantile_interval_brackets_the_median_of_a_uniform_grid() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        let m = quantile_ci(&v, 0.5).expect("non-empty");
        assert_eq!(m.est, 500.0);
        // Exact ranks for n=1000, q=0.5 at 95%: about 469..532.
        assert!((465.0..=472.0).contains(&m.lo), "{m:?}");
        assert!((529.0..=536.0).contains(&m.hi), "{m:?}");
        let p99 = quantile_ci(&v, 0.99).expect("non-empty");
        assert!(p99.lo <= 990.0 && p99.hi >= 990.0 && p99.hi <= 1000.0);
    }

    #[test]
    fn comparison_flags_and_the_rare_event_rule() {
        let w = wilson(960, 1000);
        assert_eq!(compare(0.9606, &w, Some(1000), true), Agreement::Agrees);
        assert_eq!(compare(0.90, &w, Some(1000), true), Agreement::SimulatorBug);
        assert_eq!(
            compare(0.90, &w, Some(1000), false),
            Agreement::CorrelationEffect
        );
        // 1e-5 predicted at n = 1000 is below 10/n.
        assert_eq!(
            compare(1e-5, &wilson(0, 1000), Some(1000), true),
            Agreement::NotMeasurable
        );
    }
}
