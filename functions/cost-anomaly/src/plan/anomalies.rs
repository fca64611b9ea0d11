//! Anomalies: the seed's cost alarms as policy rules (absolute limits per day and per month,
//! growth over a period against the period before, a day above a percentage of the average of
//! the days before) and a robust baseline (median and MAD of the days before, same weekdays
//! when there are enough), over the stored days. Every rule judges the whole backup cost and
//! each component; each finding names its contributors ranked by dollar impact, and states its
//! period and threshold. A rule without enough history says so and judges nothing. A day or a
//! component without data (a source that could not be read) is never judged as a fall.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Datelike, Duration, NaiveDate};
use lifeboat_shared::alerts::{Check, Level};
use lifeboat_shared::policy::cost::{Anomalies, Per};
use serde::{Deserialize, Serialize};

use super::forecast::forecast;
use super::{usd, usd_signed, Day, Key, Scope};

/// A cost check's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CostLevel {
    Ok,
    NoData,
    Warning,
    Critical,
}

impl Level for CostLevel {
    const OK: Self = CostLevel::Ok;
    const NO_DATA: Self = CostLevel::NoData;
}

impl fmt::Display for CostLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CostLevel::Ok => "OK",
            CostLevel::NoData => "NO DATA",
            CostLevel::Warning => "WARNING",
            CostLevel::Critical => "CRITICAL",
        })
    }
}

/// A line whose cost moved, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contributor {
    pub key: Key,
    /// USD a day against the reference (for a limit: the line's cost).
    pub delta: f64,
    pub detail: String,
}

impl Contributor {
    pub fn sentence(&self) -> String {
        let mut s = format!("{} {}/day", self.key, usd_signed(self.delta));
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

/// One rule judged for one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CostCheck {
    /// Stable across runs: rule and scope (`growth-7d:orders-db`).
    pub key: String,
    pub title: String,
    pub state: CostLevel,
    pub detail: String,
    pub contributors: Vec<Contributor>,
}

impl Check for CostCheck {
    type State = CostLevel;
    fn key(&self) -> &str {
        &self.key
    }
    fn state(&self) -> CostLevel {
        self.state
    }
    fn title(&self) -> String {
        self.title.clone()
    }
    fn detail(&self) -> &str {
        &self.detail
    }
}

/// Everything judged on a day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Judged {
    pub checks: Vec<CostCheck>,
    /// Rules not judged, and why (too little history).
    pub notes: Vec<String>,
}

impl Judged {
    /// A rule's verdict for `scope`: its check, or the note saying why it was not judged.
    fn take(&mut self, scope: &Scope, r: Result<CostCheck, String>) {
        match r {
            Ok(c) => self.checks.push(c),
            Err(note) => note_once(&mut self.notes, scope, note),
        }
    }

    /// The checks not OK, worst first.
    pub fn anomalies(&self) -> Vec<&CostCheck> {
        let mut a: Vec<&CostCheck> = self
            .checks
            .iter()
            .filter(|c| c.state > CostLevel::NoData)
            .collect();
        a.sort_by(|x, y| y.state.cmp(&x.state).then(x.key.cmp(&y.key)));
        a
    }
}

/// Contributors listed per finding.
pub const TOP: usize = 5;

/// Judges `date` against the days before it. `days` holds the stored days (and `date`'s).
pub fn judge(rules: &Anomalies, days: &BTreeMap<NaiveDate, Day>, date: NaiveDate) -> Judged {
    let mut j = Judged::default();
    let Some(today) = days.get(&date) else {
        j.notes.push(format!("no cost recorded for {date}"));
        return j;
    };
    let mut scopes = vec![Scope::Total];
    scopes.extend(today.components().into_iter().map(Scope::Component));
    // A scope without data is one NO DATA check; its rules are not judged (they keep their
    // stored states: a source that could not be read is never a fall, nor a recovery).
    let mut judged: Vec<Scope> = Vec::new();
    for scope in &scopes {
        if today.figure(scope).is_some() {
            judged.push(scope.clone());
        } else {
            let title = match scope {
                Scope::Total => "backup cost".to_string(),
                Scope::Component(c) => format!("{c} cost"),
            };
            j.checks
                .push(no_data(key_of("data", scope), title, today, scope));
        }
    }
    let has = |scope: &Scope| judged.contains(scope);
    for l in &rules.limits {
        let scope = Scope::of(&l.component);
        if has(&scope) {
            j.checks
                .push(limit(l.usd, l.per, &scope, days, today, date));
        }
    }
    let min = rules.baseline.min_change_usd;
    for g in &rules.growth {
        let p = g.period.0.num_days();
        for scope in scoped(&g.component, &judged) {
            let r = growth(g.percent, p, &scope, days, date, min);
            j.take(&scope, r);
        }
    }
    for a in &rules.above_average {
        let p = a.period.0.num_days();
        for scope in scoped(&a.component, &judged) {
            let r = above_average(a.percent, p, &scope, days, date, min);
            j.take(&scope, r);
        }
    }
    for scope in &judged {
        let r = baseline(rules, scope, days, date);
        j.take(scope, r);
    }
    j
}

