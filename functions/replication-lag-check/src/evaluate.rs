//! From what was read to the checks — pure: `now` and the observations are parameters.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::backup::{Snapshot, PREFIX};
use lifeboat_shared::policy::{
    Levels, MetricRule, Policy, ReplicationPair, ResourceKind, Retention, Span,
};
use lifeboat_shared::report::Measurement;

use crate::checks::{against_levels, backup_age, evaluate_rule, human, Check, Series, State};
use crate::inventory::{Observations, PairFull, PairObs, ReplicaKind, Scope, SourceObs};
use crate::metrics::{Fetched, Purpose, Query};

/// What one evaluation found: the checks and the EMF measurements.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub checks: Vec<Check>,
    pub measurements: Vec<Measurement>,
}

impl Evaluation {
    fn measure(&mut self, name: &str, value: f64, unit: &str, dim: (&str, &str)) {
        self.measurements.push(Measurement {
            name: name.into(),
            value,
            unit: unit.into(),
            dimensions: [(dim.0.to_string(), dim.1.to_string())]
                .into_iter()
                .collect(),
        });
    }
}

/// Names an alarm mentions: the components, pairs, artifact sets, rules and resource ids that
/// appear in its name. Empty: the alarm names none of them, and the whole check runs.
pub fn focus(policy: &Policy, alarm_name: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // `name` is checked when the alarm mentions `seen` (its own name, or a resource of it)
    let mut consider = |seen: &str, name: &str| {
        if !seen.is_empty() && alarm_name.contains(seen) && !names.iter().any(|x| x == name) {
            names.push(name.to_string());
        }
    };
    for c in &policy.components {
        consider(&c.name, &c.name);
        for id in &c.ids {
            consider(id, id);
        }
    }
    for p in &policy.monitoring.replication {
        consider(&p.name, &p.name);
        // An alarm on the bucket's replication metrics focuses on its pair (what `only` knows)
        consider(&p.source.bucket, &p.name);
    }
    for a in &policy.monitoring.artifacts {
        consider(&a.name, &a.name);
    }
    for r in &policy.monitoring.rules {
        consider(&r.name, &r.name);
    }
    names
}

/// The canary key written by a run: `<prefix><yyyymmddThhmmssZ>-<run id>.json`; its time is
/// read back from the key.
pub fn canary_key(prefix: &str, at: DateTime<Utc>, run_id: &str) -> String {
    format!("{prefix}{}-{run_id}.json", at.format("%Y%m%dT%H%M%SZ"))
}

pub fn canary_time(prefix: &str, key: &str) -> Option<DateTime<Utc>> {
    let stamp = key.strip_prefix(prefix)?.get(..16)?;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// The tags this run's canary carries: those of the enabled rule that replicates the pair (the
/// one with the fewest tags; none when a rule without a tag filter covers it). A rule filtered
/// by tags replicates only objects carrying them, so an untagged canary would never arrive
/// while the pair's tagged data does.
pub fn canary_tags(p: &ReplicationPair, o: Option<&PairObs>) -> Vec<(String, String)> {
    let Some(Ok(Some(rules))) = o.map(|o| &o.rules) else {
        return Vec::new();
    };
    rules
        .iter()
        .filter(|r| {
            r.enabled
                && r.destination == p.replica.bucket
                && crate::metrics::covers(&r.prefix, &p.source.prefix)
        })
        .min_by_key(|r| r.tags.len())
        .map(|r| r.tags.clone())
        .unwrap_or_default()
}

/// What the canaries of a pair say.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryView {
    /// The newest canary that arrived: (key, written, arrived).
    pub newest_arrived: Option<(String, DateTime<Utc>, DateTime<Utc>)>,
    /// Its arrival is when a run first saw it (at most that; S3 gives replicas the source's
    /// time), not a time the replica carries; then `arrived_after` is the last time a run
    /// looked and did not find it (at least that), if one did.
    pub arrival_seen: bool,
    pub arrived_after: Option<DateTime<Utc>>,
    /// Canaries written after it that have not arrived: (key, written).
    pub pending: Vec<(String, DateTime<Utc>)>,
    /// Canaries written before it that never arrived (replication lost them).
    pub lost: Vec<(String, DateTime<Utc>)>,
    /// Arrived canaries older than the newest arrived one: removed on both sides.
    pub spent: Vec<String>,
}

