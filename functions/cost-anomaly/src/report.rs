//! Pure: the report from what a run evaluated — anomalies first (with their contributors),
//! then the breakdown by component and by storage class, the month-end forecast, the savings,
//! the reconciliation with Cost Explorer, and what was read; EMF `BackupCostDaily` per
//! component and per storage class.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use lifeboat_shared::alerts::Change;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::{Measurement, Report, Section, Severity};

use crate::execute::Recorded;
use crate::inventory::Calls;
use crate::plan::anomalies::{CostCheck, CostLevel, Judged};
use crate::plan::forecast::Forecast;
use crate::plan::model::days_in_month;
use crate::plan::reconcile::Reconciled;
use crate::plan::savings::Saving;
use crate::plan::{usd, Basis, Day, Line, Scope};

/// Everything a run evaluated.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    pub day: Option<NaiveDate>,
    /// The day's record as stored (judged); `None`: no record of a past day.
    pub today: Option<Day>,
    /// `only`: the components shown (empty: all).
    pub only: Vec<String>,
    pub judged: Judged,
    /// Alert changes since the last run (sentences, worst first).
    pub changes: Vec<String>,
    pub savings: Vec<Saving>,
    pub saving_notes: Vec<String>,
    pub forecasts: Vec<Forecast>,
    /// `None`: Cost Explorer not enabled; `Some(Err)`: it could not be read.
    pub reconciled: Option<Result<Reconciled, String>>,
    pub recorded: Option<Recorded>,
    pub sources: Vec<String>,
    pub notes: Vec<String>,
    pub calls: Calls,
    pub history_days: usize,
    pub backfilled: usize,
    /// A past day re-evaluated from history.
    pub past: bool,
}

impl Evaluation {
    fn shown(&self, component: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|o| o == component)
    }
}

fn severity(l: CostLevel) -> Severity {
    match l {
        CostLevel::Critical => Severity::Critical,
        CostLevel::Warning | CostLevel::NoData => Severity::Warning,
        CostLevel::Ok => Severity::Info,
    }
}

fn check_shown(e: &Evaluation, c: &CostCheck) -> bool {
    match c.key.split_once(':') {
        Some((_, "total")) => true,
        Some((_, comp)) => e.shown(comp),
        None => true,
    }
}