/// Component notes are many and alike: the total's are said, a component's only if it differs.
fn note_once(notes: &mut Vec<String>, scope: &Scope, note: String) {
    let generic = note
        .split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default();
    if matches!(scope, Scope::Component(_))
        && notes
            .iter()
            .any(|n| n.ends_with(&generic) && !generic.is_empty())
    {
        return;
    }
    notes.push(note);
}

fn scoped(component: &Option<String>, judged: &[Scope]) -> Vec<Scope> {
    match component {
        Some(c) => judged
            .iter()
            .filter(|s| **s == Scope::Component(c.clone()))
            .cloned()
            .collect(),
        None => judged.to_vec(),
    }
}

fn key_of(rule: &str, scope: &Scope) -> String {
    match scope {
        Scope::Total => format!("{rule}:total"),
        Scope::Component(c) => format!("{rule}:{c}"),
    }
}

fn no_data(key: String, title: String, today: &Day, scope: &Scope) -> CostCheck {
    let why: Vec<String> = today
        .gaps
        .iter()
        .filter(|g| g.component == "*" || scope.covers(&g.component))
        .map(|g| format!("{} ({}): {}", g.component, g.source, g.error))
        .collect();
    CostCheck {
        key,
        title,
        state: CostLevel::NoData,
        detail: format!(
            "no data ({} known from the sources read): {}",
            usd(today.partial(scope)),
            why.join("; ")
        ),
        contributors: Vec::new(),
    }
}

fn limit(
    limit: f64,
    per: Per,
    scope: &Scope,
    days: &BTreeMap<NaiveDate, Day>,
    today: &Day,
    date: NaiveDate,
) -> CostCheck {
    let (rule, title) = match per {
        Per::Day => (
            format!("limit-day-{limit}"),
            format!("{} daily limit {}/day", scope.name(), usd(limit)),
        ),
        Per::Month => (
            format!("limit-month-{limit}"),
            format!("{} monthly limit {}/month", scope.name(), usd(limit)),
        ),
    };
    let key = key_of(&rule, scope);
    let Some(value) = today.figure(scope) else {
        return no_data(key, title, today, scope);
    };
    let top = largest(today, scope);
    match per {
        Per::Day => {
            let over = value > limit;
            CostCheck {
                key,
                title,
                state: if over {
                    CostLevel::Warning
                } else {
                    CostLevel::Ok
                },
                detail: format!(
                    "{} on {date} {} the limit {}/day (seed 003: daily cost > $25)",
                    usd(value),
                    if over { "is above" } else { "is within" },
                    usd(limit)
                ),
                contributors: if over { top } else { Vec::new() },
            }
        }
        Per::Month => {
            let f = forecast(days, scope, date);
            let (state, detail) = if f.month_to_date > limit {
                (
                    CostLevel::Critical,
                    format!(
                        "{} this month to {date} is above the limit {}/month",
                        usd(f.month_to_date),
                        usd(limit)
                    ),
                )
            } else if let Some(end) = f.month_end.filter(|e| *e > limit) {
                (
                    CostLevel::Warning,
                    format!(
                        "forecast {} (± {}) by month end is above the limit {}/month; {} so far",
                        usd(end),
                        usd(f.plus_minus),
                        usd(limit),
                        usd(f.month_to_date)
                    ),
                )
            } else {
                (
                    CostLevel::Ok,
                    format!(
                        "{} so far this month; {} against the limit {}/month",
                        usd(f.month_to_date),
                        f.month_end
                            .map(|e| format!("forecast {} (± {})", usd(e), usd(f.plus_minus)))
                            .unwrap_or_else(|| "no forecast yet".into()),
                        usd(limit)
                    ),
                )
            };
            CostCheck {
                key,
                title,
                contributors: if state > CostLevel::NoData {
                    top
                } else {
                    Vec::new()
                },
                state,
                detail,
            }
        }
    }
}