pub fn canary_view(
    p: &ReplicationPair,
    source: &[(String, DateTime<Utc>)],
    replica: &[(String, DateTime<Utc>)],
    obs: &Observations,
    now: DateTime<Utc>,
) -> CanaryView {
    let seen = &obs.canaries_seen;
    let prefix = p.canary_prefix();
    let arrived_at: BTreeMap<String, DateTime<Utc>> =
        replica.iter().map(|(k, t)| (k.clone(), *t)).collect();
    // S3 keeps the source object's time on a replica: unless the replica's time is later than
    // the source object's (a store that stamps arrival), arrival is when a run first saw it.
    let source_time: BTreeMap<&str, DateTime<Utc>> =
        source.iter().map(|(k, t)| (k.as_str(), *t)).collect();
    let arrival = |key: &str, rk: &str, written: DateTime<Utc>, listed: DateTime<Utc>| {
        let put = source_time.get(key).copied().unwrap_or(written);
        if listed > put + Duration::seconds(1) {
            (listed, false)
        } else {
            (seen.get(rk).copied().unwrap_or(now).max(written), true)
        }
    };
    let mut written: Vec<(String, DateTime<Utc>)> = source
        .iter()
        .filter_map(|(k, _)| canary_time(&prefix, k).map(|t| (k.clone(), t)))
        .collect();
    written.sort_by_key(|(_, t)| *t);
    // (key, written, (arrived, from a run's sighting))
    type Arrived = (String, DateTime<Utc>, (DateTime<Utc>, bool));
    let mut arrived: Vec<Arrived> = written
        .iter()
        .filter_map(|(k, w)| {
            // (S3 replication keeps keys: the replica's key is the source's)
            let rk = k.clone();
            arrived_at
                .get(&rk)
                .map(|listed| (k.clone(), *w, arrival(k, &rk, *w, *listed)))
        })
        .collect();
    let (newest_arrived, arrival_seen) = match arrived.pop() {
        Some((k, w, (a, seen))) => (Some((k, w, a)), seen),
        None => (None, false),
    };
    let arrived_after = newest_arrived
        .as_ref()
        .filter(|_| arrival_seen)
        .and_then(|(k, _, _)| obs.canaries_looked.get(k).copied());
    let cut = newest_arrived.as_ref().map(|(_, w, _)| *w);
    let not_arrived = written.iter().filter(|(k, _)| !arrived_at.contains_key(k));
    let (lost, pending): (Vec<_>, Vec<_>) = not_arrived
        .cloned()
        .partition(|(_, w)| cut.is_some_and(|c| *w < c));
    CanaryView {
        newest_arrived,
        arrival_seen,
        arrived_after,
        pending,
        lost,
        spent: arrived.into_iter().map(|(k, _, _)| k).collect(),
    }
}

/// Every check of this run.
pub fn evaluate(
    policy: &Policy,
    obs: &Observations,
    queries: &[Query],
    fetched: &Fetched,
    now: DateTime<Utc>,
) -> Evaluation {
    let mut ev = Evaluation::default();
    // Every datapoint of a purpose's queries, with its time; `None` when none could be read.
    let timed = |purpose: &Purpose| -> Option<Series> {
        let mut found = false;
        let mut points = Vec::new();
        for q in queries.iter().filter(|q| &q.purpose == purpose) {
            if fetched.errors.contains_key(&q.region) {
                continue;
            }
            found = true;
            points.extend(fetched.series.get(&q.id).into_iter().flatten().cloned());
        }
        found.then_some(points)
    };
    let series = |purpose: &Purpose| -> Option<Vec<f64>> {
        timed(purpose).map(|s| s.into_iter().map(|(_, v)| v).collect())
    };
    for p in &policy.monitoring.replication {
        if let Some(o) = obs.pairs.get(&p.name) {
            pair_checks(obs, p, o, &series, fetched, now, &mut ev);
        }
    }
    for r in &obs.replicas {
        replica_check(policy, r, &series, &timed, fetched, &mut ev);
    }
    unread_global_checks(obs, &mut ev);
    for (name, e) in &obs.unread_components {
        ev.checks.push(Check::new(
            "backup-age",
            name,
            "backup age",
            State::NoData,
            format!("its resources could not be listed ({e})"),
        ));
    }
    for (name, id) in &obs.missing {
        let named = policy.components.iter().find(|c| &c.name == name);
        let subject = match named {
            Some(c) if c.ids.len() > 1 => format!("{name} {id}"),
            _ => name.clone(),
        };
        ev.checks.push(Check::new(
            "backup-age",
            &subject,
            "backup age",
            State::Critical,
            format!("{id} was not found: the policy names it, and no backup of it can be checked"),
        ));
    }
    for s in &obs.sources {
        // A component with several sources (several ids, or tags matching several resources)
        // names each one, so that each has its own check.
        let several = obs
            .sources
            .iter()
            .filter(|o| o.component == s.component)
            .count()
            > 1;
        source_checks(policy, s, several, now, &mut ev);
    }
    verified_checks(policy, obs, now, &mut ev);
    for a in &policy.monitoring.artifacts {
        let Some(o) = obs.artifacts.get(&a.name) else {
            continue;
        };
        let check =
            |state, detail| Check::new("artifacts", &a.name, "newest object", state, detail);
        let c = match &o.newest {
            Err(e) => check(State::NoData, format!("could not be listed ({e})")),
            Ok(None) => check(
                State::Critical,
                format!(
                    "no object under s3://{}/{} (RPO {})",
                    a.bucket,
                    a.prefix,
                    human(a.rpo().0)
                ),
            ),
            Ok(Some((key, t, size))) => {
                let age = now - *t;
                ev.measure(
                    "BackupAgeSeconds",
                    age.num_seconds() as f64,
                    "Seconds",
                    ("Component", &a.name),
                );
                ev.measure(
                    "RpoSeconds",
                    a.rpo().0.num_seconds() as f64,
                    "Seconds",
                    ("Component", &a.name),
                );
                // Overdue (the policy's `rpo` doc): later than the cadence plus half of the
                // gap to the RPO is a warning before it becomes critical.
                let overdue = a.every.0 + (a.rpo().0 - a.every.0) / 2;
                let state = if age > a.rpo().0 {
                    State::Critical
                } else if age > overdue || (*size as u64) < a.min_size {
                    State::Warning
                } else {
                    State::Ok
                };
                let small = if (*size as u64) < a.min_size {
                    format!(", {size} bytes is below the {} expected", a.min_size)
                } else {
                    String::new()
                };
                check(
                    state,
                    format!(
                        "{} against RPO {} (written every {}): {key}{small}",
                        human(age),
                        human(a.rpo().0),
                        human(a.every.0)
                    ),
                )
                .value(age.num_seconds() as f64)
            }
        };
        ev.checks.push(c);
    }
    for rule in policy
        .monitoring
        .rules
        .iter()
        .filter(|_| obs.scope == Scope::Full)
    {
        let metric = timed(&Purpose::Rule {
            rule: rule.name.clone(),
            of: false,
        });
        let of = timed(&Purpose::Rule {
            rule: rule.name.clone(),
            of: true,
        });
        let c = match metric {
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
                crate::metrics::rule_read_back(rule, obs.since_full),
            ),
        };
        ev.checks.push(c);
    }
    ev
}

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

