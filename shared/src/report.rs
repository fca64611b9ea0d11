//! One report type for every function: status, findings, actions with reasons, decisions and
//! measurements, rendered as a plain-text email (most important line first) and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Failed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
            Status::Failed => "FAILED",
        }
    }

    /// For the EMF `RunStatus` metric: 0 ok .. 3 failed.
    pub fn level(self) -> u8 {
        self as u8
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Dry run: would be done.
    Planned,
    Done,
    /// Found already done (a retried or duplicate trigger): nothing changed.
    AlreadyDone,
    /// Not done this run, with the reason (e.g. copy slots full); a later run picks it up.
    Deferred,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// What is done, e.g. `create-snapshot`, `copy-to-dr`, `start-export`, `delete-snapshot`.
    pub kind: String,
    /// The resource acted on (a DB, a snapshot).
    pub resource: String,
    /// What the action produces or touches (a snapshot id, an S3 URI), when not the resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub reason: String,
    pub outcome: Outcome,
    /// The AWS error code and message when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Action {
    pub fn new(kind: &str, resource: impl Into<String>, reason: impl Into<String>) -> Action {
        Action {
            kind: kind.to_string(),
            resource: resource.into(),
            target: None,
            reason: reason.into(),
            outcome: Outcome::Planned,
            error: None,
        }
    }

    pub fn target(mut self, t: impl Into<String>) -> Action {
        self.target = Some(t.into());
        self
    }
}

/// A keep/delete (or pass/fail) verdict on one subject with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub subject: String,
    pub verdict: Verdict,
    pub reason: String,
}

impl Decision {
    pub fn new(subject: impl Into<String>, verdict: Verdict, reason: impl Into<String>) -> Self {
        Decision {
            subject: subject.into(),
            verdict,
            reason: reason.into(),
        }
    }
}

/// What a decision concluded. Retention keeps or deletes; a check passes or fails. A `Fail`
/// makes the run at least critical when the report is finished: no function raises it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Verdict {
    #[serde(rename = "keep")]
    Keep,
    #[serde(rename = "delete")]
    Delete,
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    /// Could not be decided (a read failed): neither a pass nor a failure; at least a warning.
    #[serde(rename = "INCONCLUSIVE")]
    Inconclusive,
}