/// The scope's lines by cost, largest first (a limit's contributors).
fn largest(today: &Day, scope: &Scope) -> Vec<Contributor> {
    let mut lines: Vec<_> = today
        .lines
        .iter()
        .filter(|l| scope.covers(&l.key.component) && l.usd_day > 0.0)
        .collect();
    lines.sort_by(|a, b| b.usd_day.total_cmp(&a.usd_day).then(a.key.cmp(&b.key)));
    lines
        .into_iter()
        .take(TOP)
        .map(|l| Contributor {
            key: l.key.clone(),
            delta: l.usd_day,
            detail: format!(
                "{:.1} GB billed{}",
                l.gb,
                if l.count > 0 && !l.key.item.unit().is_empty() {
                    format!(", {} {}", l.count, l.key.item.unit())
                } else {
                    String::new()
                }
            ),
        })
        .collect()
}

/// The figures of `scope` on the `n` days ending `end` (inclusive), or the first day without.
fn window(
    days: &BTreeMap<NaiveDate, Day>,
    scope: &Scope,
    end: NaiveDate,
    n: i64,
) -> Result<Vec<(NaiveDate, f64)>, usize> {
    let mut out = Vec::new();
    for back in 0..n {
        let d = end - Duration::days(back);
        match days.get(&d).and_then(|day| day.figure(scope)) {
            Some(v) => out.push((d, v)),
            None => return Err(out.len()),
        }
    }
    Ok(out)
}

/// How many days before `date` (back to `n`) have data, for a "too little history" note.
fn with_data(days: &BTreeMap<NaiveDate, Day>, scope: &Scope, date: NaiveDate, n: i64) -> usize {
    (1..=n)
        .filter(|b| {
            days.get(&(date - Duration::days(*b)))
                .and_then(|d| d.figure(scope))
                .is_some()
        })
        .count()
}

fn growth(
    percent: f64,
    p: i64,
    scope: &Scope,
    days: &BTreeMap<NaiveDate, Day>,
    date: NaiveDate,
    min_change: f64,
) -> Result<CostCheck, String> {
    let rule = format!("growth-{p}d");
    let title = format!("{} {}-day growth above {percent}%", scope.name(), p);
    let key = key_of(&rule, scope);
    let today = &days[&date];
    if today.figure(scope).is_none() {
        return Ok(no_data(key, title, today, scope));
    }
    let too_little = |have: usize| {
        format!(
            "{}: {rule} (the last {p} days against the {p} before) needs {} days with data, has {have}",
            scope.name(),
            2 * p,
        )
    };
    let now = window(days, scope, date, p)
        .map_err(|_| too_little(with_data(days, scope, date, 2 * p - 1) + 1))?;
    let before = window(days, scope, date - Duration::days(p), p)
        .map_err(|_| too_little(with_data(days, scope, date, 2 * p - 1) + 1))?;
    let sum_now: f64 = now.iter().map(|x| x.1).sum();
    let sum_before: f64 = before.iter().map(|x| x.1).sum();
    let change = if sum_before > 0.0 {
        (sum_now - sum_before) / sum_before * 100.0
    } else if sum_now > 0.0 {
        f64::INFINITY
    } else {
        0.0
    };
    let per_day = (sum_now - sum_before) / p as f64;
    let fired = change > percent && per_day > min_change;
    let start = date - Duration::days(p - 1);
    Ok(CostCheck {
        key,
        title,
        state: if fired { CostLevel::Warning } else { CostLevel::Ok },
        detail: format!(
            "{} over {start}..{date} against {} over the {p} days before: {}, {}/day (threshold {percent}%, seed 003: > 20% week over week)",
            usd(sum_now),
            usd(sum_before),
            if change.is_finite() { format!("{change:+.1}%") } else { "new".into() },
            usd_signed(per_day),
        ),
        contributors: if fired {
            contributors(days, scope, &dates(date, p), &dates(date - Duration::days(p), p))
        } else {
            Vec::new()
        },
    })
}

