//! The plan's tables, Given / When / Then: the shared fixtures here; [`backups`] (freshness of
//! every component kind, with no data; the DR copy, the restore window, artifact sets, rules, the
//! alarm's focus, the rhythm) and [`replication`] (pairs, canaries, replicas, global secondaries).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lifeboat_shared::backup::Snapshot;
use lifeboat_shared::policy::{Policy, ResourceKind, Retention};

use super::*;
use crate::inventory::{
    ArtifactObs, GlobalLink, PairFull, PairObs, ReplicaKind, ReplicaObs, ReplicationRule, Scope,
    SourceObs,
};
use crate::metrics::{self, Fetched};

mod backups;
mod replication;

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const NOW: &str = "2026-11-21T12:00:00Z";

fn policy() -> Policy {
    Policy::parse(
        "version: 1
buckets: {backup: backups-primary}
dr: {region: us-west-2}
components:
  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h, copy_to_dr: true, retention: {daily: 7}}
  - {name: catalog, kind: aurora-cluster, ids: [catalog], rpo: 1h}
  - {name: sessions, kind: elasticache, ids: [sessions], rpo: 2h}
monitoring:
  replication:
    - {name: backups-crr, source: {bucket: backups-primary, prefix: backups/}, replica: {bucket: backups-dr, prefix: backups/, region: us-west-2}}
  artifacts:
    - {name: kafka-archives, bucket: backups-primary, prefix: kafka/, every: 1h, rpo: 2h, min_size: 1000}
",
    )
    .unwrap()
}

fn snap(id: &str, at: &str, managed: bool) -> Snapshot {
    let mut tags = BTreeMap::new();
    if managed {
        tags.insert("lifeboat:managed".to_string(), "true".to_string());
    }
    Snapshot {
        kind: ResourceKind::RdsInstance,
        id: id.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:snapshot:{id}"),
        source_snapshot_arn: None,
        source_id: "orders".into(),
        region: "us-east-1".into(),
        created_at: Some(t(at)),
        status: "available".into(),
        manual: managed,
        encrypted: false,
        kms_key_id: None,
        size_gb: Some(20),
        engine: Some("postgres".into()),
        tags,
    }
}

fn source(component: &str, kind: ResourceKind, id: &str, snaps: Vec<Snapshot>) -> SourceObs {
    SourceObs {
        component: component.into(),
        kind,
        id: id.into(),
        arn: format!("arn:aws:rds:us-east-1:123456789012:db:{id}"),
        latest_restorable: None,
        created_at: None,
        snapshots: Ok(snaps),
        dr_snapshots: None,
        recovery_point: Ok(None),
    }
}

fn run(obs: &Observations) -> Vec<Check> {
    let p = policy();
    let q = metrics::queries(&p, obs, "us-east-1");
    evaluate(&p, obs, &q, &Fetched::default(), t(NOW)).checks
}

fn state_of(checks: &[Check], id: &str) -> (State, String) {
    let c = checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id}: {checks:#?}"));
    (c.state, c.detail.clone())
}

fn pair_obs(
    source: Vec<(String, DateTime<Utc>)>,
    replica: Vec<(String, DateTime<Utc>)>,
) -> PairObs {
    PairObs {
        rules: Ok(Some(vec![ReplicationRule {
            id: "backups-to-dr".into(),
            enabled: true,
            prefix: "backups/".into(),
            destination: "backups-dr".into(),
            metrics: true,
            rtc: true,
            tags: vec![],
        }])),
        full: Some(PairFull {
            source_versioning: Ok(true),
            replica_versioning: Ok(true),
            replica_exists: Ok(true),
            canaries_source: Ok(source),
            canaries_replica: Ok(replica),
        }),
    }
}

/// Canary keys with their time (written or arrived).
type Keys = Vec<(String, DateTime<Utc>)>;

fn canary(min_ago: i64, run: &str) -> (String, DateTime<Utc>) {
    let w = t(NOW) - Duration::minutes(min_ago);
    (canary_key("backups/lifeboat-canary/", w, run), w)
}

/// Evaluated with datapoints: every query of a purpose answers its values (the newest first, a
/// minute apart); each failed region answered its error.
fn run_with(
    obs: &Observations,
    values: &[(Purpose, Vec<f64>)],
    failed: &[(&str, &str)],
) -> Vec<Check> {
    let p = policy();
    let q = metrics::queries(&p, obs, "us-east-1");
    let mut fetched = Fetched {
        primary_region: "us-east-1".into(),
        ..Fetched::default()
    };
    for query in &q {
        if let Some((_, v)) = values.iter().find(|(purpose, _)| purpose == &query.purpose) {
            let points = v
                .iter()
                .enumerate()
                .map(|(i, x)| (t(NOW) - Duration::minutes(i as i64), *x))
                .collect();
            fetched.series.insert(query.id.clone(), points);
        }
    }
    for (region, e) in failed {
        fetched.errors.insert(region.to_string(), e.to_string());
    }
    evaluate(&p, obs, &q, &fetched, t(NOW)).checks
}

fn lag_of(id: &str) -> Purpose {
    Purpose::Replica { replica: id.into() }
}

fn rpo_lag_of(id: &str) -> Purpose {
    Purpose::ReplicaRpo { replica: id.into() }
}

/// catalog's Aurora global secondary in the DR region, synchronized.
fn global_secondary() -> ReplicaObs {
    ReplicaObs {
        component: "catalog".into(),
        id: "catalog-dr".into(),
        region: "us-west-2".into(),
        kind: ReplicaKind::GlobalSecondary,
        status: Some("available".into()),
        replication: Some(("connected".into(), true, None)),
        unread: None,
        global: Some(GlobalLink {
            id: "catalog-global".into(),
            primary: Some(("catalog".into(), "us-east-1".into())),
            selected: false,
            cache_clusters: None,
        }),
    }
}

/// sessions' ElastiCache global datastore secondary in the DR region, associated.
fn datastore_secondary() -> ReplicaObs {
    ReplicaObs {
        component: "sessions".into(),
        id: "sessions-dr".into(),
        region: "us-west-2".into(),
        kind: ReplicaKind::GlobalDatastoreSecondary,
        status: Some("available".into()),
        replication: Some(("associated".into(), true, None)),
        unread: None,
        global: Some(GlobalLink {
            id: "ldgnf-sessions".into(),
            primary: Some(("sessions".into(), "us-east-1".into())),
            selected: false,
            cache_clusters: Some(Ok(vec!["sessions-dr-001".into(), "sessions-dr-002".into()])),
        }),
    }
}

fn replicas(r: ReplicaObs) -> Observations {
    Observations {
        replicas: vec![r],
        ..Default::default()
    }
}

// ---- issue 15: AWS semantics the emulator forgave ----

/// A pair from us-east-1 (the primary, no region given) to us-west-2, its rule with metrics.
fn cross_region_obs(rule_id: &str) -> Observations {
    let p = policy();
    let mut o = pair_obs(vec![], vec![]);
    if let Ok(Some(rules)) = &mut o.rules {
        rules[0].id = rule_id.into();
    }
    Observations {
        pairs: [(p.monitoring.replication[0].name.clone(), o)]
            .into_iter()
            .collect(),
        ..Default::default()
    }
}
