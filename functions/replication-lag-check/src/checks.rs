//! The checks and their states — pure. Every check has a stable id, a state (ok / warning /
//! critical / no data) and the sentence an alert quotes: "orders-db backup age CRITICAL (was
//! OK): 26 h against RPO 24 h". "No data" is its own state, never OK.

use std::fmt;

use chrono::Duration;
use lifeboat_shared::alerts;
use lifeboat_shared::policy::{Levels, MetricRule, RuleSeverity, Span, Statistic};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Ok,
    NoData,
    Warning,
    Critical,
}

impl State {
    pub fn label(self) -> &'static str {
        match self {
            State::Ok => "OK",
            State::NoData => "NO DATA",
            State::Warning => "WARNING",
            State::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Alerts on change ([`lifeboat_shared::alerts`]): OK < NO DATA < WARNING < CRITICAL.
impl alerts::Level for State {
    const OK: State = State::Ok;
    const NO_DATA: State = State::NoData;
}

/// One check's outcome this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable across runs: `<kind>/<subject>`, e.g. `backup-age/orders-db`.
    pub id: String,
    /// The component, replication pair, replica or rule it is about.
    pub subject: String,
    /// What is checked, in the report's words: "backup age", "replication latency".
    pub what: String,
    pub state: State,
    /// The measured value in seconds (times) or the rule's unit, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The measurement against its threshold: "26 h against RPO 24 h".
    pub detail: String,
    /// The runbook's action (metric rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Check {
    pub fn new(kind: &str, subject: &str, what: &str, state: State, detail: String) -> Check {
        Check {
            id: format!("{kind}/{subject}"),
            subject: subject.to_string(),
            what: what.to_string(),
            state,
            value: None,
            detail,
            action: None,
        }
    }

    pub fn value(mut self, v: f64) -> Check {
        self.value = Some(v);
        self
    }

    /// "orders-db backup age CRITICAL: 26 h against RPO 24 h".
    pub fn sentence(&self) -> String {
        format!(
            "{} {} {}: {}",
            self.subject, self.what, self.state, self.detail
        )
    }
}

/// What alerts on change know of a check: its id, state, "<subject> <what>" and detail.
impl alerts::Check for Check {
    type State = State;
    fn key(&self) -> &str {
        &self.id
    }
    fn state(&self) -> State {
        self.state
    }
    fn title(&self) -> String {
        format!("{} {}", self.subject, self.what)
    }
    fn detail(&self) -> &str {
        &self.detail
    }
}

/// A duration for people: `45 s`, `12 min`, `26 h`, `3 d` (the words alerts use).
pub use lifeboat_shared::alerts::human;

/// A byte count for people: `512 B`, `3.4 KiB`, `12.0 MiB`, `1.5 GiB`.
pub fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024.0 {
        return format!("{b:.0} B");
    }
    let mut v = b / 1024.0;
    let mut unit = UNITS[0];
    for u in &UNITS[1..] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A measured time against warning and critical levels (above the level: that state).
pub fn against_levels(age: Duration, l: &Levels) -> State {
    if age > l.critical.0 {
        State::Critical
    } else if age > l.warning.0 {
        State::Warning
    } else {
        State::Ok
    }
}

/// The age of the newest restorable backup against the component's RPO: critical above it.
pub fn backup_age(component: &str, newest: Option<(Duration, String)>, rpo: Span) -> Check {
    match newest {
        Some((age, what)) => Check::new(
            "backup-age",
            component,
            "backup age",
            if age > rpo.0 {
                State::Critical
            } else {
                State::Ok
            },
            format!("{} against RPO {} ({what})", human(age), human(rpo.0)),
        )
        .value(age.num_seconds() as f64),
        None => Check::new(
            "backup-age",
            component,
            "backup age",
            State::Critical,
            format!("no restorable backup found (RPO {})", human(rpo.0)),
        ),
    }
}

/// A series as GetMetricData answers it: (timestamp, value) in any order.
pub type Series = Vec<(chrono::DateTime<chrono::Utc>, f64)>;

/// A statistic over the datapoints of a window (each datapoint already a per-period statistic).
pub fn combine(stat: Statistic, points: &[f64]) -> Option<f64> {
    if points.is_empty() {
        return None;
    }
    Some(match stat {
        Statistic::Sum => points.iter().sum(),
        Statistic::Average => points.iter().sum::<f64>() / points.len() as f64,
        Statistic::Maximum => points.iter().cloned().fold(f64::MIN, f64::max),
        Statistic::Minimum => points.iter().cloned().fold(f64::MAX, f64::min),
    })
}

/// A metric rule evaluated from its raw series (the numerator, and for a ratio rule the
/// denominator) over its window. No datapoints (or a zero denominator) is "no data".
pub fn evaluate_rule(rule: &MetricRule, metric: &[f64], of: Option<&[f64]>) -> Check {
    let severity = match rule.severity {
        RuleSeverity::Warning => State::Warning,
        RuleSeverity::Critical => State::Critical,
    };
    let (value, unit) = match (&rule.of, of) {
        (Some(_), Some(total)) => {
            let n = combine(rule.statistic, metric);
            let d = combine(rule.statistic, total);
            match (n, d) {
                (Some(n), Some(d)) if d > 0.0 => (Some(100.0 * n / d), "%"),
                // Failures with no attempts recorded, or no attempts at all: nothing to divide.
                _ => (None, "%"),
            }
        }
        (Some(_), None) => (None, "%"),
        (None, _) => (combine(rule.statistic, metric), ""),
    };
    let (cmp, threshold) = match (rule.above, rule.below) {
        (Some(t), _) => ("above", t),
        (None, Some(t)) => ("below", t),
        (None, None) => ("above", f64::INFINITY),
    };
    let window = human(rule.window.0);
    let mut check = match value {
        None => Check::new(
            "rule",
            &rule.name,
            "metric rule",
            State::NoData,
            format!(
                "no datapoints in the last {window} (alert {cmp} {}{unit})",
                fmt_num(threshold)
            ),
        ),
        Some(v) => {
            let breached = if cmp == "above" {
                v > threshold
            } else {
                v < threshold
            };
            Check::new(
                "rule",
                &rule.name,
                "metric rule",
                if breached { severity } else { State::Ok },
                format!(
                    "{}{unit} over {window} (alert {cmp} {}{unit})",
                    fmt_num(v),
                    fmt_num(threshold)
                ),
            )
            .value(v)
        }
    };
    check.action = rule.action.clone();
    check
}

fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_shared::policy::Policy;