fn dates(end: NaiveDate, n: i64) -> Vec<NaiveDate> {
    (0..n).map(|b| end - Duration::days(b)).collect()
}

fn above_average(
    percent: f64,
    p: i64,
    scope: &Scope,
    days: &BTreeMap<NaiveDate, Day>,
    date: NaiveDate,
    min_change: f64,
) -> Result<CostCheck, String> {
    let rule = format!("above-average-{p}d");
    let title = format!("{} above {percent}% of the {p}-day average", scope.name());
    let key = key_of(&rule, scope);
    let today = &days[&date];
    let Some(value) = today.figure(scope) else {
        return Ok(no_data(key, title, today, scope));
    };
    let before = window(days, scope, date - Duration::days(1), p).map_err(|_| {
        format!(
            "{}: {rule} needs the {p} days before {date} with data, has {}",
            scope.name(),
            with_data(days, scope, date, p)
        )
    })?;
    let avg = before.iter().map(|x| x.1).sum::<f64>() / p as f64;
    let limit = avg * percent / 100.0;
    let fired = value > limit && value - avg > min_change;
    Ok(CostCheck {
        key,
        title,
        state: if fired { CostLevel::Warning } else { CostLevel::Ok },
        detail: format!(
            "{} on {date} against the average {} of the {p} days before ({}% = {}; seed 003: > 120% of the 7-day average)",
            usd(value),
            usd(avg),
            percent,
            usd(limit)
        ),
        contributors: if fired {
            contributors(days, scope, &[date], &dates(date - Duration::days(1), p))
        } else {
            Vec::new()
        },
    })
}

/// 1.4826 × MAD estimates the standard deviation of normally distributed data.
const MAD_SCALE: f64 = 1.4826;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn baseline(
    rules: &Anomalies,
    scope: &Scope,
    days: &BTreeMap<NaiveDate, Day>,
    date: NaiveDate,
) -> Result<CostCheck, String> {
    let b = &rules.baseline;
    let key = key_of("baseline", scope);
    let title = format!("{} against its {}-day baseline", scope.name(), b.days);
    let today = &days[&date];
    let Some(value) = today.figure(scope) else {
        return Ok(no_data(key, title, today, scope));
    };
    let history: Vec<(NaiveDate, f64)> = (1..=b.days as i64)
        .filter_map(|back| {
            let d = date - Duration::days(back);
            days.get(&d)
                .and_then(|day| day.figure(scope))
                .map(|v| (d, v))
        })
        .collect();
    if history.len() < b.min_days as usize {
        return Err(format!(
            "{}: baseline has {} of the {} days of history it needs (of {}): not judged",
            scope.name(),
            history.len(),
            b.min_days,
            b.days
        ));
    }
    let same: Vec<(NaiveDate, f64)> = history
        .iter()
        .filter(|(d, _)| d.weekday() == date.weekday())
        .copied()
        .collect();
    let (used, how) = if b.weekday_aware && same.len() >= 4 {
        let n = same.len();
        (
            same,
            format!("the {n} {}s of the last {} days", date.format("%A"), b.days),
        )
    } else {
        let n = history.len();
        (history, format!("{n} days of the last {}", b.days))
    };
    let mut values: Vec<f64> = used.iter().map(|x| x.1).collect();
    let m = median(&mut values);
    let mut dev: Vec<f64> = values.iter().map(|v| (v - m).abs()).collect();
    let mad = median(&mut dev);
    let spread = (b.threshold * MAD_SCALE * mad).max(b.min_change_usd);
    let limit = m + spread;
    let fired = value > limit;
    let ref_dates: Vec<NaiveDate> = used.iter().map(|x| x.0).collect();
    Ok(CostCheck {
        key,
        title,
        state: if fired { CostLevel::Warning } else { CostLevel::Ok },
        detail: format!(
            "{} on {date} against the median {} of {how} (MAD {}; threshold median + max({} × 1.4826 × MAD, {}) = {})",
            usd(value),
            usd(m),
            usd(mad),
            b.threshold,
            usd(b.min_change_usd),
            usd(limit)
        ),
        contributors: if fired {
            contributors(days, scope, &[date], &ref_dates)
        } else {
            Vec::new()
        },
    })
}