impl Verdict {
    /// The word in the email and the JSON report.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::Delete => "delete",
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    pub fn pass_fail(passed: bool) -> Verdict {
        if passed {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// `verdict == "PASS"`: the word in the email and the JSON.
impl PartialEq<&str> for Verdict {
    fn eq(&self, other: &&str) -> bool {
        self.label() == *other
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    pub name: String,
    pub value: f64,
    /// A CloudWatch unit: Count, Seconds, Milliseconds, Bytes, Percent, None.
    pub unit: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// A titled block of the email.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub title: String,
    pub lines: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub function: String,
    pub run_id: String,
    pub region: String,
    pub trigger: String,
    pub dry_run: bool,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub status: Status,
    /// Some actions failed and others did not.
    pub partial: bool,
    /// One line: what happened. The email subject carries it.
    pub headline: String,
    pub findings: Vec<Finding>,
    pub actions: Vec<Action>,
    pub decisions: Vec<Decision>,
    pub measurements: Vec<Measurement>,
    /// Function-specific structured results (e.g. the integrity sweep's seed-002 report).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
    /// Titled blocks of plain lines, printed in the email after the findings in this order (a
    /// cost breakdown table, a savings list).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Section>,
    /// Where the JSON copy is archived (set when archived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive_uri: Option<String>,
}

impl Report {
    pub fn new(
        function: &str,
        run_id: &str,
        region: &str,
        trigger: String,
        dry_run: bool,
        started_at: DateTime<Utc>,
    ) -> Report {
        Report {
            function: function.to_string(),
            run_id: run_id.to_string(),
            region: region.to_string(),
            trigger,
            dry_run,
            started_at,
            finished_at: started_at,
            status: Status::Ok,
            partial: false,
            headline: String::new(),
            findings: Vec::new(),
            actions: Vec::new(),
            decisions: Vec::new(),
            measurements: Vec::new(),
            details: serde_json::Value::Null,
            sections: Vec::new(),
            archive_uri: None,
        }
    }

    pub fn finding(
        &mut self,
        severity: Severity,
        resource: Option<&str>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            severity,
            resource: resource.map(str::to_string),
            message: message.into(),
        });
    }

    pub fn measure(&mut self, name: &str, value: f64, unit: &str) {
        self.measurements.push(Measurement {
            name: name.to_string(),
            value,
            unit: unit.to_string(),
            dimensions: BTreeMap::new(),
        });
    }

    pub fn count(&self, kind: &str, outcome: Outcome) -> usize {
        self.actions
            .iter()
            .filter(|a| a.kind == kind && a.outcome == outcome)
            .count()
    }

    /// How many decisions reached this verdict.
    pub fn verdicts(&self, verdict: Verdict) -> usize {
        self.decisions
            .iter()
            .filter(|d| d.verdict == verdict)
            .count()
    }

    /// Sets status and `partial` from findings, action outcomes and verdicts: a `FAIL` verdict
    /// makes the run at least critical even when no action failed.
    pub fn finish(&mut self, at: DateTime<Utc>) {
        self.finished_at = at;
        let failed = self
            .actions
            .iter()
            .filter(|a| a.outcome == Outcome::Failed)
            .count();
        let succeeded = self
            .actions
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Done | Outcome::AlreadyDone))
            .count();
        let worst_finding = self.findings.iter().map(|f| f.severity).max();
        self.partial = failed > 0 && succeeded > 0;
        self.status = if failed > 0 && succeeded == 0 {
            Status::Failed
        } else if failed > 0
            || worst_finding == Some(Severity::Critical)
            || self.verdicts(Verdict::Fail) > 0
        {
            Status::Critical
        } else if worst_finding == Some(Severity::Warning)
            || self.actions.iter().any(|a| a.outcome == Outcome::Deferred)
            || self.verdicts(Verdict::Inconclusive) > 0
        {
            Status::Warning
        } else {
            Status::Ok
        };
    }

    /// Email subject: status first, under 100 characters.
    pub fn subject(&self) -> String {
        let mut s = format!(
            "[Lifeboat {}] {}{}: {}{}",
            self.status.label(),
            self.function,
            if self.dry_run { " (dry run)" } else { "" },
            if self.partial { "PARTIAL - " } else { "" },
            self.headline
        );
        if s.chars().count() > 99 {
            s = s.chars().take(96).collect::<String>() + "...";
        }
        s
    }