fn pair_checks(
    obs: &Observations,
    p: &ReplicationPair,
    o: &PairObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    fetched: &Fetched,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) {
    let name = p.name.as_str();
    let check =
        |kind: &str, what: &str, state, detail: String| Check::new(kind, name, what, state, detail);
    // The configuration: present, enabled, covering the prefix, to the replica bucket.
    let covering = match &o.rules {
        Err(e) => {
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                State::NoData,
                format!("could not be read ({e})"),
            ));
            None
        }
        Ok(None) => {
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                State::Critical,
                format!("s3://{} has no replication configuration", p.source.bucket),
            ));
            None
        }
        Ok(Some(rules)) => {
            let to_replica: Vec<_> = rules
                .iter()
                .filter(|r| {
                    r.destination == p.replica.bucket
                        && crate::metrics::covers(&r.prefix, &p.source.prefix)
                })
                .collect();
            let mut enabled: Vec<_> = to_replica.iter().filter(|r| r.enabled).collect();
            // A rule without a tag filter covers every object; one with tags only the objects
            // carrying them (the canary carries them: crate::execute::write_canary).
            enabled.sort_by_key(|r| r.tags.len());
            let (state, detail) = if enabled.is_empty() {
                (
                    State::Critical,
                    if to_replica.is_empty() {
                        format!(
                            "no rule replicates s3://{}/{} to {}",
                            p.source.bucket, p.source.prefix, p.replica.bucket
                        )
                    } else {
                        format!(
                            "the rule replicating s3://{}/{} to {} is disabled",
                            p.source.bucket, p.source.prefix, p.replica.bucket
                        )
                    },
                )
            } else {
                let r = enabled[0];
                let only = if r.tags.is_empty() {
                    String::new()
                } else {
                    format!(
                        " objects tagged {} (only those: untagged objects there are not replicated; the canary carries the tags)",
                        crate::inventory::tag_words(&r.tags)
                    )
                };
                (
                    State::Ok,
                    format!(
                        "rule {} replicates s3://{}/{}{only} to {}",
                        if r.id.is_empty() { "(no ID)" } else { &r.id },
                        p.source.bucket,
                        p.source.prefix,
                        p.replica.bucket
                    ),
                )
            };
            ev.checks.push(check(
                "replication-config",
                "replication configuration",
                state,
                detail,
            ));
            enabled.first().map(|r| (r.metrics, r.rtc, r.id.is_empty()))
        }
    };
    // Versioning at both ends, the replica bucket present (full checks).
    if let Some(f) = &o.full {
        ev.checks.push(buckets_check(p, f));
    }
    // The metrics: latency against the levels; without metrics there is nothing to measure.
    match covering {
        Some((true, _, true)) => ev.checks.push(check(
            "replication-latency",
            "replication latency",
            State::NoData,
            "the rule replicating the pair has no ID: S3 publishes replication metrics per rule ID (RuleId), so they cannot be read (give the rule an ID)"
                .into(),
        )),
        Some((false, _, _)) => ev.checks.push(check(
            "replication-latency",
            "replication latency",
            State::Warning,
            "replication metrics are off on the rule: nothing to measure (enable metrics or RTC)"
                .into(),
        )),
        Some((true, rtc, false)) => {
            let latency = series(&Purpose::Pair {
                pair: p.name.clone(),
                metric: "ReplicationLatency",
            });
            let failed = series(&Purpose::Pair {
                pair: p.name.clone(),
                metric: "OperationsFailedReplication",
            });
            let pending = series(&Purpose::Pair {
                pair: p.name.clone(),
                metric: "OperationsPendingReplication",
            });
            let pending_bytes = series(&Purpose::Pair {
                pair: p.name.clone(),
                metric: "BytesPendingReplication",
            });
            let max =
                |v: &Option<Vec<f64>>| v.as_ref().and_then(|v| v.iter().cloned().reduce(f64::max));
            // The backlog, read only where latency is high or silent (metrics::pending_queries);
            // both in the destination's region, failures in the source's.
            let region =
                crate::metrics::metric_region(p, "ReplicationLatency", &fetched.primary_region);
            let region = region.as_str();
            let source_region = crate::metrics::metric_region(
                p,
                "OperationsFailedReplication",
                &fetched.primary_region,
            );
            let backlog = match (max(&pending), max(&pending_bytes)) {
                (Some(n), Some(b)) => format!(
                    "; {n:.0} operations ({}) pending",
                    crate::checks::human_bytes(b)
                ),
                (Some(n), None) => format!("; {n:.0} operations pending"),
                _ => match fetched.backlog_errors.get(region) {
                    Some(e) => format!("; its backlog could not be read ({e})"),
                    None => String::new(),
                },
            };
            let c = match (&latency, max(&latency)) {
                (None, _) => check(
                    "replication-latency",
                    "replication latency",
                    State::NoData,
                    format!(
                        "metrics could not be read ({})",
                        fetched
                            .errors
                            .get(region)
                            .or_else(|| fetched.errors.values().next())
                            .cloned()
                            .unwrap_or_default()
                    ),
                ),
                (Some(_), None) => check(
                    "replication-latency",
                    "replication latency",
                    State::NoData,
                    format!(
                        "no ReplicationLatency datapoints in {region} (the destination's region, where S3 publishes it) in the last {} min{}{backlog}",
                        crate::metrics::RECENT,
                        if rtc {
                            ""
                        } else {
                            " (metrics without RTC report only while objects replicate)"
                        }
                    ),
                ),
                (Some(_), Some(s)) => {
                    ev.measure("ReplicationLagSeconds", s, "Seconds", ("Pair", &p.name));
                    let d = Duration::seconds(s as i64);
                    let detail = format!(
                        "{} (warning above {}, critical above {}){backlog}",
                        human(d),
                        human(p.latency.warning.0),
                        human(p.latency.critical.0)
                    );
                    check(
                        "replication-latency",
                        "replication latency",
                        against_levels(d, &p.latency),
                        detail,
                    )
                    .value(s)
                }
            };
            ev.checks.push(c);
            // Failures are read in full checks only (a lag check keeps their state).
            if obs.scope == Scope::Full {
                ev.checks.push(failures_check(
                    p,
                    failed.as_deref(),
                    &source_region,
                    fetched,
                    crate::metrics::failures_read_back(obs.since_full),
                ));
            }
        }
        None => {}
    }
    // The canary (full checks).
    if let (true, Some(f)) = (p.canary.enabled, &o.full) {
        let c = canary_check(p, f, obs, now, ev);
        ev.checks.push(c);
    }
}