/// The lines of `scope` ranked by how much more they cost a day on `now` than on `reference`
/// (each the mean over its days; a line absent on a day counts $0 that day), with the
/// resources that are new since the reference began.
pub fn contributors(
    days: &BTreeMap<NaiveDate, Day>,
    scope: &Scope,
    now: &[NaiveDate],
    reference: &[NaiveDate],
) -> Vec<Contributor> {
    struct Acc<'a> {
        now: f64,
        before: f64,
        ids_now: BTreeSet<&'a str>,
        ids_before: BTreeSet<&'a str>,
        count_now: u64,
        count_before: u64,
        gb_now: f64,
        gb_before: f64,
    }
    let mut acc: BTreeMap<&Key, Acc> = BTreeMap::new();
    let mut feed = |dates: &[NaiveDate], is_now: bool| {
        let n = dates.len().max(1) as f64;
        for d in dates {
            let Some(day) = days.get(d) else { continue };
            for l in day.lines.iter().filter(|l| scope.covers(&l.key.component)) {
                let a = acc.entry(&l.key).or_insert(Acc {
                    now: 0.0,
                    before: 0.0,
                    ids_now: BTreeSet::new(),
                    ids_before: BTreeSet::new(),
                    count_now: 0,
                    count_before: 0,
                    gb_now: 0.0,
                    gb_before: 0.0,
                });
                if is_now {
                    a.now += l.usd_day / n;
                    a.gb_now += l.stored_gb / n;
                    a.count_now = a.count_now.max(l.count);
                    a.ids_now.extend(l.ids.iter().map(String::as_str));
                } else {
                    a.before += l.usd_day / n;
                    a.gb_before += l.stored_gb / n;
                    a.count_before = a.count_before.max(l.count);
                    a.ids_before.extend(l.ids.iter().map(String::as_str));
                }
            }
        }
    };
    feed(now, true);
    feed(reference, false);
    let since = reference.iter().min().copied();
    let mut out: Vec<Contributor> = acc
        .into_iter()
        .filter(|(_, a)| a.now - a.before > 0.0)
        .map(|(key, a)| {
            let new: Vec<&str> = a.ids_now.difference(&a.ids_before).copied().collect();
            let unit = key.item.unit();
            let mut detail = if !new.is_empty() {
                let shown: Vec<&str> = new.iter().take(3).copied().collect();
                format!(
                    "{} {} new since {}{} ({}{})",
                    new.len(),
                    if unit.is_empty() { "resources" } else { unit },
                    since.map(|d| d.to_string()).unwrap_or_default(),
                    if key.item == super::Item::UnmanagedSnapshots {
                        ", not made by Lifeboat"
                    } else {
                        ""
                    },
                    shown.join(", "),
                    if new.len() > shown.len() { ", …" } else { "" }
                )
            } else if a.count_now != a.count_before && !unit.is_empty() {
                format!("{} → {} {unit}", a.count_before, a.count_now)
            } else {
                String::new()
            };
            let dgb = a.gb_now - a.gb_before;
            if key.class == lifeboat_shared::policy::cost::Class::RdsSnapshot && dgb < 0.05 {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!(
                    "{:.1} GB stored, unchanged or less: its share of the region's RDS backup storage beyond the free allocation (the instances' provisioned storage) rose, as other snapshots in {} grew",
                    a.gb_now, key.region
                ));
            } else if dgb.abs() >= 0.05 {
                if !detail.is_empty() {
                    detail.push_str("; ");
                }
                detail.push_str(&format!("{:.1} → {:.1} GB stored", a.gb_before, a.gb_now));
            }
            Contributor {
                key: key.clone(),
                delta: a.now - a.before,
                detail,
            }
        })
        .collect();
    out.sort_by(|a, b| b.delta.total_cmp(&a.delta).then(a.key.cmp(&b.key)));
    out.truncate(TOP);
    out
}

#[cfg(test)]
pub(crate) mod tests;
