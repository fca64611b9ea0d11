//! The evaluation's tables, Given / When / Then: canaries, freshness of every component kind
//! (with no data), replicas (global secondaries too), the alarm's focus.

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

#[test]
fn freshness_of_every_kind_against_its_rpo_with_no_data_its_own_state() {
    // Given an RDS source with a 2 h old snapshot and PITR 5 min behind, an Aurora cluster whose
    // newest snapshot is 3 h old (RPO 1 h), an ElastiCache group whose snapshots could not be read
    let mut orders = source(
        "orders-db",
        ResourceKind::RdsInstance,
        "orders",
        vec![snap(
            "rds:orders-2026-11-21-10-00",
            "2026-11-21T10:00:00Z",
            false,
        )],
    );
    orders.latest_restorable = Some(t("2026-11-21T11:55:00Z"));
    let catalog = source(
        "catalog",
        ResourceKind::AuroraCluster,
        "catalog",
        vec![snap("rds:catalog-x", "2026-11-21T09:00:00Z", false)],
    );
    let mut sessions = source("sessions", ResourceKind::Elasticache, "sessions", vec![]);
    sessions.snapshots = Err("DescribeSnapshots: Throttling: Rate exceeded".into());
    let obs = Observations {
        sources: vec![orders, catalog, sessions],
        ..Default::default()
    };
    // When evaluated
    let checks = run(&obs);
    // Then the newest restorable point decides (PITR here), each against its own RPO
    let (s, d) = state_of(&checks, "backup-age/orders-db");
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.contains("5 min against RPO 24 h (point-in-time recovery)"),
        "{d}"
    );
    let (s, d) = state_of(&checks, "backup-age/catalog");
    assert_eq!(s, State::Critical, "{d}");
    assert!(d.starts_with("3 h against RPO 60 min"), "{d}");
    // and a read that failed is NO DATA, never OK
    let (s, d) = state_of(&checks, "backup-age/sessions");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("Throttling"), "{d}");
}

#[test]
fn no_backup_at_all_is_critical_and_an_unlisted_component_is_no_data() {
    let obs = Observations {
        sources: vec![source(
            "orders-db",
            ResourceKind::RdsInstance,
            "orders",
            vec![],
        )],
        unread_components: [(
            "catalog".to_string(),
            "DescribeDBClusters: AccessDenied".to_string(),
        )]
        .into_iter()
        .collect(),
        ..Default::default()
    };
    let checks = run(&obs);
    assert_eq!(state_of(&checks, "backup-age/orders-db").0, State::Critical);
    let (s, d) = state_of(&checks, "backup-age/catalog");
    assert_eq!(s, State::NoData);
    assert!(d.contains("AccessDenied"), "{d}");
}