/// Failed replications since the last full check: a sum of datapoints, or NO DATA when there are
/// none (S3 publishes replication metrics while objects replicate: an absent series is not "0
/// failed") or the source region's read failed.
fn failures_check(
    p: &ReplicationPair,
    failed: Option<&[f64]>,
    region: &str,
    fetched: &Fetched,
    span: Duration,
) -> Check {
    let check = |state, detail| {
        Check::new(
            "replication-failures",
            &p.name,
            "failed replications",
            state,
            detail,
        )
    };
    match failed {
        None => check(
            State::NoData,
            format!(
                "OperationsFailedReplication could not be read in {region} ({})",
                fetched.errors.get(region).cloned().unwrap_or_default()
            ),
        ),
        Some([]) => check(
            State::NoData,
            format!(
                "no OperationsFailedReplication datapoints in {region} (the source's region, where S3 publishes it) in the last {}",
                human(span)
            ),
        ),
        Some(values) => {
            // (a sum starting at 0, never -0)
            let f: f64 = values.iter().fold(0.0, |a, v| a + v);
            check(
                if f > 0.0 { State::Warning } else { State::Ok },
                format!(
                    "{f:.0} operations failed to replicate in the last {}",
                    human(span)
                ),
            )
        }
    }
}

/// Versioning at both ends (replication requires it) and the replica bucket present.
fn buckets_check(p: &ReplicationPair, f: &PairFull) -> Check {
    let mut vstate = State::Ok;
    let mut vdetail = Vec::new();
    for (side, r) in [
        ("source", &f.source_versioning),
        ("replica", &f.replica_versioning),
    ] {
        match r {
            Ok(true) => {}
            Ok(false) => {
                vstate = vstate.max(State::Critical);
                vdetail.push(format!(
                    "versioning is off on the {side} bucket (replication requires it)"
                ));
            }
            Err(e) => {
                vstate = vstate.max(State::NoData);
                vdetail.push(format!(
                    "the {side} bucket's versioning could not be read ({e})"
                ));
            }
        }
    }
    match &f.replica_exists {
        Ok(true) => {}
        Ok(false) => {
            vstate = State::Critical;
            vdetail.push(format!(
                "the replica bucket {} does not exist",
                p.replica.bucket
            ));
        }
        Err(e) => {
            vstate = vstate.max(State::NoData);
            vdetail.push(format!("the replica bucket could not be read ({e})"));
        }
    }
    Check::new(
        "replication-buckets",
        &p.name,
        "buckets",
        vstate,
        if vdetail.is_empty() {
            "versioning on at both ends; the replica bucket exists".into()
        } else {
            vdetail.join("; ")
        },
    )
}

