//! The report — pure: changes first (worst first), then every check that is not OK, then the
//! OK ones; the counts as EMF metrics.

use std::collections::BTreeMap;

use lifeboat_shared::report::{Decision, Measurement, Report, Severity, Verdict};

use lifeboat_shared::policy::Policy;

use crate::alerts::{Change, Stored, Why};
use crate::checks::{human, Check, State};

/// `held`: checks with no data for less than the reminder interval, not emailed yet.
pub fn fill(
    report: &mut Report,
    checks: &[Check],
    changes: &[Change],
    held: &[String],
    first: bool,
) {
    for ch in changes {
        // The first check's OK ones are the baseline: said once, as decisions below.
        if first && ch.check.state == State::Ok {
            continue;
        }
        let severity = match (ch.why, ch.check.state) {
            (Why::Recovered, _) | (_, State::Ok) => Severity::Info,
            (_, State::Critical) => Severity::Critical,
            (_, State::Warning | State::NoData) => Severity::Warning,
        };
        let mut message = ch.sentence();
        if let Some(a) = &ch.check.action {
            message.push_str(&format!(" — action: {a}"));
        }
        report.finding(severity, Some(&ch.check.subject), message);
    }
    for c in checks {
        let changed = changes.iter().any(|ch| ch.check.id == c.id);
        if c.state != State::Ok && !changed {
            let severity = match c.state {
                State::Critical => Severity::Critical,
                _ => Severity::Warning,
            };
            let note = if held.contains(&c.id) {
                "not emailed yet: no data for less than the reminder interval, the last known state stands"
            } else {
                "unchanged"
            };
            report.finding(
                severity,
                Some(&c.subject),
                format!("{} ({note})", c.sentence()),
            );
        }
        if c.state == State::Ok {
            report.decisions.push(Decision::new(
                format!("{} {}", c.subject, c.what),
                Verdict::Pass,
                c.detail.clone(),
            ));
        }
    }
    let count = |s: State| checks.iter().filter(|c| c.state == s).count();
    let (crit, warn, nodata, ok) = (
        count(State::Critical),
        count(State::Warning),
        count(State::NoData),
        count(State::Ok),
    );
    report.measure("ChecksCritical", crit as f64, "Count");
    report.measure("ChecksWarning", warn as f64, "Count");
    report.measure("ChecksNoData", nodata as f64, "Count");
    report.measure("ChecksOk", ok as f64, "Count");
    let tally = format!("{ok} OK, {crit} critical, {warn} warning, {nodata} no data");
    report.headline = match changes.first() {
        _ if first => format!("first check: {tally}"),
        Some(ch) if changes.len() == 1 => ch.sentence(),
        Some(ch) => format!("{} changes: {}; ...", changes.len(), ch.sentence()),
        None => format!("no change: {tally}"),
    };
}

/// A lag check says what it read and what keeps the last full check's state.
pub fn lag_check(report: &mut Report, stored: &Stored, checks: &[Check], policy: &Policy) {
    let every = policy.monitoring.full_check_every.0;
    let carried = stored
        .states
        .checks
        .keys()
        .filter(|id| !checks.iter().any(|c| &c.id == *id))
        .count();
    let last = match stored.full_check_at {
        Some(t) => format!(
            "{}, next due {}",
            t.format("%H:%M UTC"),
            (t + every).format("%H:%M UTC")
        ),
        None => "never".into(),
    };
    report.finding(
        Severity::Info,
        None,
        format!(
            "lag check: {} checks read now (replication configuration and latency, replica lag, \
             backup ages); {carried} keep the state of the last full check ({last}; every {})",
            checks.len(),
            human(every)
        ),
    );
}

/// The custom metric every component's backup age feeds, as a percentage of its RPO, with the
/// `Function` dimension only: one metric whatever the number of components; its Maximum is the
/// worst backup age against RPO.
pub const AGE_OF_RPO: &str = "BackupAgeOfRpoPercent";

/// A component's values, from the evaluation's per-component measurements (the `Component`
/// dimension): BackupAgeSeconds, RpoSeconds, VerifiedBackupAgeSeconds, by component.
pub fn component_values(measurements: &[Measurement]) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for m in measurements {
        if let Some(c) = m.dimensions.get("Component") {
            out.entry(c.clone())
                .or_default()
                .insert(m.name.clone(), m.value);
        }
    }
    out
}