/// The report of a run into `report` (already started by the invocation).
pub fn build(policy: &Policy, e: &Evaluation, mut report: Report) -> Report {
    let day = e.day.map(|d| d.to_string()).unwrap_or_default();
    let anomalies: Vec<&CostCheck> = e
        .judged
        .anomalies()
        .into_iter()
        .filter(|c| check_shown(e, c))
        .collect();
    let no_data: Vec<&CostCheck> = e
        .judged
        .checks
        .iter()
        .filter(|c| c.state == CostLevel::NoData && check_shown(e, c))
        .collect();
    // Headline.
    let total = e.today.as_ref().map(|d| d.figure(&Scope::Total));
    report.headline = match (&e.today, total) {
        (None, _) => format!("no cost recorded for {day}"),
        (Some(d), Some(Some(v))) => format!(
            "backups cost {} on {day} (≈ {}/month){}",
            usd(v),
            usd(v * days_in_month(d.date) as f64),
            match anomalies.len() {
                0 => String::new(),
                1 => format!("; anomaly: {}", anomalies[0].title),
                n => format!("; {n} anomalies, first: {}", anomalies[0].title),
            }
        ),
        (Some(d), _) => format!(
            "backups cost at least {} on {day}: no data for {} source(s){}",
            usd(d.partial(&Scope::Total)),
            d.gaps.len(),
            if anomalies.is_empty() {
                String::new()
            } else {
                format!("; {} anomalies", anomalies.len())
            }
        ),
    };
    // Findings: anomalies and no data (they set the status).
    for c in &anomalies {
        report.finding(severity(c.state), Some(&c.title), c.detail.clone());
    }
    for c in &no_data {
        report.finding(Severity::Warning, Some(&c.title), c.detail.clone());
    }
    // ANOMALIES, with contributors.
    let mut lines = Vec::new();
    if !e.changes.is_empty() {
        lines.push("changed since the last run:".to_string());
        for s in &e.changes {
            lines.push(format!("  {s}"));
        }
    }
    for c in &anomalies {
        lines.push(format!("[{}] {}: {}", c.state, c.title, c.detail));
        for (i, k) in c.contributors.iter().enumerate() {
            lines.push(format!("    {}. {}", i + 1, k.sentence()));
        }
    }
    if lines.is_empty() {
        lines.push(format!(
            "none on {day} ({} checks judged{})",
            e.judged.checks.len(),
            if e.judged.notes.is_empty() {
                String::new()
            } else {
                format!("; {} not judged, see NOTES", e.judged.notes.len())
            }
        ));
    }
    report.sections.push(Section {
        title: "ANOMALIES".into(),
        lines,
    });
    if let Some(d) = &e.today {
        report.sections.push(breakdown(e, d));
        report.sections.push(by_class(e, d));
    }
    if !e.forecasts.is_empty() {
        let with: Vec<String> = e
            .forecasts
            .iter()
            .filter(|f| f.month_end.is_some())
            .map(|f| f.sentence())
            .collect();
        let without = e.forecasts.len() - with.len();
        let mut lines = with;
        if without > 0 {
            lines.push(format!(
                "{without} without a forecast: fewer than {} days with data (e.g. {})",
                crate::plan::forecast::MIN_DAYS,
                e.forecasts
                    .iter()
                    .find(|f| f.month_end.is_none())
                    .map(|f| f.sentence())
                    .unwrap_or_default()
            ));
        }
        report.sections.push(Section {
            title: "MONTH-END FORECAST (the month so far plus the 14-day trend)".into(),
            lines,
        });
    }
    let mut lines = Vec::new();
    if e.past {
        lines.push("a past day re-evaluated from history: savings are read from the account as it is now — run without date".into());
    }
    let total_saving: f64 = e
        .savings
        .iter()
        .filter(|s| s.alternative_to.is_none())
        .map(|s| s.monthly_usd)
        .sum();
    if !e.savings.is_empty() {
        lines.push(format!(
            "{} recommendation(s), {} a month in all (alternatives counted once); nothing was changed",
            e.savings.len(),
            usd(total_saving)
        ));
    }
    for (i, s) in e.savings.iter().enumerate() {
        lines.push(format!(
            "{}. {}/month: {}",
            i + 1,
            usd(s.monthly_usd),
            s.title
        ));
        if let Some(a) = &s.alternative_to {
            lines.push(format!("   (an alternative to: {a})"));
        }
        lines.push(format!("   evidence: {}", s.evidence));
        for (j, c) in s.change.lines().enumerate() {
            lines.push(format!(
                "   {} {c}",
                if j == 0 { "change:" } else { "       " }
            ));
        }
    }
    for n in &e.saving_notes {
        lines.push(format!("note: {n}"));
    }
    if e.savings.is_empty() && !e.past {
        lines.push(format!(
            "none above {}/month",
            usd(policy.cost.savings.min_monthly_usd)
        ));
    }
    report.sections.push(Section {
        title: "SAVINGS".into(),
        lines,
    });
    report.sections.push(Section {
        title: "COST EXPLORER".into(),
        lines: match &e.reconciled {
            None => vec!["not enabled (cost.cost_explorer.enabled): the figures above are the model's, from the bytes AWS reports".into()],
            Some(Err(err)) => vec![format!("could not be read: {err}; the model's figures stand alone")],
            Some(Ok(r)) => {
                let mut l = vec![format!(
                    "actual backup cost {} on {day} (by usage type; S3 only for buckets carrying the tag {})",
                    usd(r.actual_total),
                    policy.cost.cost_explorer.tag_key
                )];
                l.extend(r.by_class.iter().map(|x| format!("class {}", x.sentence())));
                l.extend(
                    r.by_component
                        .iter()
                        .filter(|x| e.shown(&x.what))
                        .map(|x| format!("component {}", x.sentence())),
                );
                if !r.unmapped.is_empty() {
                    let other: f64 = r.unmapped.values().sum();
                    l.push(format!(
                        "not compared: {} of other usage types ({} types, e.g. {})",
                        usd(other),
                        r.unmapped.len(),
                        r.unmapped.keys().next().cloned().unwrap_or_default()
                    ));
                }
                l
            }
        },
    });
    let mut notes = Vec::new();
    if let Some(r) = &e.recorded {
        notes.push(r.sentence(e.day.unwrap_or_default()));
    }
    notes.push(format!(
        "history: {} stored day(s) read{}",
        e.history_days,
        if e.backfilled > 0 {
            format!(", {} backfilled from Cost Explorer", e.backfilled)
        } else {
            String::new()
        }
    ));
    notes.extend(e.judged.notes.iter().cloned());
    notes.extend(e.sources.iter().cloned());
    notes.extend(e.notes.iter().cloned());
    notes.push(format!(
        "prices: AWS list prices of {}{}; RDS snapshot figures are estimates from allocated storage",
        policy.prices.taken(),
        if policy.prices.overridden() {
            " with the policy's overrides"
        } else {
            " (us-east-1 list prices apply to every region unless prices.regions says otherwise)"
        }
    ));
    notes.push(format!(
        "this run: {} metrics in {} GetMetricData call(s), {} S3 LIST and {} GET requests, {} Cost Explorer request(s): {} at list price",
        e.calls.metrics,
        e.calls.get_metric_data,
        e.calls.s3_list,
        e.calls.s3_get,
        e.calls.cost_explorer,
        usd(e.calls.usd())
    ));
    report.sections.push(Section {
        title: "NOTES".into(),
        lines: notes,
    });
    // Measurements: the day's own run only (a past day or a dry run would put a day's cost on
    // today's point of the dashboard). A day's figure is stamped when its run ends, the morning after.
    let measured = !e.past && !report.dry_run;
    if let Some(d) = e.today.as_ref().filter(|_| measured) {
        if let Some(v) = d.figure(&Scope::Total) {
            report.measure("BackupCostDaily", v, "None");
        }
        if policy.cost.per_component_metrics {
            for c in d.components() {
                if let Some(v) = d.figure(&Scope::Component(c.clone())) {
                    push(&mut report, "BackupCostDaily", v, &[("Component", &c)]);
                }
            }
        }
        let mut classes: BTreeMap<String, f64> = BTreeMap::new();
        for l in &d.lines {
            *classes.entry(l.key.class.name().to_string()).or_default() += l.usd_day;
        }
        if d.gaps.is_empty() {
            for (c, v) in classes {
                push(&mut report, "BackupCostDaily", v, &[("StorageClass", &c)]);
            }
        }
        report.measure(
            "ComponentsWithoutData",
            no_data_components(d) as f64,
            "Count",
        );
    }
    report.measure("CostAnomalies", anomalies.len() as f64, "Count");
    report.measure("SavingsMonthly", total_saving, "None");
    report.measure("RunCostUsd", e.calls.usd(), "None");
    report
}