#[test]
fn the_dr_copy_and_the_restore_window() {
    // Given daily Lifeboat snapshots for 3 days only (retention promises 7), DR copies 30 h old
    let mut s = source(
        "orders-db",
        ResourceKind::RdsInstance,
        "orders",
        (0..3)
            .map(|d| {
                snap(
                    &format!("lifeboat-orders-2026112{}-0000", 1 - d.min(1)),
                    &(t(NOW) - Duration::days(d) - Duration::hours(12)).to_rfc3339(),
                    true,
                )
            })
            .collect(),
    );
    let mut dr = snap(
        "lifeboat-orders-20261120-0000",
        "2026-11-20T06:00:00Z",
        true,
    );
    dr.region = "us-west-2".into();
    s.dr_snapshots = Some(Ok(vec![dr]));
    let checks_source = s.clone();
    let checks = run(&Observations {
        sources: vec![s],
        ..Default::default()
    });
    // Then the DR copy is within two snapshot periods (daily): OK
    let (st, d) = state_of(&checks, "dr-copy-age/orders-db");
    assert_eq!(st, State::Ok, "{d}");
    // and the restore window reaches 2.5 d of the 6 d retention promises: a warning
    let (st, d) = state_of(&checks, "restore-window/orders-db");
    assert_eq!(st, State::Warning, "{d}");
    assert!(d.contains("retention promises 6 d"), "{d}");
    // ... unless the source itself is younger than that: still building up, not a fault
    let mut young = checks_source.clone();
    young.created_at = Some(t(NOW) - Duration::days(3));
    let checks = run(&Observations {
        sources: vec![young],
        ..Default::default()
    });
    let (st, d) = state_of(&checks, "restore-window/orders-db");
    assert_eq!(st, State::Ok, "{d}");
    assert!(d.contains("still building up"), "{d}");
    assert_eq!(
        promised_window(&Retention {
            hourly: 24,
            daily: 7,
            weekly: 4,
            monthly: 1
        }),
        Duration::weeks(3)
    );
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

#[test]
fn canary_arrived_late_and_missing() {
    let p = policy();
    let pair = &p.monitoring.replication[0];
    let cases: Vec<(Keys, Keys, State, &str)> = vec![
        // arrived 90 s after it was written: measured, OK
        (
            vec![canary(10, "r1"), canary(5, "r2")],
            vec![(
                canary(10, "r1").0,
                t(NOW) - Duration::minutes(10) + Duration::seconds(90),
            )],
            State::Ok,
            "arrived in 90 s",
        ),
        // written 20 min ago, not arrived: late (warning above 15 min)
        (
            vec![canary(20, "r1")],
            vec![],
            State::Warning,
            "a canary written 20 min ago has not arrived",
        ),
        // written 2 h ago, not arrived: missing (critical above 1 h), with its age
        (
            vec![canary(120, "r1"), canary(5, "r2")],
            vec![],
            State::Critical,
            "written 2 h ago",
        ),
        // the first canary in flight: no data yet, never OK
        (vec![canary(1, "r1")], vec![], State::NoData, "in flight"),
        // none written yet
        (vec![], vec![], State::NoData, "no canary written yet"),
    ];
    for (src, dst, state, words) in cases {
        let obs = Observations {
            pairs: [(pair.name.clone(), pair_obs(src.clone(), dst.clone()))]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let (s, d) = state_of(&run(&obs), "canary/backups-crr");
        assert_eq!(s, state, "{src:?} / {dst:?}: {d}");
        assert!(d.contains(words), "{d}");
    }
    // A canary older than the newest arrived one that never arrived is lost: a warning, and the
    // spent ones are removed
    let v = canary_view(
        pair,
        &[canary(30, "r0"), canary(20, "r1"), canary(10, "r2")],
        &[
            (canary(20, "r1").0, t(NOW) - Duration::minutes(19)),
            (canary(10, "r2").0, t(NOW) - Duration::minutes(9)),
        ],
        &Observations::default(),
        t(NOW),
    );
    assert_eq!(v.lost.len(), 1);
    assert_eq!(v.spent, vec![canary(20, "r1").0]);
    assert!(v.pending.is_empty());
    assert_eq!(
        canary_time("backups/lifeboat-canary/", &canary(20, "r1").0),
        Some(t(NOW) - Duration::minutes(20))
    );
}

#[test]
fn replication_configuration_versioning_and_metrics() {
    let p = policy();
    let name = p.monitoring.replication[0].name.clone();
    let mut o = pair_obs(vec![], vec![]);
    o.rules = Ok(None);
    if let Some(f) = o.full.as_mut() {
        f.replica_versioning = Ok(false);
    }
    let checks = run(&Observations {
        pairs: [(name.clone(), o)].into_iter().collect(),
        ..Default::default()
    });
    assert_eq!(
        state_of(&checks, "replication-config/backups-crr").0,
        State::Critical
    );
    let (s, d) = state_of(&checks, "replication-buckets/backups-crr");
    assert_eq!(s, State::Critical);
    assert!(d.contains("versioning is off on the replica bucket"), "{d}");
    // Metrics on, but no datapoints: NO DATA, never OK
    let checks = run(&Observations {
        pairs: [(name.clone(), pair_obs(vec![], vec![]))]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    assert_eq!(
        state_of(&checks, "replication-latency/backups-crr").0,
        State::NoData
    );
    // Metrics off on the rule: a warning, nothing to measure
    let mut o = pair_obs(vec![], vec![]);
    if let Ok(Some(rules)) = &mut o.rules {
        rules[0].metrics = false;
    }
    let checks = run(&Observations {
        pairs: [(name, o)].into_iter().collect(),
        ..Default::default()
    });
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::Warning);
    assert!(d.contains("metrics are off"), "{d}");
}

#[test]
fn replicas_missing_broken_or_silent_are_findings() {
    let base = ReplicaObs {
        component: "orders-db".into(),
        id: "orders-replica".into(),
        region: "us-west-2".into(),
        kind: crate::inventory::ReplicaKind::ReadReplica,
        status: Some("available".into()),
        replication: Some(("replicating".into(), true, None)),
        unread: None,
        global: None,
    };
    let gone = ReplicaObs {
        status: None,
        ..base.clone()
    };
    let broken = ReplicaObs {
        replication: Some(("error".into(), false, Some("IO error".into()))),
        ..base.clone()
    };
    let checks = run(&Observations {
        replicas: vec![gone],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::Critical);
    let checks = run(&Observations {
        replicas: vec![broken],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::Critical);
    assert!(checks[0].detail.contains("replication is error: IO error"));
    // A new replica without data is "no data", not OK
    let checks = run(&Observations {
        replicas: vec![base],
        ..Default::default()
    });
    assert_eq!(checks[0].state, State::NoData);
}

#[test]
fn artifact_sets_stale_small_empty_or_unreadable() {
    let obs = |newest| Observations {
        artifacts: [("kafka-archives".to_string(), ArtifactObs { newest })]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let at = |h: i64| t(NOW) - Duration::hours(h);
    for (newest, state) in [
        (Ok(Some(("kafka/a".to_string(), at(1), 5000))), State::Ok),
        (
            Ok(Some(("kafka/a".to_string(), at(3), 5000))),
            State::Critical,
        ),
        (Ok(Some(("kafka/a".to_string(), at(1), 10))), State::Warning),
        (Ok(None), State::Critical),
        (
            Err("ListObjectsV2: NoSuchBucket".to_string()),
            State::NoData,
        ),
    ] {
        let (s, d) = state_of(&run(&obs(newest.clone())), "artifacts/kafka-archives");
        assert_eq!(s, state, "{newest:?}: {d}");
    }
}

#[test]
fn an_alarm_focuses_the_check_on_what_it_names() {
    let p = policy();
    assert_eq!(
        focus(&p, "orders-db-backup-age"),
        vec!["orders-db", "orders"]
    );
    assert_eq!(focus(&p, "backups-crr-latency"), vec!["backups-crr"]);
    assert!(focus(&p, "unrelated-alarm").is_empty());
    // An alarm on the source bucket's replication metrics checks its pair
    assert_eq!(
        focus(&p, "lifeboat-backups-primary-ReplicationLatency"),
        vec!["backups-crr"]
    );
}

#[test]
fn a_lag_check_reads_latency_and_replica_lag_only_and_leaves_the_rest_to_the_full_check() {
    let p = Policy::parse(
        "version: 1
buckets: {backup: backups-primary}
components:
  - {name: orders-db, kind: rds-instance, ids: [orders], rpo: 24h}
monitoring:
  replication:
    - {name: backups-crr, source: {bucket: backups-primary, prefix: backups/}, replica: {bucket: backups-dr, prefix: backups/, region: us-west-2}}
  rules:
    - {name: cert.s3.save.fail, namespace: Cert, metric: fail, of: total, window: 10m, above: 5, severity: warning}
",
    )
    .unwrap();
    let replica = ReplicaObs {
        component: "orders-db".into(),
        id: "orders-replica".into(),
        region: "us-east-1".into(),
        kind: ReplicaKind::ReadReplica,
        status: Some("available".into()),
        replication: None,
        unread: None,
        global: None,
    };
    let mut full = Observations {
        pairs: [("backups-crr".to_string(), pair_obs(vec![], vec![]))]
            .into_iter()
            .collect(),
        replicas: vec![replica],
        ..Default::default()
    };
    // Given the full check: latency and failures of the pair (its backlog only where latency
    // is high or silent, read after), the replica's lag, both series of the rule
    let q = metrics::queries(&p, &full, "us-east-1");
    assert_eq!(q.len(), 2 + 1 + 2);
    let checks = evaluate(&p, &full, &q, &Fetched::default(), t(NOW)).checks;
    for id in [
        "replication-config/backups-crr",
        "replication-buckets/backups-crr",
        "replication-latency/backups-crr",
        "canary/backups-crr",
        "rule/cert.s3.save.fail",
    ] {
        assert!(checks.iter().any(|c| c.id == id), "{id}");
    }
    // When a lag check runs (no full-check reads of the pair)
    full.scope = Scope::Lag;
    full.pairs.get_mut("backups-crr").unwrap().full = None;
    let q = metrics::queries(&p, &full, "us-east-1");
    // Then it asks CloudWatch for ReplicationLatency and the replica's lag: 2 metrics, not 5
    assert_eq!(q.len(), 2, "{q:#?}");
    assert!(q.iter().any(|q| q.metric == "ReplicationLatency"));
    assert!(q.iter().any(|q| q.metric == "ReplicaLag"));
    let checks = evaluate(&p, &full, &q, &Fetched::default(), t(NOW)).checks;
    let ids: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
    // And decides the configuration, the latency and the replica; the buckets, the canary and
    // the rule keep their stored state (they are not in this run's checks at all)
    assert!(ids.contains(&"replication-config/backups-crr"));
    assert!(ids.contains(&"replication-latency/backups-crr"));
    assert!(ids.iter().any(|i| i.starts_with("replica/")), "{ids:?}");
    for absent in [
        "replication-buckets/backups-crr",
        "canary/backups-crr",
        "rule/cert.s3.save.fail",
        "replication-failures/backups-crr",
    ] {
        assert!(!ids.contains(&absent), "{absent} in {ids:?}");
    }
}

#[test]
fn the_full_check_runs_when_due_or_asked_and_the_lag_check_in_between() {
    use crate::alerts::Stored;
    use crate::command;
    let every = Duration::minutes(15);
    let schedule = command::parse(&serde_json::json!({
        "version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
        "time": "2026-11-21T12:00:00Z", "detail": {}
    }))
    .unwrap();
    let manual = command::parse(&serde_json::json!({"action": "check"})).unwrap();
    let dry = command::parse(&serde_json::json!({"action": "check", "dry_run": true})).unwrap();
    let only =
        command::parse(&serde_json::json!({"action": "check", "only": ["backups-crr"]})).unwrap();
    let never = Stored::default();
    let at = |min: i64| Stored {
        full_check_at: Some(t(NOW) - Duration::minutes(min)),
        ..Stored::default()
    };
    // The first run is full; 5 and 10 minutes after a full check, lag checks; 14 (the schedule's
    // jitter) and 15 minutes after, full again
    assert_eq!(crate::scope(&schedule, &never, t(NOW), every), Scope::Full);
    assert_eq!(crate::scope(&schedule, &at(5), t(NOW), every), Scope::Lag);
    assert_eq!(crate::scope(&schedule, &at(10), t(NOW), every), Scope::Lag);
    assert_eq!(crate::scope(&schedule, &at(14), t(NOW), every), Scope::Full);
    assert_eq!(crate::scope(&schedule, &at(15), t(NOW), every), Scope::Full);
    assert_eq!(
        crate::scope(&schedule, &at(-60), t(NOW), every),
        Scope::Full
    );
    // A person's check, a dry run and a focused check are always full
    for cmd in [&manual, &dry, &only] {
        assert_eq!(crate::scope(cmd, &at(1), t(NOW), every), Scope::Full);
    }
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

#[test]
fn a_global_database_secondary_lag_against_the_levels_and_its_rpo_lag_against_the_rpo() {
    // Given catalog's global secondary (RPO 1 h; replica lag warning above 5 min, critical above
    // 15 min), its lag metrics read in its own region, with and without the primary's region
    let obs = replicas(global_secondary());
    let q = metrics::queries(&policy(), &obs, "us-east-1");
    let read: Vec<(&str, &str, usize)> = q
        .iter()
        .map(|q| (q.metric.as_str(), q.region.as_str(), q.dimensions.len()))
        .collect();
    assert_eq!(
        read,
        [
            ("AuroraGlobalDBReplicationLag", "us-west-2", 1),
            ("AuroraGlobalDBRPOLag", "us-west-2", 1),
            ("AuroraGlobalDBReplicationLag", "us-west-2", 2),
            ("AuroraGlobalDBRPOLag", "us-west-2", 2),
        ]
    );
    assert_eq!(
        q[2].dimensions[1],
        ("SourceRegion".to_string(), "us-east-1".to_string())
    );
    // When its lag (ms) and RPO lag (ms) are measured
    let cases: Vec<(f64, f64, State, &str)> = vec![
        (800.0, 900.0, State::Ok, "0 s behind"),
        (360_000.0, 360_000.0, State::Warning, "6 min behind"),
        (1_200_000.0, 1_200_000.0, State::Critical, "20 min behind"),
        // replication lag fine, but commits an hour and more behind: past the RPO
        (
            1_000.0,
            7_200_000.0,
            State::Critical,
            "RPO lag 2 h exceeds its RPO 60 min",
        ),
    ];
    for (lag, rpo, state, words) in cases {
        let checks = run_with(
            &obs,
            &[
                (lag_of("catalog-dr"), vec![lag, lag / 2.0]),
                (rpo_lag_of("catalog-dr"), vec![rpo]),
            ],
            &[],
        );
        let (s, d) = state_of(&checks, "replica/catalog catalog-dr");
        // Then the worse of the two decides, and both are said
        assert_eq!(s, state, "{lag}/{rpo}: {d}");
        assert!(d.contains(words), "{d}");
        assert!(d.contains("RPO lag"), "{d}");
        assert!(
            d.ends_with("it replicates from catalog in us-east-1 (global database catalog-global)"),
            "{d}"
        );
    }
    let (_, d) = state_of(
        &run_with(
            &obs,
            &[
                (lag_of("catalog-dr"), vec![800.0]),
                (rpo_lag_of("catalog-dr"), vec![900.0]),
            ],
            &[],
        ),
        "replica/catalog catalog-dr",
    );
    assert!(d.contains("RPO lag 0 s within its RPO 60 min"), "{d}");
}

#[test]
fn a_global_database_secondary_without_data_is_no_data_never_ok() {
    // Given no datapoints at all
    let obs = replicas(global_secondary());
    let (s, d) = state_of(&run_with(&obs, &[], &[]), "replica/catalog catalog-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no lag datapoints"), "{d}");
    assert!(d.contains("no RPO lag datapoints"), "{d}");
    // Given a secondary in a region with no CloudWatch client (the policy does not name it)
    let mut far = global_secondary();
    far.region = "eu-west-1".into();
    let checks = run_with(
        &replicas(far),
        &[],
        &[(
            "eu-west-1",
            "no CloudWatch client for eu-west-1 (a region the policy does not name)",
        )],
    );
    let (s, d) = state_of(&checks, "replica/catalog catalog-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no CloudWatch client for eu-west-1"), "{d}");
    assert!(
        d.contains("its RPO lag (AuroraGlobalDBRPOLag) could not be read"),
        "{d}"
    );
    // But an RPO lag above the RPO is critical even without a replication lag datapoint
    let (s, d) = state_of(
        &run_with(&obs, &[(rpo_lag_of("catalog-dr"), vec![4_000_000.0])], &[]),
        "replica/catalog catalog-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
}

#[test]
fn a_broken_or_vanished_global_member_is_critical_and_a_selected_secondary_says_so() {
    // Given a member the global database lists as pending resync
    let mut broken = global_secondary();
    broken.replication = Some(("pending-resync".into(), false, None));
    let (s, d) = state_of(
        &run_with(
            &replicas(broken),
            &[(lag_of("catalog-dr"), vec![10.0])],
            &[],
        ),
        "replica/catalog catalog-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
    assert!(
        d.starts_with("global database synchronization is pending-resync"),
        "{d}"
    );
    // Given a secondary the writer names but the global database no longer lists
    let mut gone = global_secondary();
    gone.status = None;
    gone.replication = None;
    let (s, d) = state_of(&run(&replicas(gone)), "replica/catalog catalog-dr");
    assert_eq!(s, State::Critical, "{d}");
    assert!(d.contains("does not exist"), "{d}");
    // Given the policy's cluster is itself the secondary: checked as its primary's replica
    let mut itself = global_secondary();
    itself.id = "catalog".into();
    itself.region = "us-east-1".into();
    if let Some(g) = itself.global.as_mut() {
        g.selected = true;
        g.primary = Some(("catalog-eu".into(), "eu-west-1".into()));
    }
    let (s, d) = state_of(
        &run_with(&replicas(itself), &[(lag_of("catalog"), vec![300.0])], &[]),
        "replica/catalog catalog",
    );
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.contains(
            "the policy selects this secondary itself; it replicates from catalog-eu in eu-west-1"
        ),
        "{d}"
    );
}

#[test]
fn an_elasticache_global_datastore_secondary() {
    // Given sessions' secondary, its lag read per cache cluster in its own region
    let obs = replicas(datastore_secondary());
    let q = metrics::queries(&policy(), &obs, "us-east-1");
    let read: Vec<(&str, &str, &str)> = q
        .iter()
        .map(|q| {
            (
                q.namespace.as_str(),
                q.region.as_str(),
                q.dimensions[0].1.as_str(),
            )
        })
        .collect();
    assert_eq!(
        read,
        [
            ("AWS/ElastiCache", "us-west-2", "sessions-dr-001"),
            ("AWS/ElastiCache", "us-west-2", "sessions-dr-002"),
        ]
    );
    assert!(q
        .iter()
        .all(|q| q.metric == "GlobalDatastoreReplicationLag"
            && q.dimensions[0].0 == "CacheClusterId"));
    // When its lag (seconds) is measured: against the replica lag levels
    for (lag, state, words) in [
        (2.0, State::Ok, "2 s behind"),
        (400.0, State::Warning, "6 min behind"),
        (1_000.0, State::Critical, "16 min behind"),
    ] {
        let (s, d) = state_of(
            &run_with(&obs, &[(lag_of("sessions-dr"), vec![lag])], &[]),
            "replica/sessions sessions-dr",
        );
        assert_eq!(s, state, "{lag}: {d}");
        assert!(d.contains(words), "{d}");
        assert!(d.ends_with("(global datastore ldgnf-sessions)"), "{d}");
    }
    let (s, _) = state_of(&run_with(&obs, &[], &[]), "replica/sessions sessions-dr");
    assert_eq!(s, State::NoData);
    // A membership other than associated is critical, with the status
    let mut associating = datastore_secondary();
    associating.replication = Some(("associating".into(), false, None));
    let (s, d) = state_of(
        &run_with(
            &replicas(associating),
            &[(lag_of("sessions-dr"), vec![1.0])],
            &[],
        ),
        "replica/sessions sessions-dr",
    );
    assert_eq!(s, State::Critical, "{d}");
    assert!(
        d.contains("global datastore membership is associating"),
        "{d}"
    );
    // Cache clusters that could not be read: no data, with the error
    let mut unread = datastore_secondary();
    if let Some(g) = unread.global.as_mut() {
        g.cache_clusters = Some(Err(
            "DescribeReplicationGroups sessions-dr: AccessDenied: no".into(),
        ));
    }
    let (s, d) = state_of(&run(&replicas(unread)), "replica/sessions sessions-dr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("AccessDenied"), "{d}");
}

#[test]
fn a_global_database_or_datastore_that_could_not_be_read_is_no_data() {
    let obs = Observations {
        unread_globals: vec![
            (
                "catalog".into(),
                "catalog-global".into(),
                "DescribeGlobalClusters: AccessDenied: not authorized".into(),
            ),
            (
                "sessions".into(),
                "ldgnf-sessions".into(),
                "it does not list sessions among its members".into(),
            ),
        ],
        ..Default::default()
    };
    let checks = run(&obs);
    let (s, d) = state_of(&checks, "replica/catalog catalog-global");
    assert_eq!(s, State::NoData);
    assert_eq!(
        d,
        "catalog-global could not be checked: DescribeGlobalClusters: AccessDenied: not authorized"
    );
    assert_eq!(
        state_of(&checks, "replica/sessions ldgnf-sessions").0,
        State::NoData
    );
}

#[test]
fn a_rule_sees_a_burst_between_two_full_checks() {
    let p = Policy::parse(
        "version: 1
buckets: {backup: b-1}
monitoring:
  rules:
    - {name: cert.s3.save.fail, namespace: Cert, metric: fail, of: total, window: 10m, above: 5, severity: warning}
",
    )
    .unwrap();
    let rule = &p.monitoring.rules[0];
    let now = t(NOW);
    let at = |m: i64| now - Duration::minutes(m);
    // Given 30 of 100 saves failing 14, 13 and 12 minutes ago, and none since
    let fail: Series = (1..=14)
        .map(|m| (at(m), if m >= 12 { 30.0 } else { 0.0 }))
        .collect();
    let total: Series = (1..=14).map(|m| (at(m), 100.0)).collect();
    // When the full check (every 15 min) reads back to the last one
    let since = crate::metrics::since_full_check(Some(at(15)), now, Duration::minutes(15));
    assert_eq!(
        crate::metrics::rule_read_back(rule, since),
        Duration::minutes(15)
    );
    let c = worst_window(rule, &fail, Some(&total), now, Duration::minutes(15));
    // Then the worst whole 10 minutes inside what was read decides: 90 of 1,000 (9%)
    assert_eq!(c.state, State::Warning, "{}", c.sentence());
    assert_eq!(c.value, Some(9.0));
    let until = at(5).format("%H:%M UTC");
    assert_eq!(
        c.detail,
        format!("9% over 10 min to {until} (alert above 5%)")
    );
    // And the last 10 minutes alone would have said OK (what a read of the window only saw)
    let last = worst_window(rule, &fail, Some(&total), now, Duration::minutes(10));
    assert_eq!((last.state, last.value), (State::Ok, Some(0.0)));
    assert_eq!(last.detail, "0% over 10 min (alert above 5%)");
    // A metric gone silent stays NO DATA: a quiet past window does not make it OK
    let floor = Policy::parse(
        "version: 1
buckets: {backup: b-1}
monitoring:
  rules:
    - {name: cert.s3.write.success, namespace: Cert, metric: ok, of: total, window: 5m, below: 95, severity: critical}
",
    )
    .unwrap();
    let ok: Series = (7..=14).map(|m| (at(m), 100.0)).collect();
    let total: Series = (7..=14).map(|m| (at(m), 100.0)).collect();
    let c = worst_window(
        &floor.monitoring.rules[0],
        &ok,
        Some(&total),
        now,
        Duration::minutes(15),
    );
    assert_eq!(c.state, State::NoData, "{}", c.sentence());
}

#[test]
fn the_backlog_explains_a_high_or_silent_latency_and_a_failed_backlog_read_is_said() {
    let p = policy();
    let obs = Observations {
        pairs: [("backups-crr".to_string(), pair_obs(vec![], vec![]))]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let first = metrics::queries(&p, &obs, "us-east-1");
    let latency_id = |q: &[metrics::Query]| {
        q.iter()
            .find(|q| q.metric == "ReplicationLatency")
            .map(|q| q.id.clone())
            .unwrap()
    };
    let at = t(NOW) - Duration::minutes(1);
    // Given a latency of 30 minutes, whose backlog read then failed
    let mut high = Fetched {
        primary_region: "us-east-1".into(),
        ..Fetched::default()
    };
    high.series.insert(latency_id(&first), vec![(at, 1_800.0)]);
    let backlog = metrics::pending_queries(&p, &first, &high);
    assert_eq!(backlog.len(), 2);
    // (the backlog is read in the destination's region, us-west-2)
    high.merge_backlog(Fetched {
        errors: [(
            "us-west-2".to_string(),
            "GetMetricData: ThrottlingException".to_string(),
        )]
        .into_iter()
        .collect(),
        calls: 1,
        ..Fetched::default()
    });
    let all: Vec<metrics::Query> = first.iter().chain(&backlog).cloned().collect();
    let checks = evaluate(&p, &obs, &all, &high, t(NOW)).checks;
    // Then the latency still stands (a warning), and says its backlog could not be read
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::Warning);
    assert!(
        d.ends_with("; its backlog could not be read (GetMetricData: ThrottlingException)"),
        "{d}"
    );
    // Given no latency datapoints but 42 operations pending
    let mut silent = Fetched {
        primary_region: "us-east-1".into(),
        ..Fetched::default()
    };
    let backlog = metrics::pending_queries(&p, &first, &silent);
    let pending_id = backlog
        .iter()
        .find(|q| q.metric == "OperationsPendingReplication")
        .map(|q| q.id.clone())
        .unwrap();
    silent.series.insert(pending_id, vec![(at, 42.0)]);
    let all: Vec<metrics::Query> = first.iter().chain(&backlog).cloned().collect();
    let checks = evaluate(&p, &obs, &all, &silent, t(NOW)).checks;
    // Then the NO DATA names the backlog: replication is stuck, not idle
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData);
    assert!(d.ends_with("; 42 operations pending"), "{d}");
}

#[test]
fn a_component_whose_tags_select_several_resources_has_a_check_for_each() {
    // Given catalog (selected by tags in a real policy) matching two clusters, one fresh, one
    // stale
    let mut fresh = source("catalog", ResourceKind::AuroraCluster, "catalog-a", vec![]);
    fresh.latest_restorable = Some(t(NOW) - Duration::minutes(2));
    let mut stale = source("catalog", ResourceKind::AuroraCluster, "catalog-b", vec![]);
    stale.latest_restorable = Some(t(NOW) - Duration::hours(30));
    let checks = run(&Observations {
        sources: vec![fresh, stale],
        ..Default::default()
    });
    // Then each has its own backup-age check (not one id written twice, flapping every run)
    assert_eq!(
        state_of(&checks, "backup-age/catalog catalog-a").0,
        State::Ok
    );
    assert_eq!(
        state_of(&checks, "backup-age/catalog catalog-b").0,
        State::Critical
    );
    assert!(!checks.iter().any(|c| c.id == "backup-age/catalog"));
}

#[test]
fn a_replica_with_the_source_time_arrived_when_a_run_first_saw_it() {
    let p = policy();
    let pair = &p.monitoring.replication[0];
    let (key, written) = canary(20, "r1");
    let rk = key.clone();
    let source = vec![(key.clone(), written)];
    // Given the replica as S3 lists it: with the source object's time, not its arrival
    let replica = vec![(rk.clone(), written)];
    let history = |seen: Option<i64>, looked: Option<i64>| Observations {
        canaries_seen: seen
            .map(|m| (rk.clone(), written + Duration::minutes(m)))
            .into_iter()
            .collect(),
        canaries_looked: looked
            .map(|m| (rk.clone(), written + Duration::minutes(m)))
            .into_iter()
            .collect(),
        ..Default::default()
    };
    // When a lag check first saw it 5 minutes after it was written
    let v = canary_view(pair, &source, &replica, &history(Some(5), None), t(NOW));
    // Then it arrived within 5 minutes, said as a bound
    let (_, w, a) = v.newest_arrived.clone().unwrap();
    assert_eq!(a - w, Duration::minutes(5));
    assert!(v.arrival_seen);
    // And seen for the first time by this run, it arrived by now, after the last look
    let v = canary_view(pair, &source, &replica, &history(None, Some(10)), t(NOW));
    let (_, w, a) = v.newest_arrived.unwrap();
    assert_eq!(a - w, Duration::minutes(20));
    assert_eq!(v.arrived_after, Some(written + Duration::minutes(10)));
    // A store that stamps arrival on the replica (later than the source object) is believed
    let stamped = vec![(rk.clone(), written + Duration::seconds(40))];
    let v = canary_view(pair, &source, &stamped, &history(None, None), t(NOW));
    let (_, w, a) = v.newest_arrived.unwrap();
    assert_eq!((a - w, v.arrival_seen), (Duration::seconds(40), false));
    // The check: late only by what the runs saw. Not looked for in 20 minutes (the first look
    // found it): OK, "between"; looked for at 16 minutes and not there: a warning (above 15)
    let obs = |h: Observations| Observations {
        pairs: [(pair.name.clone(), pair_obs(source.clone(), replica.clone()))]
            .into_iter()
            .collect(),
        ..h
    };
    let (s, d) = state_of(&run(&obs(history(None, None))), "canary/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.starts_with("the last canary arrived between 0 s and 20 min"),
        "{d}"
    );
    let (s, d) = state_of(&run(&obs(history(None, Some(16)))), "canary/backups-crr");
    assert_eq!(s, State::Warning, "{d}");
    let (s, d) = state_of(&run(&obs(history(Some(5), Some(0)))), "canary/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(d.starts_with("the last canary arrived within 5 min"), "{d}");
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

#[test]
fn s3_replication_metrics_are_read_where_aws_publishes_them() {
    // Given a pair from us-east-1 to us-west-2, in a full check
    let p = policy();
    let obs = cross_region_obs("backups-to-dr");
    // When its queries are made (and the backlog's, for a silent latency)
    let first = metrics::queries(&p, &obs, "us-east-1");
    let backlog = metrics::pending_queries(&p, &first, &Fetched::default());
    // Then latency and the backlog are asked of the destination's region, failures of the
    // source's
    let region_of = |m: &str| -> Vec<String> {
        first
            .iter()
            .chain(&backlog)
            .filter(|q| q.metric == m)
            .map(|q| q.region.clone())
            .collect()
    };
    assert_eq!(region_of("ReplicationLatency"), ["us-west-2"]);
    assert_eq!(region_of("OperationsPendingReplication"), ["us-west-2"]);
    assert_eq!(region_of("BytesPendingReplication"), ["us-west-2"]);
    assert_eq!(region_of("OperationsFailedReplication"), ["us-east-1"]);
    // and a latency read that failed in the destination's region says that region's error
    let checks = run_with(
        &obs,
        &[],
        &[("us-west-2", "AccessDenied: not in us-west-2")],
    );
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("not in us-west-2"), "{d}");
}

#[test]
fn failed_replications_without_datapoints_are_no_data_not_a_pass() {
    // Given a pair whose metrics answer no datapoints at all (and, next, whose source region's
    // read failed)
    let obs = cross_region_obs("backups-to-dr");
    let checks = run_with(&obs, &[], &[]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(!d.contains("-0"), "{d}");
    let checks = run_with(&obs, &[], &[("us-east-1", "Throttling: slow down")]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("Throttling"), "{d}");
    // and zero failures counted is a pass that says 0
    let failed = Purpose::Pair {
        pair: "backups-crr".into(),
        metric: "OperationsFailedReplication",
    };
    let checks = run_with(&obs, &[(failed, vec![0.0, 0.0])], &[]);
    let (s, d) = state_of(&checks, "replication-failures/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(d.starts_with("0 operations failed"), "{d}");
}

#[test]
fn a_rule_without_an_id_never_sends_an_empty_rule_id() {
    // Given the covering rule has no ID
    let p = policy();
    let obs = cross_region_obs("");
    // When the queries are made
    let q = metrics::queries(&p, &obs, "us-east-1");
    // Then no query carries an empty dimension value (CloudWatch refuses the whole call)
    assert!(
        q.iter()
            .all(|q| q.dimensions.iter().all(|(_, v)| !v.is_empty())),
        "{q:#?}"
    );
    // and the latency check says why it cannot be read
    let checks = run_with(&obs, &[], &[]);
    let (s, d) = state_of(&checks, "replication-latency/backups-crr");
    assert_eq!(s, State::NoData, "{d}");
    assert!(d.contains("no ID"), "{d}");
}

#[test]
fn replica_lag_of_minus_one_is_replication_not_active() {
    // Given a read replica whose newest ReplicaLag is -1 (AWS: replication is not active)
    let r = ReplicaObs {
        component: "orders-db".into(),
        id: "orders-replica".into(),
        region: "us-east-1".into(),
        kind: ReplicaKind::ReadReplica,
        status: Some("available".into()),
        replication: Some(("replicating".into(), true, None)),
        unread: None,
        global: None,
    };
    // (newest first)
    let checks = run_with(
        &replicas(r.clone()),
        &[(lag_of("orders-replica"), vec![-1.0, -1.0, 2.0])],
        &[],
    );
    assert_eq!(checks[0].state, State::Critical, "{}", checks[0].detail);
    assert!(
        checks[0].detail.contains("not active"),
        "{}",
        checks[0].detail
    );
    // and a replica that was stopped and is back is measured on its real lag
    let checks = run_with(
        &replicas(r),
        &[(lag_of("orders-replica"), vec![3.0, -1.0])],
        &[],
    );
    assert_eq!(checks[0].state, State::Ok, "{}", checks[0].detail);
    assert!(
        checks[0].detail.starts_with("3 s behind"),
        "{}",
        checks[0].detail
    );
}

#[test]
fn the_canary_is_looked_for_under_the_same_key_in_the_replica() {
    // Given a pair whose replica has no prefix of its own (S3 replication keeps keys)
    let p = Policy::parse(
        "version: 1
buckets: {backup: backups-primary}
monitoring:
  replication:
    - {name: backups-crr, source: {bucket: backups-primary, prefix: backups/}, replica: {bucket: backups-dr, region: us-west-2}}
",
    )
    .unwrap();
    let pair = &p.monitoring.replication[0];
    // When the canary written 10 min ago is in the replica under its own key
    let written = canary(10, "r1");
    let v = canary_view(
        pair,
        std::slice::from_ref(&written),
        &[(written.0.clone(), t(NOW) - Duration::minutes(9))],
        &Observations::default(),
        t(NOW),
    );
    // Then it arrived
    assert!(v.pending.is_empty(), "{v:?}");
    assert_eq!(v.newest_arrived.map(|(k, _, _)| k), Some(written.0));
}

#[test]
fn a_rule_filtered_by_tags_is_said_and_the_canary_carries_its_tags() {
    use aws_sdk_s3::types as s3;
    // Given the pair's rule as S3 answers it: prefix and two tags under And
    let sdk = s3::ReplicationRule::builder()
        .id("backups-to-dr")
        .status(s3::ReplicationRuleStatus::Enabled)
        .filter(
            s3::ReplicationRuleFilter::builder()
                .and(
                    s3::ReplicationRuleAndOperator::builder()
                        .prefix("backups/")
                        .tags(
                            s3::Tag::builder()
                                .key("replicate")
                                .value("dr")
                                .build()
                                .unwrap(),
                        )
                        .tags(
                            s3::Tag::builder()
                                .key("tier")
                                .value("gold")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build(),
        )
        .destination(
            s3::Destination::builder()
                .bucket("arn:aws:s3:::backups-dr")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let rule = crate::inventory::rule_from_sdk(&sdk);
    let tags = vec![
        ("replicate".to_string(), "dr".to_string()),
        ("tier".to_string(), "gold".to_string()),
    ];
    assert_eq!(rule.prefix, "backups/");
    assert_eq!(rule.tags, tags);
    // When the pair is checked
    let p = policy();
    let mut o = pair_obs(vec![], vec![]);
    o.rules = Ok(Some(vec![rule.clone()]));
    // Then the configuration check says the rule covers only the tagged objects
    let checks = run(&Observations {
        pairs: [(p.monitoring.replication[0].name.clone(), o.clone())]
            .into_iter()
            .collect(),
        ..Default::default()
    });
    let (s, d) = state_of(&checks, "replication-config/backups-crr");
    assert_eq!(s, State::Ok, "{d}");
    assert!(
        d.contains("objects tagged replicate=dr, tier=gold (only those"),
        "{d}"
    );
    // and the canary carries the tags (none when a rule without tags covers the pair too)
    let pair = &p.monitoring.replication[0];
    assert_eq!(canary_tags(pair, Some(&o)), tags);
    assert_eq!(
        crate::execute::tagging(&[("a b".into(), "x/y".into()), ("k".into(), "v".into())]),
        "a%20b=x%2Fy&k=v"
    );
    if let Ok(Some(rules)) = &mut o.rules {
        rules.push(ReplicationRule {
            id: "everything".into(),
            tags: vec![],
            prefix: String::new(),
            ..rule
        });
    }
    assert!(canary_tags(pair, Some(&o)).is_empty());
}