fn canary_check(
    p: &ReplicationPair,
    o: &PairFull,
    obs: &Observations,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) -> Check {
    let check = |state, detail| Check::new("canary", &p.name, "canary", state, detail);
    let (src, dst) = match (&o.canaries_source, &o.canaries_replica) {
        (Ok(s), Ok(d)) => (s, d),
        (Err(e), _) | (_, Err(e)) => {
            return check(State::NoData, format!("canaries could not be listed ({e})"))
        }
    };
    let v = canary_view(p, src, dst, obs, now);
    let mut state = State::Ok;
    let mut detail = Vec::new();
    match &v.newest_arrived {
        Some((_, w, a)) => {
            let took = *a - *w;
            ev.measure(
                "CanaryReplicationSeconds",
                took.num_seconds().max(0) as f64,
                "Seconds",
                ("Pair", &p.name),
            );
            // Seen by a run: it arrived at most `took` after it was written, and at least when
            // a run last looked and did not find it. Only that lower bound can make it late.
            let at_least = v
                .arrived_after
                .map(|l| (l - *w).max(Duration::zero()))
                .unwrap_or_else(Duration::zero);
            state = against_levels(if v.arrival_seen { at_least } else { took }, &p.latency);
            detail.push(if v.arrival_seen && took - at_least > Duration::minutes(6) {
                format!(
                    "the last canary arrived between {} and {} after it was written ({}; no run looked in between)",
                    human(at_least),
                    human(took),
                    w.format("%H:%M UTC")
                )
            } else if v.arrival_seen {
                format!(
                    "the last canary arrived within {} (written {}, first seen in the replica {})",
                    human(took),
                    w.format("%H:%M UTC"),
                    a.format("%H:%M UTC")
                )
            } else {
                format!(
                    "the last canary arrived in {} (written {})",
                    human(took),
                    w.format("%H:%M UTC")
                )
            });
        }
        None if v.pending.is_empty() => {
            return check(
                State::NoData,
                "no canary written yet: the next run measures the first".into(),
            )
        }
        None => {}
    }
    if let Some((_, w)) = v.pending.first() {
        let age = now - *w;
        let pending_state = against_levels(age, &p.latency);
        if pending_state != State::Ok {
            detail.push(format!(
                "a canary written {} ago has not arrived",
                human(age)
            ));
        } else if v.newest_arrived.is_none() {
            detail.push(format!(
                "the first canary is in flight ({} old)",
                human(age)
            ));
            state = state.max(State::NoData);
        }
        state = state.max(pending_state);
    }
    if !v.lost.is_empty() {
        detail.push(format!("{} earlier canaries never arrived", v.lost.len()));
        state = state.max(State::Warning);
    }
    check(state, detail.join("; "))
}

