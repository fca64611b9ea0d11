//! Backup freshness of every kind, the DR copy, the restore window, artifact sets, metric rules,
//! the alarm's focus and the rhythm of full and lag checks.

use super::*;

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
