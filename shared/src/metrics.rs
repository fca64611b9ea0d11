//! CloudWatch Embedded Metric Format: one JSON line on stdout per report, which the Lambda
//! log pipeline turns into metrics in the `Lifeboat` namespace.

use serde_json::{json, Map, Value};

use crate::report::Report;

pub const NAMESPACE: &str = "Lifeboat";

/// The EMF lines for a report: run-level metrics with dimension `Function`, and each measurement
/// with `Function` plus its own dimensions.
pub fn emf_lines(report: &Report) -> Vec<String> {
    let ts = report.finished_at.timestamp_millis();
    let failed = report
        .actions
        .iter()
        .filter(|a| a.outcome == crate::report::Outcome::Failed)
        .count();
    let mut lines = vec![line(
        ts,
        &report.function,
        &[],
        &[
            ("RunStatus", report.status.level() as f64, "None"),
            ("ActionsFailed", failed as f64, "Count"),
            (
                "RunDuration",
                (report.finished_at - report.started_at).num_milliseconds() as f64,
                "Milliseconds",
            ),
        ],
    )];
    for m in &report.measurements {
        let dims: Vec<(&str, &str)> = m
            .dimensions
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        lines.push(line(
            ts,
            &report.function,
            &dims,
            &[(m.name.as_str(), m.value, m.unit.as_str())],
        ));
    }
    lines
}

fn line(ts: i64, function: &str, dims: &[(&str, &str)], metrics: &[(&str, f64, &str)]) -> String {
    let mut root = Map::new();
    let mut dim_names = vec![Value::from("Function")];
    root.insert("Function".into(), Value::from(function));
    for (k, v) in dims {
        dim_names.push(Value::from(*k));
        root.insert((*k).into(), Value::from(*v));
    }
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
        .collect();
    for (name, value, _) in metrics {
        root.insert((*name).into(), json!(value));
    }
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": ts,
            "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dim_names], "Metrics": defs}]
        }),
    );
    Value::Object(root).to_string()
}

/// Writes the report's EMF lines to stdout.
pub fn emit(report: &Report) {
    for l in emf_lines(report) {
        println!("{l}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn emf_line_declares_every_metric_it_carries() {
        let mut r = Report::new(
            "snapshot-export",
            "r1",
            "us-east-1",
            "manual".into(),
            false,
            Utc::now(),
        );
        r.measure("SnapshotsCreated", 3.0, "Count");
        r.measurements[0]
            .dimensions
            .insert("Component".into(), "orders-db".into());
        r.finish(r.started_at);
        let lines = emf_lines(&r);
        assert_eq!(lines.len(), 2);
        let v: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(v["SnapshotsCreated"], 3.0);
        assert_eq!(v["Component"], "orders-db");
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "Lifeboat");
        assert_eq!(cw["Dimensions"][0], json!(["Function", "Component"]));
        assert_eq!(
            cw["Metrics"][0],
            json!({"Name": "SnapshotsCreated", "Unit": "Count"})
        );
        let run: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(run["RunStatus"], 0.0);
    }
}
