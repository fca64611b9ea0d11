//! The pure decisions: from what was read to the checks — `now` and the observations are
//! parameters, nothing here calls AWS. [`evaluate`] makes every check of a run from the
//! [`Observations`] and the metric series; its parts: [`pairs`] (S3 replication: configuration,
//! buckets, latency, failures), [`canary`] (the active canary), [`replicas`] (database replica
//! lag), [`backups`] (backup age, DR copy, restore window, verified backups, artifact sets) and
//! [`rules`] (metric rules as data).

pub mod backups;
pub mod canary;
pub mod pairs;
pub mod replicas;
pub mod rules;

use chrono::{DateTime, Utc};
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::Measurement;

use crate::checks::{Check, Series, State};
use crate::inventory::{Observations, Scope};
use crate::metrics::{Fetched, Purpose, Query};

pub use backups::promised_window;
pub use canary::{canary_key, canary_tags, canary_time, canary_view, CanaryView};
pub use rules::worst_window;

/// What one evaluation found: the checks and the EMF measurements.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub checks: Vec<Check>,
    pub measurements: Vec<Measurement>,
}

impl Evaluation {
    pub(crate) fn measure(&mut self, name: &str, value: f64, unit: &str, dim: (&str, &str)) {
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
            pairs::pair_checks(obs, p, o, &series, fetched, now, &mut ev);
        }
    }
    for r in &obs.replicas {
        replicas::replica_check(policy, r, &series, &timed, fetched, &mut ev);
    }
    replicas::unread_global_checks(obs, &mut ev);
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
        backups::source_checks(policy, s, several, now, &mut ev);
    }
    backups::verified_checks(policy, obs, now, &mut ev);
    for a in &policy.monitoring.artifacts {
        if let Some(o) = obs.artifacts.get(&a.name) {
            let c = backups::artifact_check(a, o, now, &mut ev);
            ev.checks.push(c);
        }
    }
    for rule in policy
        .monitoring
        .rules
        .iter()
        .filter(|_| obs.scope == Scope::Full)
    {
        ev.checks
            .push(rules::rule_check(rule, &timed, now, obs.since_full));
    }
    ev
}

#[cfg(test)]
mod tests;