    /// The plain-text email: status and failures first, then warnings, actions, decisions.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let failed: Vec<&Action> = self
            .actions
            .iter()
            .filter(|a| a.outcome == Outcome::Failed)
            .collect();
        let _ = writeln!(
            out,
            "{} - {}{}",
            self.status.label(),
            self.headline,
            if self.partial {
                format!(
                    " (partial: {} of {} actions failed)",
                    failed.len(),
                    self.actions.len()
                )
            } else {
                String::new()
            }
        );
        let _ = writeln!(
            out,
            "{} run {} in {}, started by {}{}",
            self.function,
            self.run_id,
            self.region,
            self.trigger,
            if self.dry_run {
                ". DRY RUN: nothing was changed."
            } else {
                "."
            }
        );
        if !failed.is_empty() {
            let _ = writeln!(out, "\nFAILED");
            for a in failed.iter().take(EMAIL_LINES_PER_SECTION) {
                let _ = writeln!(out, "  {}", line(a));
                if let Some(e) = &a.error {
                    let _ = writeln!(out, "      error: {e}");
                }
            }
            more(&mut out, failed.len(), EMAIL_LINES_PER_SECTION);
        }
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
        if !findings.is_empty() {
            let _ = writeln!(out, "\nFINDINGS");
            for f in findings {
                let label = match f.severity {
                    Severity::Critical => "CRITICAL",
                    Severity::Warning => "WARNING ",
                    Severity::Info => "info    ",
                };
                match &f.resource {
                    Some(r) => {
                        let _ = writeln!(out, "  {label} {r}: {}", f.message);
                    }
                    None => {
                        let _ = writeln!(out, "  {label} {}", f.message);
                    }
                }
            }
        }
        for section in &self.sections {
            let _ = writeln!(out, "\n{}", section.title);
            for l in &section.lines {
                let _ = writeln!(out, "  {l}");
            }
        }
        for (title, outcome) in [
            (
                if self.dry_run { "PLANNED" } else { "DONE" },
                if self.dry_run {
                    Outcome::Planned
                } else {
                    Outcome::Done
                },
            ),
            ("DEFERRED TO A LATER RUN", Outcome::Deferred),
            ("ALREADY DONE (nothing changed)", Outcome::AlreadyDone),
        ] {
            let group: Vec<&Action> = self
                .actions
                .iter()
                .filter(|a| a.outcome == outcome)
                .collect();
            if group.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title}");
            for a in group.iter().take(EMAIL_LINES_PER_SECTION) {
                let _ = writeln!(out, "  {}", line(a));
            }
            more(&mut out, group.len(), EMAIL_LINES_PER_SECTION);
        }
        if !self.decisions.is_empty() {
            let _ = writeln!(out, "\nDECISIONS");
            let mut by_verdict: BTreeMap<&str, Vec<&Decision>> = BTreeMap::new();
            for d in &self.decisions {
                by_verdict.entry(d.verdict.label()).or_default().push(d);
            }
            for (verdict, ds) in by_verdict {
                let _ = writeln!(out, "  {verdict}: {}", ds.len());
                for d in ds.iter().take(25) {
                    let _ = writeln!(out, "    {} - {}", d.subject, d.reason);
                }
                if ds.len() > 25 {
                    let _ = writeln!(
                        out,
                        "    ... and {} more (all in the JSON report)",
                        ds.len() - 25
                    );
                }
            }
        }
        if !self.measurements.is_empty() {
            let _ = writeln!(out, "\nMEASUREMENTS");
            for m in &self.measurements {
                let dims = if m.dimensions.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        m.dimensions
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let _ = writeln!(
                    out,
                    "  {}{dims}: {} {}",
                    m.name,
                    trim_float(m.value),
                    m.unit
                );
            }
        }
        let _ = writeln!(
            out,
            "\nStarted {} - finished {} ({:.1} s).",
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.finished_at.format("%H:%M:%S UTC"),
            (self.finished_at - self.started_at).num_milliseconds() as f64 / 1000.0
        );
        if let Some(uri) = &self.archive_uri {
            let _ = writeln!(out, "Full JSON report: {uri}");
        }
        if out.len() > EMAIL_MAX_BYTES {
            let mut cut = EMAIL_MAX_BYTES - 200;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            let _ = writeln!(
                out,
                "\n... (email cut at {} KB; the full report: {})",
                EMAIL_MAX_BYTES / 1000,
                self.archive_uri.as_deref().unwrap_or("the JSON report")
            );
        }
        out
    }
}

/// Lines an email lists per section; the JSON report has them all.
const EMAIL_LINES_PER_SECTION: usize = 50;
/// SNS refuses messages over 256 KB; the email stays well below whatever the report holds.
pub const EMAIL_MAX_BYTES: usize = 200_000;

fn more(out: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = writeln!(
            out,
            "  ... and {} more (all in the JSON report)",
            total - shown
        );
    }
}

