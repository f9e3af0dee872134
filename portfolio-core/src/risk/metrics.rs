//! Risk statistics over daily simple returns, following empyrical 0.5.5 formula by formula
//! (see the conventions in [`crate::risk`]). Pure functions of `f64` slices; a result that is
//! undefined (too few returns, a zero denominator, a non-finite input or result) is `None`.

/// Return periods in a year: every annualization uses 252.
pub const ANNUALIZATION: f64 = 252.0;
/// The VaR/CVaR cutoff: the 5th percentile (95% confidence).
pub const VAR_CUTOFF: f64 = 0.05;
/// Below this population variance a benchmark counts as flat and beta is undefined (as
/// empyrical's `beta_aligned`).
pub const MIN_BENCHMARK_VARIANCE: f64 = 1e-30;

/// Risk figures of one series of daily simple returns.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RiskMetrics {
    /// Number of daily returns the figures are computed from.
    pub observations: usize,
    /// Compound annual growth rate, `prod(1 + r) ^ (252 / n) - 1`; `None` when empty or when
    /// the growth factor `prod(1 + r)` is negative (more than everything was lost).
    pub annual_return: Option<f64>,
    /// `std(r, ddof=1) * sqrt(252)`; needs 2 returns.
    pub annual_volatility: Option<f64>,
    /// `mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)`; needs 2 returns and a non-zero std.
    pub sharpe: Option<f64>,
    /// `mean(r - rf) * 252 / downside_risk`; needs 2 returns and a non-zero downside risk.
    pub sortino: Option<f64>,
    /// The deepest fall of the cumulative curve from its running peak, as a fraction of the
    /// peak: `<= 0` (`-0.25` is a 25% drawdown); needs 1 return.
    pub max_drawdown: Option<f64>,
    /// Historical 95% VaR: the 5th percentile of the returns, linearly interpolated (a
    /// return, usually negative); needs 1 return.
    pub var_95: Option<f64>,
    /// Historical 95% CVaR: the mean of the `floor((n - 1) * 0.05) + 1` lowest returns
    /// (`<= var_95`); needs 1 return.
    pub cvar_95: Option<f64>,
    /// Beta to the benchmark over the days both have a return; `None` without a benchmark,
    /// with fewer than 2 aligned days or a flat benchmark.
    pub beta: Option<f64>,
}

/// Every figure of [`RiskMetrics`] except `beta` (`None`: it needs a benchmark, see [`beta`]).
/// `risk_free` is a constant daily rate (0 by default), used by Sharpe and Sortino.
pub fn risk_metrics(returns: &[f64], risk_free: f64) -> RiskMetrics {
    RiskMetrics {
        observations: returns.len(),
        annual_return: annual_return(returns),
        annual_volatility: annual_volatility(returns),
        sharpe: sharpe_ratio(returns, risk_free),
        sortino: sortino_ratio(returns, risk_free),
        max_drawdown: max_drawdown(returns),
        var_95: value_at_risk(returns),
        cvar_95: conditional_value_at_risk(returns),
        beta: None,
    }
}

fn all_finite(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite())
}

/// `x` if it is finite.
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn mean(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    finite(values.iter().sum::<f64>() / values.len() as f64)
}

/// Sample standard deviation (ddof = 1); exactly 0 when every value is equal, so that a
/// constant series is recognised despite rounding in its mean.
fn std_ddof1(values: &[f64]) -> Option<f64> {
    if values.len() < 2 {
        return None;
    }
    let first = values[0];
    if values.iter().all(|&v| v == first) {
        return finite(first).map(|_| 0.0);
    }
    let m = mean(values)?;
    let squares: f64 = values.iter().map(|v| (v - m) * (v - m)).sum();
    finite((squares / (values.len() - 1) as f64).sqrt())
}

fn excess(returns: &[f64], risk_free: f64) -> Vec<f64> {
    returns.iter().map(|r| r - risk_free).collect()
}