    fn rule(text: &str) -> MetricRule {
        Policy::parse(&format!(
            "version: 1\nbuckets: {{backup: b-1}}\nmonitoring:\n  rules:\n    - {text}\n"
        ))
        .unwrap()
        .monitoring
        .rules
        .remove(0)
    }

    #[test]
    fn metric_rules_table() {
        let ratio = "{name: cert.s3.save.fail, namespace: Cert/S3, metric: fail, of: total, window: 10m, above: 5, severity: warning, action: Check S3 service status}";
        let floor = "{name: cert.s3.write.success, namespace: Cert/S3, metric: ok, of: total, window: 10m, below: 95, severity: critical}";
        let absolute = "{name: errors, namespace: App, metric: errors, statistic: Maximum, window: 5m, above: 3, severity: critical}";
        let avg = "{name: latency, namespace: App, metric: ms, statistic: Average, window: 5m, above: 100, severity: warning}";
        #[allow(clippy::type_complexity)]
        let table: Vec<(&str, Vec<f64>, Option<Vec<f64>>, State, &str)> = vec![
            // seed 002: failed/total above 5% over 10 min → warning
            (
                ratio,
                vec![3.0, 4.0],
                Some(vec![50.0, 50.0]),
                State::Warning,
                "7%",
            ),
            (
                ratio,
                vec![2.0, 3.0],
                Some(vec![50.0, 50.0]),
                State::Ok,
                "5%",
            ),
            (
                ratio,
                vec![0.0],
                Some(vec![0.0]),
                State::NoData,
                "no datapoints",
            ),
            (
                ratio,
                vec![],
                Some(vec![100.0]),
                State::NoData,
                "no datapoints",
            ),
            (ratio, vec![1.0], None, State::NoData, "no datapoints"),
            // success below 95% → critical
            (floor, vec![90.0], Some(vec![100.0]), State::Critical, "90%"),
            (floor, vec![95.0], Some(vec![100.0]), State::Ok, "95%"),
            // absolute, maximum
            (
                absolute,
                vec![1.0, 4.0, 2.0],
                None,
                State::Critical,
                "4 over",
            ),
            (absolute, vec![1.0, 3.0], None, State::Ok, "3 over"),
            (absolute, vec![], None, State::NoData, "no datapoints"),
            // average
            (avg, vec![100.0, 140.0], None, State::Warning, "120 over"),
        ];
        for (text, metric, of, state, detail) in table {
            let r = rule(text);
            let c = evaluate_rule(&r, &metric, of.as_deref());
            assert_eq!(c.state, state, "{text} {metric:?}/{of:?}: {}", c.detail);
            assert!(c.detail.contains(detail), "{}", c.detail);
            assert_eq!(c.id, format!("rule/{}", r.name));
        }
        let c = evaluate_rule(&rule(ratio), &[9.0], Some(&[100.0]));
        assert_eq!(c.action.as_deref(), Some("Check S3 service status"));
        assert_eq!(
            c.sentence(),
            "cert.s3.save.fail metric rule WARNING: 9% over 10 min (alert above 5%)"
        );
    }

    #[test]
    fn backup_age_against_the_rpo() {
        let rpo = Span::hours(24);
        let c = backup_age(
            "orders-db",
            Some((Duration::hours(26), "snapshot x".into())),
            rpo,
        );
        assert_eq!(c.state, State::Critical);
        assert_eq!(
            c.sentence(),
            "orders-db backup age CRITICAL: 26 h against RPO 24 h (snapshot x)"
        );
        assert_eq!(
            backup_age("orders-db", Some((Duration::hours(2), "x".into())), rpo).state,
            State::Ok
        );
        let none = backup_age("orders-db", None, rpo);
        assert_eq!(none.state, State::Critical);
        assert!(none.detail.starts_with("no restorable backup"));
    }

    #[test]
    fn levels_and_words() {
        let l = Levels {
            warning: Span::minutes(15),
            critical: Span::hours(1),
        };
        assert_eq!(against_levels(Duration::minutes(10), &l), State::Ok);
        assert_eq!(against_levels(Duration::minutes(16), &l), State::Warning);
        assert_eq!(against_levels(Duration::minutes(61), &l), State::Critical);
        assert_eq!(human(Duration::seconds(45)), "45 s");
        assert_eq!(human(Duration::minutes(12)), "12 min");
        assert_eq!(human(Duration::hours(26)), "26 h");
        assert_eq!(human(Duration::minutes(140)), "2 h 20 min");
        assert_eq!(human(Duration::days(4)), "4 d");
        assert!(State::Critical > State::Warning && State::Warning > State::NoData);
    }
}