fn push(report: &mut Report, name: &str, v: f64, dims: &[(&str, &str)]) {
    report.measurements.push(Measurement {
        name: name.into(),
        value: v,
        unit: "None".into(),
        dimensions: dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    });
}

fn no_data_components(d: &Day) -> usize {
    d.components()
        .iter()
        .filter(|c| d.figure(&Scope::Component((*c).clone())).is_none())
        .count()
}

fn basis(b: Basis) -> &'static str {
    match b {
        Basis::Billed => "billed",
        Basis::Measured => "measured",
        Basis::Estimate => "estimate",
        Basis::CostExplorer => "Cost Explorer",
    }
}

/// Lines per component in the email (all in the JSON).
const LINES_PER_COMPONENT: usize = 12;

fn breakdown(e: &Evaluation, d: &Day) -> Section {
    let mut by: BTreeMap<&str, Vec<&Line>> = BTreeMap::new();
    for l in &d.lines {
        by.entry(&l.key.component).or_default().push(l);
    }
    for c in d.components() {
        if !by.keys().any(|k| *k == c) {
            by.insert(
                d.gaps
                    .iter()
                    .find(|g| g.component == c)
                    .map(|g| g.component.as_str())
                    .unwrap_or("?"),
                Vec::new(),
            );
        }
    }
    let days = days_in_month(d.date) as f64;
    let mut rows: Vec<(f64, String, Vec<String>)> = Vec::new();
    for (component, mut lines) in by {
        if !e.shown(component) {
            continue;
        }
        let figure = d.figure(&Scope::Component(component.to_string()));
        let head = match figure {
            Some(v) => format!("{component}: {}/day ({}/month)", usd(v), usd(v * days)),
            None => format!(
                "{component}: NO DATA (at least {}/day from the sources read): {}",
                usd(d.partial(&Scope::Component(component.to_string()))),
                d.gaps
                    .iter()
                    .filter(|g| g.component == component || g.component == "*")
                    .map(|g| format!("{}: {}", g.source, g.error))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        };
        lines.sort_by(|a, b| b.usd_day.total_cmp(&a.usd_day));
        // (lines under half a cent a day and a hundredth of a GB are in the JSON only)
        let tiny = lines
            .iter()
            .filter(|l| l.usd_day < 0.005 && l.gb < 0.01)
            .count();
        lines.retain(|l| !(l.usd_day < 0.005 && l.gb < 0.01));
        let mut body: Vec<String> = lines
            .iter()
            .take(LINES_PER_COMPONENT)
            .map(|l| {
                format!(
                    "  {:<40} {:<24} {:<10} {:>10.2} GB {:>10}/day  {}{}",
                    l.key.item.to_string(),
                    l.key.class.name(),
                    l.key.region,
                    l.gb,
                    usd(l.usd_day),
                    basis(l.basis),
                    if l.key.at.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", l.key.at)
                    }
                )
            })
            .collect();
        if lines.len() > LINES_PER_COMPONENT {
            body.push(format!(
                "  … and {} more lines (all in the JSON report)",
                lines.len() - LINES_PER_COMPONENT
            ));
        }
        if tiny > 0 {
            body.push(format!(
                "  ({tiny} line(s) under $0.005/day and 0.01 GB: in the JSON report)"
            ));
        }
        rows.push((figure.unwrap_or(f64::MAX), head, body));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut out = Vec::new();
    for (_, head, body) in rows {
        out.push(head);
        out.extend(body);
    }
    Section {
        title: format!(
            "COST ON {} BY COMPONENT (item, class, region, GB billed, USD a day, basis)",
            d.date
        ),
        lines: out,
    }
}

fn by_class(e: &Evaluation, d: &Day) -> Section {
    let mut classes: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    for l in d.lines.iter().filter(|l| e.shown(&l.key.component)) {
        let c = classes.entry(l.key.class.name()).or_default();
        c.0 += l.gb;
        c.1 += l.usd_day;
    }
    let mut rows: Vec<(&str, (f64, f64))> = classes.into_iter().collect();
    rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
    Section {
        title: "BY STORAGE CLASS".into(),
        lines: rows
            .into_iter()
            .map(|(c, (gb, v))| format!("{c:<24} {gb:>12.2} GB {:>10}/day", usd(v)))
            .collect(),
    }
}

/// Each component's figure as an EMF log line of properties (no metric: free to store and to
/// query with Logs Insights; `cost.per_component_metrics` makes them metrics too).
pub fn component_lines(e: &Evaluation, at: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let Some(d) = &e.today else {
        return Vec::new();
    };
    d.components()
        .into_iter()
        .map(|c| {
            let figure = d.figure(&Scope::Component(c.clone()));
            serde_json::json!({
                "Function": crate::FUNCTION,
                "Component": c,
                "Day": d.date.to_string(),
                "BackupCostDaily": figure,
                "NoData": figure.is_none(),
                "Timestamp": at.timestamp_millis(),
            })
            .to_string()
        })
        .collect()
}

/// The alert changes as sentences: every state that is not OK, and recoveries (a check first
/// seen OK — the baseline of a first run — is not news).
pub fn changes(c: &[Change<CostCheck>]) -> Vec<String> {
    c.iter()
        .filter(|c| c.check.state != CostLevel::Ok || c.was.is_some_and(|w| w != CostLevel::Ok))
        .map(|c| c.sentence())
        .collect()
}