/// Compound annual growth rate: `prod(1 + r) ^ (1 / (n / 252)) - 1` (empyrical
/// `annual_return`); `None` when empty or when `prod(1 + r) < 0`, where empyrical's power
/// gives `nan` or, for a whole exponent, a meaningless number.
pub fn annual_return(returns: &[f64]) -> Option<f64> {
    if returns.is_empty() {
        return None;
    }
    let growth: f64 = returns.iter().map(|r| 1.0 + r).product();
    if growth < 0.0 {
        return None;
    }
    let years = returns.len() as f64 / ANNUALIZATION;
    finite(growth.powf(1.0 / years) - 1.0)
}

/// `std(r, ddof=1) * sqrt(252)` (empyrical `annual_volatility`); 0 for constant returns.
pub fn annual_volatility(returns: &[f64]) -> Option<f64> {
    std_ddof1(returns).and_then(|s| finite(s * ANNUALIZATION.sqrt()))
}

/// `mean(r - rf) / std(r - rf, ddof=1) * sqrt(252)` (empyrical `sharpe_ratio`); `None` for
/// fewer than 2 returns or a zero standard deviation (empyrical: `inf` or `nan`).
pub fn sharpe_ratio(returns: &[f64], risk_free: f64) -> Option<f64> {
    let adjusted = excess(returns, risk_free);
    let std = std_ddof1(&adjusted)?;
    if std == 0.0 {
        return None;
    }
    finite(mean(&adjusted)? / std * ANNUALIZATION.sqrt())
}

/// Annualized downside deviation below `required` (empyrical `downside_risk`):
/// `sqrt(mean(min(r - required, 0)^2)) * sqrt(252)`, the mean taken over all periods (the
/// ones above `required` count as 0). Needs 1 return.
pub fn downside_risk(returns: &[f64], required: f64) -> Option<f64> {
    if !all_finite(returns) {
        return None;
    }
    let shortfalls: Vec<f64> = returns
        .iter()
        .map(|r| {
            let d = (r - required).min(0.0);
            d * d
        })
        .collect();
    mean(&shortfalls).and_then(|m| finite(m.sqrt() * ANNUALIZATION.sqrt()))
}

/// `mean(r - rf) * 252 / downside_risk(r, rf)` (empyrical `sortino_ratio`); `None` for fewer
/// than 2 returns or no return below `risk_free` (empyrical: `inf`, or `nan` if the mean is
/// 0 too).
pub fn sortino_ratio(returns: &[f64], risk_free: f64) -> Option<f64> {
    if returns.len() < 2 {
        return None;
    }
    let downside = downside_risk(returns, risk_free)?;
    if downside == 0.0 {
        return None;
    }
    finite(mean(&excess(returns, risk_free))? * ANNUALIZATION / downside)
}

/// The most negative `(curve - running_max) / running_max` of the cumulative curve
/// `100 * cumprod(1 + r)`, the running max starting at 100 (empyrical `max_drawdown`): a loss
/// on the first day counts. In `[-1, 0]` while every return is `>= -1`.
pub fn max_drawdown(returns: &[f64]) -> Option<f64> {
    if returns.is_empty() || !all_finite(returns) {
        return None;
    }
    let start = 100.0;
    let (mut growth, mut peak, mut worst) = (1.0_f64, start, 0.0_f64);
    for r in returns {
        growth *= 1.0 + r;
        let value = growth * start;
        peak = peak.max(value);
        worst = worst.min((value - peak) / peak);
    }
    finite(worst)
}

/// The `q`-quantile (`0 <= q <= 1`) of `values`, numpy's default `linear` method: the value
/// at fractional rank `(n - 1) * q` of the sorted values, interpolated as numpy's `_lerp`.
pub fn percentile_linear(values: &[f64], q: f64) -> Option<f64> {
    let sorted = sorted(values)?;
    let last = sorted.len() - 1;
    let rank = last as f64 * q;
    if !(0.0..=last as f64).contains(&rank) {
        return None;
    }
    let below = rank.floor();
    let t = rank - below;
    let lo = below as usize;
    let (a, b) = (sorted[lo], sorted[(lo + 1).min(last)]);
    let diff = b - a;
    // numpy interpolates from the nearer end for accuracy.
    finite(if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    })
}

