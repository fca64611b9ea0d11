//! Metric rules as data: the worst window since the last full check.

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::policy::MetricRule;

use crate::checks::{evaluate_rule, Check, Series, State};
use crate::metrics::Purpose;

/// A rule over every window of its length that ends at one of its datapoints since the last
/// full check (the read reaches back `max(window, full_check_every)`: a lag check does not read
/// rules, so a burst between two full checks is still seen), the worst one deciding; ties go to
/// the latest. The detail names the window when it is not the one ending now.
pub fn worst_window(
    rule: &MetricRule,
    metric: &Series,
    of: Option<&Series>,
    now: DateTime<Utc>,
    read_back: Duration,
) -> Check {
    let w = rule.window.0;
    let within = |s: &Series, end: DateTime<Utc>| -> Vec<f64> {
        s.iter()
            .filter(|(t, _)| *t <= end && *t > end - w)
            .map(|(_, v)| *v)
            .collect()
    };
    let eval = |end: DateTime<Utc>| {
        let m = within(metric, end);
        let o = of.map(|o| within(o, end));
        evaluate_rule(rule, &m, o.as_deref())
    };
    let mut best = eval(now);
    let mut ends: Vec<DateTime<Utc>> = metric
        .iter()
        .map(|(t, _)| *t)
        // Whole windows inside what was read: a partial one would be a shorter window.
        .filter(|t| *t < now && *t - w >= now - read_back)
        .collect();
    ends.sort_unstable_by(|a, b| b.cmp(a));
    ends.dedup();
    let worse = |a: &Check, b: &Check| match (a.value, b.value) {
        (Some(x), Some(y)) => {
            if rule.below.is_some() && rule.above.is_none() {
                x < y
            } else {
                x > y
            }
        }
        (Some(_), None) => true,
        _ => false,
    };
    for end in ends {
        let c = eval(end);
        // Only a past window that breaches counts: a metric gone silent stays NO DATA, a quiet
        // past does not make it OK.
        let breaches = matches!(c.state, State::Warning | State::Critical);
        if breaches && worse(&c, &best) {
            let until = end.format("%H:%M UTC");
            best = Check {
                detail: c
                    .detail
                    .replacen(" (alert", &format!(" to {until} (alert"), 1),
                ..c
            };
        }
    }
    best
}

/// A rule over its series since the last full check: NO DATA when they could not be read.
pub(super) fn rule_check(
    rule: &MetricRule,
    timed: &dyn Fn(&Purpose) -> Option<Series>,
    now: DateTime<Utc>,
    since_full: Duration,
) -> Check {
    let metric = timed(&Purpose::Rule {
        rule: rule.name.clone(),
        of: false,
    });
    let of = timed(&Purpose::Rule {
        rule: rule.name.clone(),
        of: true,
    });
    match metric {
        None => Check::new(
            "rule",
            &rule.name,
            "metric rule",
            State::NoData,
            "its metrics could not be read".into(),
        ),
        Some(m) => worst_window(
            rule,
            &m,
            of.as_ref(),
            now,
            crate::metrics::rule_read_back(rule, since_full),
        ),
    }
}