fn replica_check(
    policy: &Policy,
    r: &crate::inventory::ReplicaObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    timed: &dyn Fn(&Purpose) -> Option<Series>,
    fetched: &Fetched,
    ev: &mut Evaluation,
) {
    let what = match r.kind {
        ReplicaKind::ReadReplica => "read replica",
        ReplicaKind::AuroraReader => "Aurora replica",
        ReplicaKind::GlobalSecondary => "global database secondary",
        ReplicaKind::GlobalDatastoreSecondary => "global datastore secondary",
    };
    let subject = format!("{} {}", r.component, r.id);
    let link = global_words(r);
    let plain = |state, detail: String| Check::new("replica", &subject, what, state, detail);
    let check = |state, detail: String| plain(state, format!("{detail}{link}"));
    if let Some(why) = &r.unread {
        ev.checks
            .push(check(State::NoData, format!("could not be read: {why}")));
        return;
    }
    let Some(status) = &r.status else {
        ev.checks.push(check(
            State::Critical,
            format!(
                "{} in {} is listed by its source but does not exist",
                r.id, r.region
            ),
        ));
        return;
    };
    if let Some((s, normal, msg)) = &r.replication {
        let (words, healthy) = match r.kind {
            ReplicaKind::GlobalSecondary => ("global database synchronization", "connected"),
            ReplicaKind::GlobalDatastoreSecondary => ("global datastore membership", "associated"),
            _ => ("replication", "replicating"),
        };
        if !normal || s != healthy {
            ev.checks.push(check(
                State::Critical,
                format!(
                    "{words} is {s}{}",
                    msg.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            ));
            return;
        }
    }
    match r.global.as_ref().and_then(|g| g.cache_clusters.as_ref()) {
        Some(Err(e)) => {
            ev.checks.push(check(
                State::NoData,
                format!("its cache clusters could not be read, so neither can its lag ({e})"),
            ));
            return;
        }
        Some(Ok(clusters)) if clusters.is_empty() => {
            ev.checks.push(check(
                State::NoData,
                format!(
                    "{} in {} has no cache clusters to read its lag from",
                    r.id, r.region
                ),
            ));
            return;
        }
        _ => {}
    }
    let points = timed(&Purpose::Replica {
        replica: r.id.clone(),
    });
    // RDS ReplicaLag is -1 when replication is not active (AWS: "ReplicaLag = -1 is equivalent
    // to Seconds_Behind_Master = NULL"): the newest datapoint -1 is a stopped replica, never
    // "0 s behind". Earlier -1s are not lag either: the lag is the largest real value.
    let newest = points
        .as_ref()
        .and_then(|p| p.iter().max_by_key(|(t, _)| *t).copied());
    if let Some((at, v)) = newest.filter(|(_, v)| *v < 0.0) {
        ev.checks.push(check(
            State::Critical,
            format!(
                "replication is not active: its lag metric reads {v:.0} (AWS: -1 when replication is not active) at {} (status {status})",
                at.format("%H:%M UTC")
            ),
        ));
        return;
    }
    let values: Option<Vec<f64>> = points.map(|p| {
        p.into_iter()
            .map(|(_, v)| v)
            .filter(|v| *v >= 0.0)
            .collect()
    });
    let lag = values
        .as_ref()
        .and_then(|v| v.iter().cloned().reduce(f64::max));
    let mut c = match (values, lag) {
        (None, _) => plain(
            State::NoData,
            format!(
                "its lag metric could not be read{}",
                fetched
                    .errors
                    .get(&r.region)
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        ),
        (Some(_), None) => plain(State::NoData, format!("no lag datapoints in the last {} min (status {status}): a replica without data is not OK", crate::metrics::RECENT)),
        (Some(_), Some(v)) => {
            // ReplicaLag and GlobalDatastoreReplicationLag are in seconds; the Aurora metrics in
            // milliseconds.
            let secs = match r.kind {
                ReplicaKind::ReadReplica | ReplicaKind::GlobalDatastoreSecondary => v,
                _ => v / 1000.0,
            };
            ev.measure("ReplicationLagSeconds", secs, "Seconds", ("Replica", &r.id));
            let l: &Levels = &policy.monitoring.replica_lag;
            let d = Duration::milliseconds((secs * 1000.0) as i64);
            plain(against_levels(d, l), format!("{} behind (warning above {}, critical above {})", human(d), human(l.warning.0), human(l.critical.0))).value(secs)
        }
    };
    if r.kind == ReplicaKind::GlobalSecondary {
        rpo_lag(policy, r, series, &mut c, ev);
    }
    c.detail.push_str(&link);
    ev.checks.push(c);
}

/// Where a global secondary replicates from, for its check's detail ("" for other replicas).
fn global_words(r: &crate::inventory::ReplicaObs) -> String {
    let Some(g) = &r.global else {
        return String::new();
    };
    let kind = match r.kind {
        ReplicaKind::GlobalDatastoreSecondary => "global datastore",
        _ => "global database",
    };
    let from = match &g.primary {
        Some((id, region)) => format!("it replicates from {id} in {region}"),
        None => "its primary is not named".to_string(),
    };
    let status = match r.status.as_deref() {
        Some(s) if s != "available" => format!(", status {s}"),
        _ => String::new(),
    };
    let itself = if g.selected {
        "the policy selects this secondary itself; "
    } else {
        ""
    };
    format!("; {itself}{from} ({kind} {}{status})", g.id)
}

/// An Aurora global secondary's RPO lag (`AuroraGlobalDBRPOLag`) against its component's RPO:
/// above it is critical, whatever the replication lag says. Said in the detail either way.
fn rpo_lag(
    policy: &Policy,
    r: &crate::inventory::ReplicaObs,
    series: &dyn Fn(&Purpose) -> Option<Vec<f64>>,
    c: &mut Check,
    ev: &mut Evaluation,
) {
    let rpo = component_rpo(policy, &r.component);
    let values = series(&Purpose::ReplicaRpo {
        replica: r.id.clone(),
    });
    let Some(ms) = values
        .as_ref()
        .and_then(|v| v.iter().cloned().reduce(f64::max))
    else {
        c.detail.push_str(&format!(
            "; {} to hold against RPO {}",
            if values.is_some() {
                "no RPO lag datapoints (AuroraGlobalDBRPOLag)"
            } else {
                "its RPO lag (AuroraGlobalDBRPOLag) could not be read"
            },
            human(rpo.0)
        ));
        return;
    };
    let d = Duration::milliseconds(ms as i64);
    ev.measure("RpoLagSeconds", ms / 1000.0, "Seconds", ("Replica", &r.id));
    let over = d > rpo.0;
    if over {
        c.state = State::Critical;
    }
    c.detail.push_str(&format!(
        "; RPO lag {} {} RPO {}",
        human(d),
        if over { "exceeds its" } else { "within its" },
        human(rpo.0)
    ));
}

/// A component's RPO: its own, else its settings' (defaults).
fn component_rpo(policy: &Policy, component: &str) -> Span {
    policy
        .components
        .iter()
        .find(|c| c.name == component)
        .and_then(|c| c.rpo)
        .unwrap_or_else(|| policy.settings_by_name(component).rpo)
}

/// Global databases and datastores that could not be read: no data, never skipped.
fn unread_global_checks(obs: &Observations, ev: &mut Evaluation) {
    for (component, id, why) in &obs.unread_globals {
        ev.checks.push(Check::new(
            "replica",
            &format!("{component} {id}"),
            "global replicas",
            State::NoData,
            format!("{id} could not be checked: {why}"),
        ));
    }
}

/// The newest restorable backup of a source: a snapshot of any kind, the point-in-time
/// recovery limit, an AWS Backup recovery point.
fn newest_backup(s: &SourceObs) -> (Option<(DateTime<Utc>, String)>, Vec<String>) {
    let mut candidates: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut unread = Vec::new();
    match &s.snapshots {
        Ok(list) => {
            if let Some(n) = list
                .iter()
                .filter(|x| x.available())
                .filter_map(|x| x.created_at.map(|t| (t, x)))
                .max_by_key(|(t, _)| *t)
            {
                candidates.push((n.0, format!("snapshot {}", n.1.id)));
            }
        }
        Err(e) => unread.push(format!("snapshots could not be read ({e})")),
    }
    if let Some(t) = s.latest_restorable {
        candidates.push((t, "point-in-time recovery".into()));
    }
    match &s.recovery_point {
        Ok(Some(t)) => candidates.push((*t, "AWS Backup recovery point".into())),
        Ok(None) => {}
        Err(e) => unread.push(format!(
            "AWS Backup recovery points could not be read ({e})"
        )),
    }
    (candidates.into_iter().max_by_key(|(t, _)| *t), unread)
}

/// How far back retention promises to reach: the longest tier, less one of its periods.
pub fn promised_window(r: &Retention) -> Duration {
    [
        Duration::hours(r.hourly.saturating_sub(1) as i64),
        Duration::days(r.daily.saturating_sub(1) as i64),
        Duration::weeks(r.weekly.saturating_sub(1) as i64),
        Duration::days(30 * r.monthly.saturating_sub(1) as i64),
    ]
    .into_iter()
    .max()
    .unwrap_or_default()
}

fn source_checks(
    policy: &Policy,
    s: &SourceObs,
    several: bool,
    now: DateTime<Utc>,
    ev: &mut Evaluation,
) {
    let settings = policy.settings_by_name(&s.component);
    let rpo: Span = policy
        .components
        .iter()
        .find(|c| c.name == s.component)
        .and_then(|c| c.rpo)
        .unwrap_or(settings.rpo);
    let subject = if several
        || policy
            .components
            .iter()
            .any(|c| c.name == s.component && c.ids.len() > 1)
    {
        format!("{} {}", s.component, s.id)
    } else {
        s.component.clone()
    };
    let (newest, unread) = newest_backup(s);
    let mut c = match (&newest, unread.is_empty()) {
        (None, false) => Check::new(
            "backup-age",
            &subject,
            "backup age",
            State::NoData,
            unread.join("; "),
        ),
        _ => backup_age(
            &subject,
            newest.as_ref().map(|(t, w)| (now - *t, w.clone())),
            rpo,
        ),
    };
    if c.state == State::Critical && !unread.is_empty() {
        c.detail.push_str(&format!(" ({})", unread.join("; ")));
    }
    if let Some((t, _)) = &newest {
        ev.measure(
            "BackupAgeSeconds",
            (now - *t).num_seconds() as f64,
            "Seconds",
            ("Component", &subject),
        );
    }
    ev.measure(
        "RpoSeconds",
        rpo.0.num_seconds() as f64,
        "Seconds",
        ("Component", &subject),
    );
    ev.checks.push(c);
    // The DR region: the newest DR copy — the RPO after losing the primary region.
    if let (Some(dr), true) = (
        &s.dr_snapshots,
        settings.copy_to_dr && s.kind != ResourceKind::Elasticache,
    ) {
        let limit = Span(settings.frequency.0 * 2).max(rpo);
        let check =
            |state, detail| Check::new("dr-copy-age", &subject, "DR copy age", state, detail);
        ev.checks.push(match dr {
            Err(e) => check(State::NoData, format!("DR-region snapshots could not be read ({e})")),
            Ok(list) => {
                let newest = list.iter().filter(|x| x.available() && x.id.starts_with(PREFIX)).filter_map(|x| x.time()).max();
                match newest {
                    None => check(State::Critical, "no DR copy in the DR region".into()),
                    Some(t) => {
                        let age = now - t;
                        check(
                            if age > limit.0 { State::Critical } else { State::Ok },
                            format!("{} (the backup taken then; a copy is made every {}, alert above {})", human(age), human(settings.frequency.0), human(limit.0)),
                        )
                        .value(age.num_seconds() as f64)
                    }
                }
            }
        });
    }
    // The restore window: the oldest retained Lifeboat backup against what retention promises.
    if let Ok(list) = &s.snapshots {
        let ours: Vec<&Snapshot> = list
            .iter()
            .filter(|x| x.managed() && x.available())
            .collect();
        let promise = promised_window(&settings.retention);
        if let Some(oldest) = ours.iter().filter_map(|x| x.time()).min() {
            let reach = now - oldest;
            // A source younger than the promise cannot have a longer history: retention is
            // still building up, which is not a fault.
            let possible = s.created_at.map(|c| now - c).unwrap_or(promise);
            let short = reach + Duration::days(1) < promise.min(possible);
            let detail = if reach + Duration::days(1) >= promise || short {
                format!(
                    "the oldest retained backup is {} old; retention promises {}",
                    human(reach),
                    human(promise)
                )
            } else {
                format!(
                    "the oldest retained backup is {} old; retention promises {}, and the source is {} old: still building up",
                    human(reach),
                    human(promise),
                    human(possible)
                )
            };
            ev.checks.push(Check::new(
                "restore-window",
                &subject,
                "restore window",
                if short { State::Warning } else { State::Ok },
                detail,
            ));
        }
    }
}

fn verified_checks(policy: &Policy, obs: &Observations, now: DateTime<Utc>, ev: &mut Evaluation) {
    let Some(verified) = &obs.verified else {
        return;
    };
    let max = policy.monitoring.verification_max_age;
    for c in policy.components.iter().filter(|c| c.verify.is_some()) {
        if !obs.sources.iter().any(|s| s.component == c.name)
            && !obs.unread_components.contains_key(&c.name)
        {
            continue; // not in this run's scope
        }
        let check =
            |state, detail| Check::new("verified-rpo", &c.name, "verified backup", state, detail);
        let c = match verified {
            Err(e) => check(
                State::NoData,
                format!("restore-verification's status could not be read ({e})"),
            ),
            Ok(map) => match map.get(&c.name) {
                None => check(
                    State::NoData,
                    "restore-verification has not verified a backup of it yet".into(),
                ),
                Some(t) => {
                    let age = now - *t;
                    ev.measure(
                        "VerifiedBackupAgeSeconds",
                        age.num_seconds() as f64,
                        "Seconds",
                        ("Component", &c.name),
                    );
                    check(
                        if age > max.0 {
                            State::Warning
                        } else {
                            State::Ok
                        },
                        format!(
                            "the newest verified backup is {} old (warning above {})",
                            human(age),
                            human(max.0)
                        ),
                    )
                    .value(age.num_seconds() as f64)
                }
            },
        };
        ev.checks.push(c);
    }
}

#[cfg(test)]
#[path = "evaluate_tests.rs"]
mod tests;