fn sorted(values: &[f64]) -> Option<Vec<f64>> {
    if values.is_empty() || !all_finite(values) {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(sorted)
}

/// Historical 95% value at risk: `np.percentile(r, 5)`, linearly interpolated (empyrical
/// `value_at_risk`). A return, not a loss: `-0.03` means a 3% daily loss.
pub fn value_at_risk(returns: &[f64]) -> Option<f64> {
    percentile_linear(returns, VAR_CUTOFF)
}

/// Historical 95% conditional VaR (expected shortfall), as empyrical's
/// `conditional_value_at_risk`: the mean of the `k + 1` lowest returns with
/// `k = floor((n - 1) * 0.05)`. Always `<= value_at_risk`. It is the mean of the returns
/// `<= value_at_risk` except when returns tie at the cutoff: then only `k + 1` of them count.
pub fn conditional_value_at_risk(returns: &[f64]) -> Option<f64> {
    let sorted = sorted(returns)?;
    let k = ((sorted.len() - 1) as f64 * VAR_CUTOFF) as usize;
    mean(&sorted[..=k])
}

/// Beta of the returns to a benchmark from `(benchmark, returns)` pairs of the same days:
/// `cov(b, r) / var(b)`. The ddof cancels: empyrical divides both by `n` (ddof 0), ddof 1
/// gives the same ratio. `None` with fewer than 2 pairs or when the benchmark's population
/// variance is below [`MIN_BENCHMARK_VARIANCE`] (as empyrical).
pub fn beta(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f64;
    let mean_b = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_r = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let var_b = pairs.iter().map(|p| (p.0 - mean_b).powi(2)).sum::<f64>() / n;
    if var_b.is_nan() || var_b < MIN_BENCHMARK_VARIANCE {
        return None;
    }
    let cov = pairs
        .iter()
        .map(|p| (p.0 - mean_b) * (p.1 - mean_r))
        .sum::<f64>()
        / n;
    finite(cov / var_b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    // Expected values: empyrical 0.5.5 on numpy 1.26.4, computed once and pasted:
    //
    //   python3 -m venv v && v/bin/pip install "numpy<2" "pandas<2.2" empyrical==0.5.5 six
    //   import numpy as np, empyrical as ep
    //   r = np.array(SERIES)
    //   ep.annual_return(r), ep.annual_volatility(r), ep.sharpe_ratio(r, risk_free=rf),
    //   ep.sortino_ratio(r, required_return=rf), ep.max_drawdown(r), ep.value_at_risk(r),
    //   ep.conditional_value_at_risk(r)
    //
    // C and D are also checkable by hand: C has mean -0.01 and sample variance 0.0063, so
    // volatility sqrt(0.0063 * 252) = 1.26 and Sharpe -0.01 / sqrt(0.0063) * sqrt(252) = -2;
    // D's curve 1.1, 0.88, 0.924, 0.8316, 1.08108 falls to 0.8316 from the 1.1 peak: -0.244.
    const A: &[f64] = &[
        0.01, -0.02, 0.015, 0.003, -0.007, 0.012, -0.025, 0.004, 0.009, -0.001, 0.02, -0.013,
        0.006, 0.0, -0.004, 0.011, -0.018, 0.007, 0.002, -0.009, 0.016, -0.003,
    ];
    const C: &[f64] = &[0.05, -0.1, 0.02];
    const D: &[f64] = &[0.1, -0.2, 0.05, -0.1, 0.3];
    /// 12 returns: the 5th percentile's rank 0.55 takes numpy's `t >= 0.5` branch.
    const E: &[f64] = &[
        0.021, -0.034, 0.008, 0.017, -0.012, 0.003, -0.041, 0.026, 0.001, -0.006, 0.014, -0.019,
    ];

    /// 41 returns, four tied at the cutoff: -0.05, -0.01 × 4, then 0.001 ..= 0.036.
    fn ties() -> Vec<f64> {
        let mut t = vec![-0.05, -0.01, -0.01, -0.01, -0.01];
        t.extend((1..37).map(|i| 0.001 * f64::from(i)));
        t
    }

    #[track_caller]
    fn close(actual: Option<f64>, expected: f64, what: &str) {
        let Some(actual) = actual else {
            panic!("{what}: None, expected {expected}");
        };
        let tolerance = 1e-12 * expected.abs().max(1e-3);
        assert!(
            (actual - expected).abs() <= tolerance,
            "{what}: {actual} != {expected}"
        );
    }

    #[rstest]
    #[case::a(A, 0.0, [0.1664084503133021, 0.19302143074610323, 0.8901508042606331, 1.240801935368917, -0.0250000000000001, -0.0199, -0.0225])]
    #[case::a_rf(A, 0.0002, [0.1664084503133021, 0.19302143074610323, 0.6290399016775141, 0.8664404439849823, -0.0250000000000001, -0.0199, -0.0225])]
    #[case::c(C, 0.0, [-0.9544292325236331, 1.26, -2.0000000000000004, -2.7495454169735036, -0.1, -0.08800000000000001, -0.1])]
    #[case::d(D, 0.0, [49.86684265882386, 3.0535225559998738, 2.475829099459356, 4.762352359916261, -0.244, -0.18, -0.2])]
    #[case::e(E, 0.0, [-0.40289859897130753, 0.3389078716326097, -1.363202329218329, -1.7346126353371816, -0.05890146744648122, -0.03715, -0.041])]
    #[case::ties(&ties(), 0.0, [31.530940366449812, 0.263415233739155, 13.439969407511866, 26.517454143716122, -0.08743379050000001, -0.01, -0.023333333333333334])]
    fn metrics_match_empyrical(
        #[case] returns: &[f64],
        #[case] rf: f64,
        #[case] expected: [f64; 7],
    ) {
        let m = risk_metrics(returns, rf);
        assert_eq!(m.observations, returns.len());
        close(m.annual_return, expected[0], "annual_return");
        close(m.annual_volatility, expected[1], "annual_volatility");
        close(m.sharpe, expected[2], "sharpe");
        close(m.sortino, expected[3], "sortino");
        close(m.max_drawdown, expected[4], "max_drawdown");
        close(m.var_95, expected[5], "var_95");
        close(m.cvar_95, expected[6], "cvar_95");
        assert_eq!(m.beta, None);
    }

    #[test]
    fn cvar_counts_only_k_plus_one_tied_returns_as_empyrical() {
        // The mean of every return <= VaR would be -0.018 (np.mean(T[T <= -0.01])).
        let t = ties();
        close(value_at_risk(&t), -0.01, "var");
        close(conditional_value_at_risk(&t), -0.07 / 3.0, "cvar");
    }

    #[test]
    fn beta_matches_empyrical_and_ddof_cancels() {
        // ep.beta(P, B) = 1.312015097504718 (ddof 0);
        // np.cov(P, B, ddof=1)[0][1] / np.var(B, ddof=1) = 1.3120150975047182.
        let p = [
            0.012, -0.008, 0.004, 0.015, -0.011, 0.002, 0.009, -0.013, 0.006, 0.001,
        ];
        let b = [
            0.010, -0.005, 0.002, 0.011, -0.009, 0.001, 0.006, -0.010, 0.004, -0.001,
        ];
        let pairs: Vec<(f64, f64)> = b.into_iter().zip(p).collect();
        close(beta(&pairs), 1.312015097504718, "beta");
        let to_itself: Vec<(f64, f64)> = p.iter().map(|&x| (x, x)).collect();
        assert_eq!(beta(&to_itself), Some(1.0));
    }

    #[rstest]
    #[case::flat_benchmark(&[(0.01, 0.02), (0.01, -0.03), (0.01, 0.0)])]
    #[case::one_pair(&[(0.01, 0.02)])]
    #[case::empty(&[])]
    fn beta_is_undefined_without_benchmark_variance(#[case] pairs: &[(f64, f64)]) {
        assert_eq!(beta(pairs), None);
    }

    #[test]
    fn empty_returns_have_no_figures() {
        assert_eq!(risk_metrics(&[], 0.0), RiskMetrics::default());
    }

    #[test]
    fn one_return_defines_only_the_order_statistics_and_drawdown() {
        // empyrical: volatility, Sharpe and Sortino are nan below 2 returns; max_drawdown of
        // [-0.1] is -0.1, value_at_risk of [0.01] is 0.01.
        let m = risk_metrics(&[-0.1], 0.0);
        assert_eq!(m.observations, 1);
        assert_eq!(m.annual_volatility, None);
        assert_eq!(m.sharpe, None);
        assert_eq!(m.sortino, None);
        close(m.max_drawdown, -0.1, "max_drawdown");
        assert_eq!(m.var_95, Some(-0.1));
        assert_eq!(m.cvar_95, Some(-0.1));
        close(m.annual_return, 0.9f64.powf(252.0) - 1.0, "annual_return");
    }

    #[test]
    fn constant_returns_have_zero_volatility_and_no_sharpe() {
        // empyrical: annual_volatility 0.0, sharpe_ratio inf.
        let m = risk_metrics(&[0.01, 0.01, 0.01], 0.0);
        assert_eq!(m.annual_volatility, Some(0.0));
        assert_eq!(m.sharpe, None);
        // No return below 0: empyrical's Sortino is inf.
        assert_eq!(m.sortino, None);
        assert_eq!(m.max_drawdown, Some(0.0));
    }

    #[test]
    fn all_positive_returns_have_no_sortino_but_a_sharpe() {
        // empyrical: sortino_ratio([0.01, 0.02, 0.03]) = inf; mean 0.02, std 0.01.
        let m = risk_metrics(&[0.01, 0.02, 0.03], 0.0);
        assert_eq!(m.sortino, None);
        close(m.sharpe, 2.0 * 252f64.sqrt(), "sharpe");
        assert_eq!(m.max_drawdown, Some(0.0));
    }

    #[test]
    fn non_finite_results_are_none() {
        // A growth factor below zero (-0.55) has no meaningful root, even when the exponent
        // (252 / 2 = 126) is whole; NaN input poisons every mean.
        assert_eq!(annual_return(&[-1.5, 0.1]), None);
        let m = risk_metrics(&[0.01, f64::NAN, 0.02], 0.0);
        assert_eq!(m.annual_volatility, None);
        assert_eq!(m.sharpe, None);
        assert_eq!(m.cvar_95, None);
        assert_eq!(m.var_95, None);
        assert_eq!(m.max_drawdown, None);
        assert_eq!(downside_risk(&[0.01, f64::NAN, -0.02], 0.0), None);
        assert_eq!(beta(&[(0.01, 0.0), (f64::NAN, 0.0), (0.02, 0.0)]), None);
    }

    proptest! {
        #[test]
        fn tail_figures_are_ordered(returns in proptest::collection::vec(-0.99f64..2.0, 1..300)) {
            let m = risk_metrics(&returns, 0.0);
            let (var, cvar) = (m.var_95.unwrap(), m.cvar_95.unwrap());
            let min = returns.iter().copied().fold(f64::INFINITY, f64::min);
            let mean = returns.iter().sum::<f64>() / returns.len() as f64;
            let median = percentile_linear(&returns, 0.5).unwrap();
            // Not VaR <= mean: one deep loss among many gains puts the mean below the 5th
            // percentile. The mean of the lowest returns is below the mean of all, though.
            prop_assert!(cvar <= var && var <= median);
            prop_assert!(min <= cvar && cvar <= mean + 1e-12);
            let dd = m.max_drawdown.unwrap();
            prop_assert!((-1.0..=0.0).contains(&dd), "{}", dd);
        }

        #[test]
        fn ratios_do_not_depend_on_the_scale(returns in proptest::collection::vec(-0.05f64..0.05, 2..100), scale in 0.1f64..10.0) {
            let scaled: Vec<f64> = returns.iter().map(|r| r * scale).collect();
            for (a, b) in [
                (sharpe_ratio(&returns, 0.0), sharpe_ratio(&scaled, 0.0)),
                (sortino_ratio(&returns, 0.0), sortino_ratio(&scaled, 0.0)),
            ] {
                if let (Some(a), Some(b)) = (a, b) {
                    prop_assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{} {}", a, b);
                }
            }
        }

        #[test]
        fn beta_recovers_a_linear_relation(bench in proptest::collection::vec(-0.05f64..0.05, 3..100), slope in -3.0f64..3.0, shift in -0.01f64..0.01) {
            let pairs: Vec<(f64, f64)> = bench.iter().map(|&b| (b, slope * b + shift)).collect();
            if let Some(b) = beta(&pairs) {
                prop_assert!((b - slope).abs() <= 1e-9, "{} {}", b, slope);
            }
        }
    }
}