/// Components whose newest backup is older than their RPO.
pub fn over_rpo(values: &BTreeMap<String, BTreeMap<String, f64>>) -> usize {
    values
        .values()
        .filter(|v| match (v.get("BackupAgeSeconds"), v.get("RpoSeconds")) {
            (Some(age), Some(rpo)) => age > rpo,
            _ => false,
        })
        .count()
}

/// The per-component log lines: one JSON line per component whose values are EMF *properties*
/// (root members no metric directive names: CloudWatch Logs keeps them, queryable with Logs
/// Insights, and makes no metric of them) — `Component`, `BackupAgeSeconds`, `RpoSeconds`,
/// `VerifiedBackupAgeSeconds` — and, where the backup age is known, the one metric
/// [`AGE_OF_RPO`] (dimension `Function`). A component without a known backup age is a plain
/// JSON line (no metric directive: EMF requires every metric it names to be present).
pub fn component_lines(
    function: &str,
    at: chrono::DateTime<chrono::Utc>,
    values: &BTreeMap<String, BTreeMap<String, f64>>,
) -> Vec<String> {
    use serde_json::{json, Map, Value};
    values
        .iter()
        .map(|(component, v)| {
            let mut root = Map::new();
            root.insert("Function".into(), Value::from(function));
            root.insert("Component".into(), Value::from(component.as_str()));
            for (name, x) in v {
                root.insert(name.clone(), json!(x));
            }
            if let (Some(age), Some(rpo)) = (v.get("BackupAgeSeconds"), v.get("RpoSeconds")) {
                if *rpo > 0.0 {
                    root.insert(AGE_OF_RPO.into(), json!((100.0 * age / rpo).round()));
                    root.insert(
                        "_aws".into(),
                        json!({
                            "Timestamp": at.timestamp_millis(),
                            "CloudWatchMetrics": [{
                                "Namespace": lifeboat_shared::metrics::NAMESPACE,
                                "Dimensions": [["Function"]],
                                "Metrics": [{"Name": AGE_OF_RPO, "Unit": "Percent"}],
                            }]
                        }),
                    );
                }
            }
            Value::Object(root).to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, value: f64, component: &str) -> Measurement {
        Measurement {
            name: name.into(),
            value,
            unit: "Seconds".into(),
            dimensions: [("Component".to_string(), component.to_string())]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn per_component_values_are_properties_of_one_metric_for_all() {
        // Given orders-db 2 h old against RPO 1 h, catalog 30 min against 1 h, sessions unknown
        let ms = vec![
            m("BackupAgeSeconds", 7200.0, "orders-db"),
            m("RpoSeconds", 3600.0, "orders-db"),
            m("VerifiedBackupAgeSeconds", 86400.0, "orders-db"),
            m("BackupAgeSeconds", 1800.0, "catalog"),
            m("RpoSeconds", 3600.0, "catalog"),
            m("RpoSeconds", 7200.0, "sessions"),
        ];
        let values = component_values(&ms);
        // Then one is over its RPO
        assert_eq!(over_rpo(&values), 1);
        let at = chrono::DateTime::from_timestamp(1_795_219_200, 0).unwrap();
        let lines: Vec<serde_json::Value> = component_lines("replication-lag-check", at, &values)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        // and each line carries its values as properties, the age against RPO as the metric
        // whose only dimension is Function (one custom metric for every component)
        let orders = lines
            .iter()
            .find(|l| l["Component"] == "orders-db")
            .unwrap();
        assert_eq!(orders["BackupAgeSeconds"], 7200.0);
        assert_eq!(orders["RpoSeconds"], 3600.0);
        assert_eq!(orders["VerifiedBackupAgeSeconds"], 86400.0);
        assert_eq!(orders[AGE_OF_RPO], 200.0);
        let cw = &orders["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Dimensions"], serde_json::json!([["Function"]]));
        assert_eq!(
            cw["Metrics"],
            serde_json::json!([{"Name": AGE_OF_RPO, "Unit": "Percent"}])
        );
        // and a component without a known age is a plain line: no metric directive
        let sessions = lines.iter().find(|l| l["Component"] == "sessions").unwrap();
        assert!(sessions.get("_aws").is_none());
        assert_eq!(sessions["RpoSeconds"], 7200.0);
    }
}