fn line(a: &Action) -> String {
    let target = a
        .target
        .as_deref()
        .map(|t| format!(" -> {t}"))
        .unwrap_or_default();
    format!("{:<16} {}{}  ({})", a.kind, a.resource, target, a.reason)
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let t = DateTime::parse_from_rfc3339("2026-11-21T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut r = Report::new(
            "snapshot-export",
            "20261121T030000Z-abcd",
            "us-east-1",
            "schedule".into(),
            false,
            t,
        );
        r.headline = "2 snapshots created, 1 copy failed".into();
        r
    }

    #[test]
    fn given_one_failure_among_successes_when_finished_then_partial_and_critical() {
        let mut r = report();
        let mut ok = Action::new("create-snapshot", "db-a", "period has no snapshot");
        ok.outcome = Outcome::Done;
        let mut bad = Action::new("copy-to-dr", "snap-b", "no DR copy yet");
        bad.outcome = Outcome::Failed;
        bad.error = Some("KMSKeyNotAccessibleFault: key disabled".into());
        r.actions = vec![ok, bad];
        r.finish(r.started_at);
        assert_eq!((r.status, r.partial), (Status::Critical, true));
        let text = r.render_text();
        let first_lines: Vec<&str> = text.lines().take(5).collect();
        assert!(first_lines[0].starts_with("CRITICAL"), "{text}");
        assert!(
            text.find("FAILED").unwrap() < text.find("DONE").unwrap(),
            "failures come first:\n{text}"
        );
        assert!(text.contains("KMSKeyNotAccessibleFault"));
        assert!(r
            .subject()
            .starts_with("[Lifeboat CRITICAL] snapshot-export: PARTIAL"));
    }

    #[test]
    fn given_a_fail_verdict_and_no_failed_action_when_finished_then_critical() {
        let mut r = report();
        r.decisions
            .push(Decision::new("orders-db", Verdict::Fail, "rows missing"));
        r.decisions
            .push(Decision::new("catalog", Verdict::Pass, "all checks"));
        r.finish(r.started_at);
        assert_eq!(r.status, Status::Critical);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(
            json["decisions"][0]["verdict"], "FAIL",
            "the JSON keeps its words"
        );
    }

    #[test]
    fn all_failed_is_failed() {
        let mut r = report();
        let mut bad = Action::new("copy-to-dr", "snap-b", "x");
        bad.outcome = Outcome::Failed;
        r.actions = vec![bad];
        r.finish(r.started_at);
        assert_eq!((r.status, r.partial), (Status::Failed, false));
    }

    #[test]
    fn deferred_work_is_a_warning() {
        let mut r = report();
        let mut a = Action::new("copy-to-dr", "s", "5 copies in flight");
        a.outcome = Outcome::Deferred;
        r.actions = vec![a];
        r.finish(r.started_at);
        assert_eq!(r.status, Status::Warning);
    }

    #[test]
    fn subject_stays_under_100_characters() {
        let mut r = report();
        r.headline = "x".repeat(300);
        r.dry_run = true;
        assert!(r.subject().chars().count() < 100);
        assert!(r
            .subject()
            .starts_with("[Lifeboat OK] snapshot-export (dry run): "));
    }

    #[test]
    fn report_round_trips_as_json() {
        let mut r = report();
        r.measure("SnapshotsCreated", 2.0, "Count");
        let back: Report = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn a_huge_run_still_fits_in_an_sns_email() {
        let mut r = report();
        for i in 0..5000 {
            let mut a = Action::new(
                "delete-snapshot",
                format!("lifeboat-db-{i:05}"),
                "outside retention ".repeat(5),
            );
            a.outcome = if i % 100 == 0 {
                Outcome::Failed
            } else {
                Outcome::Done
            };
            a.error = (i % 100 == 0).then(|| "Throttling: Rate exceeded ".repeat(20));
            r.actions.push(a);
            r.decisions.push(Decision::new(
                format!("lifeboat-db-{i:05}"),
                Verdict::Delete,
                "x".repeat(200),
            ));
        }
        r.archive_uri = Some("s3://reports/r.json".into());
        r.finish(r.started_at);
        let text = r.render_text();
        assert!(text.len() <= EMAIL_MAX_BYTES, "{} bytes", text.len());
        assert!(
            text.contains("... and 4900 more (all in the JSON report)"),
            "the email says what it left out"
        );
        assert!(text.starts_with("CRITICAL"));
    }
}
