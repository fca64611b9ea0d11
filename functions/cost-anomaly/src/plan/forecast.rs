//! Month-end forecast from the stored days: what the month has cost so far, plus the days left
//! at the recent trend (a least-squares line over the last 14 days with data), with a 95% band
//! from the day-to-day scatter around that line. Too little history is said, not guessed.

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;

use super::model::days_in_month;
use super::{usd, Day, Scope};

/// Days of history the trend is fitted over.
pub const TREND_DAYS: i64 = 14;
/// Fewer days with data than this: no forecast.
pub const MIN_DAYS: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forecast {
    pub scope: Scope,
    /// The days of this month with data, and their sum.
    pub month_to_date: f64,
    pub days_known: u32,
    /// Days of the month without data up to the evaluated day (forecast like the days left).
    pub days_missing: u32,
    pub days_left: u32,
    /// `None`: too little history.
    pub month_end: Option<f64>,
    /// Half the 95% band.
    pub plus_minus: f64,
    pub history_days: usize,
}

impl Forecast {
    pub fn sentence(&self) -> String {
        match self.month_end {
            Some(end) => format!(
                "{}: {} by month end (± {}, 95%); {} so far over {} day(s){}",
                self.scope.name(),
                usd(end),
                usd(self.plus_minus),
                usd(self.month_to_date),
                self.days_known,
                if self.days_missing > 0 {
                    format!(", {} day(s) without data forecast", self.days_missing)
                } else {
                    String::new()
                }
            ),
            None => format!(
                "{}: no forecast: {} day(s) of history, {} needed",
                self.scope.name(),
                self.history_days,
                MIN_DAYS
            ),
        }
    }
}

/// The forecast for `scope` at the end of `date`'s month; `days` holds the stored days up to and
/// including `date`.
pub fn forecast(days: &BTreeMap<NaiveDate, Day>, scope: &Scope, date: NaiveDate) -> Forecast {
    let first = date.with_day(1).unwrap_or(date);
    let mut mtd = 0.0;
    let mut known = 0u32;
    let mut missing = 0u32;
    let mut d = first;
    while d <= date {
        match days.get(&d).and_then(|day| day.figure(scope)) {
            Some(v) => {
                mtd += v;
                known += 1;
            }
            None => missing += 1,
        }
        d += Duration::days(1);
    }
    let left = days_in_month(date) - date.day();
    // The trend: the last TREND_DAYS days with data, x in days before `date`.
    let points: Vec<(f64, f64)> = (0..TREND_DAYS)
        .filter_map(|back| {
            let d = date - Duration::days(back);
            days.get(&d)
                .and_then(|day| day.figure(scope))
                .map(|v| (-(back as f64), v))
        })
        .collect();
    let mut f = Forecast {
        scope: scope.clone(),
        month_to_date: mtd,
        days_known: known,
        days_missing: missing,
        days_left: left,
        month_end: None,
        plus_minus: 0.0,
        history_days: points.len(),
    };
    if points.len() < MIN_DAYS {
        return f;
    }
    let (a, b, sigma) = fit(&points);
    // Days to forecast: the missing ones (at today's level) and those left (along the line).
    let mut rest = missing as f64 * a.max(0.0);
    for i in 1..=left {
        rest += (a + b * i as f64).max(0.0);
    }
    let n = (left + missing) as f64;
    f.month_end = Some(mtd + rest);
    f.plus_minus = 1.96 * sigma * n.sqrt();
    f
}

/// Least squares `y = a + b·x` and the residuals' standard deviation.
fn fit(points: &[(f64, f64)]) -> (f64, f64, f64) {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let a = my - b * mx;
    let dof = (n - 2.0).max(1.0);
    let sse: f64 = points.iter().map(|p| (p.1 - (a + b * p.0)).powi(2)).sum();
    (a, b, (sse / dof).sqrt())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::anomalies::tests::day_of;

    #[test]
    fn steady_cost_forecasts_the_sum_with_a_narrow_band() {
        // Given $10 every day from Dec 1 to Dec 10
        let days: BTreeMap<NaiveDate, Day> = (1..=10)
            .map(|d| {
                let date = NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
                (date, day_of(date, &[("orders-db", 10.0)]))
            })
            .collect();
        let date = NaiveDate::from_ymd_opt(2026, 12, 10).unwrap();
        let f = forecast(&days, &Scope::Total, date);
        // Then $100 so far and $310 by month end, ± $0
        assert!((f.month_to_date - 100.0).abs() < 1e-9);
        assert!((f.month_end.unwrap() - 310.0).abs() < 1e-6);
        assert!(f.plus_minus < 1e-6);
        assert_eq!(f.days_left, 21);
    }

    #[test]
    fn growth_is_followed_and_too_little_history_is_said() {
        let days: BTreeMap<NaiveDate, Day> = (1..=10)
            .map(|d| {
                let date = NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
                (date, day_of(date, &[("orders-db", d as f64)]))
            })
            .collect();
        let date = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
        let f = forecast(&days, &Scope::Total, date);
        // 1..=10 so far (55), then 11..=30 (410): 465
        assert!((f.month_end.unwrap() - 465.0).abs() < 1e-6, "{f:?}");
        let two: BTreeMap<NaiveDate, Day> = days.into_iter().filter(|(d, _)| d.day() > 8).collect();
        let f = forecast(&two, &Scope::Total, date);
        assert!(f.month_end.is_none());
        assert!(
            f.sentence()
                .contains("no forecast: 2 day(s) of history, 3 needed"),
            "{}",
            f.sentence()
        );
    }
}
