//! The pure core: the graph, the critical path, readiness and the auto-failover decision.

use super::*;
use chrono::TimeZone;
use lifeboat_shared::policy::Policy;

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap() + Duration::minutes(min)
}

const POLICY: &str = r#"
version: 1
buckets: {backup: shop-backups, dr_backup: shop-backups-dr}
components:
  - {name: orders-db, kind: rds-instance, ids: [orders-db]}
failover:
  plans:
    - name: region-failover
      primary_region: us-east-1
      dr_region: us-west-2
      rto: 1h
      rpo: 15m
      alarms: [orders-db-down]
      alarm_for: 5m
      steps:
        - {name: assess, kind: assess}
        - {name: promote, kind: promote-rds-replica, rto: 5m, params: {replica: orders-db-replica, primary: orders-db}}
        - {name: redis, kind: restore-redis, rto: 8m, params: {target: sessions-dr, source_group: sessions, node_type: cache.t3.micro}}
        - {name: secret, kind: update-secret, rto: 1m, depends_on: [promote], params: {secret: orders-db-credentials, endpoint_from: promote}}
        - {name: dns, kind: route53-switch, rto: 2m, depends_on: [secret], params: {hosted_zone_id: Z123, records: [{name: db.shop.example.com., endpoint_from: promote}]}}
"#;

fn plan() -> Plan {
    Policy::parse(POLICY).unwrap().failover.plans[0].clone()
}

fn facts(step: &str, dr: std::result::Result<&str, &str>, loss: Option<i64>) -> Facts {
    Facts {
        step: step.into(),
        primary: None,
        dr: dr.map(str::to_string).map_err(str::to_string),
        data_loss_seconds: loss,
        loss_unknown: None,
        changes: vec![],
        endpoint: None,
    }
}

fn assessment(steps: Vec<Facts>, primary_healthy: Option<bool>) -> Assessment {
    let mut steps = steps;
    if let Some(s) = steps.iter_mut().find(|f| f.step == "promote") {
        s.primary = Some(Health {
            what: "orders-db (us-east-1)".into(),
            healthy: primary_healthy,
            detail: "x".into(),
        });
    }
    Assessment {
        plan: "region-failover".into(),
        at: t(0),
        alarms: vec![],
        alarm_since: BTreeMap::new(),
        health_checks: vec![],
        steps,
    }
}

#[test]
fn given_two_branches_when_the_assessment_is_done_then_both_are_ready_together() {
    let p = plan();
    let mut s = RunState::new(&p, Mode::Execute);
    assert_eq!(ready(&mut s.steps), vec![0], "the assessment first, alone");
    s.steps[0].phase = Phase::Done;
    assert_eq!(
        ready(&mut s.steps),
        vec![1, 2],
        "promote and redis in parallel"
    );
}

#[test]
fn given_a_failed_step_then_its_dependants_are_blocked_and_the_other_branch_goes_on() {
    let p = plan();
    let mut s = RunState::new(&p, Mode::Execute);
    s.steps[0].phase = Phase::Done;
    s.steps[1].phase = Phase::Failed;
    let r = ready(&mut s.steps);
    assert_eq!(r, vec![2], "redis still runs");
    assert_eq!(s.steps[3].phase, Phase::Blocked, "secret waits on promote");
    assert_eq!(
        s.steps[4].phase,
        Phase::Blocked,
        "dns waits on secret, transitively"
    );
    assert!(s.steps[4].detail.contains("secret"));
}

#[test]
fn expected_rto_is_the_critical_path_not_the_sum() {
    let p = plan();
    let (rto, path) = expected_rto(&p);
    // assess 5m + promote 5m + secret 1m + dns 2m = 13m; redis branch 5m + 8m = 13m too: the
    // promote branch is the first of equal lengths or redis; either is 13m.
    assert_eq!(rto, 13 * 60);
    assert!(path.first().map(String::as_str) == Some("assess"));
    assert_eq!(
        sequential_rto(&p),
        (5 + 5 + 8 + 1 + 2) * 60,
        "the seed script's sum"
    );
}

#[test]
fn achieved_rto_is_measured_by_the_critical_path_of_durations() {
    let p = plan();
    let mut s = RunState::new(&p, Mode::Execute);
    let spans = [(0, 1), (1, 6), (1, 4), (6, 7), (7, 9)];
    for (st, (a, b)) in s.steps.iter_mut().zip(spans) {
        st.started_at = Some(t(a));
        st.ended_at = Some(t(b));
        st.phase = Phase::Done;
    }
    let (len, path, wall) = achieved_rto(&s);
    assert_eq!(len, 9 * 60);
    assert_eq!(path, vec!["assess", "promote", "secret", "dns"]);
    assert_eq!(wall, Some(9 * 60));
}

#[test]
fn readiness_names_every_reason_and_data_loss_against_the_rpo() {
    let p = plan();
    let a = assessment(
        vec![
            facts("assess", Ok(""), None),
            facts("promote", Ok("replica available"), Some(22 * 60)),
            facts(
                "redis",
                Err("no available snapshot of sessions in us-west-2"),
                None,
            ),
        ],
        Some(true),
    );
    let r = readiness(&p, &a);
    assert!(!r.ready);
    assert!(r
        .reasons
        .iter()
        .any(|x| x.contains("redis: no available snapshot")));
    assert!(
        r.reasons
            .iter()
            .any(|x| x.contains("would lose 22 min of data against RPO 15m")),
        "{:?}",
        r.reasons
    );
    let ok = assessment(vec![facts("promote", Ok(""), Some(60))], Some(true));
    assert!(readiness(&p, &ok).ready);
    // Replication not running: the loss cannot be measured; not ready unless data loss is allowed.
    let mut broken = assessment(vec![facts("promote", Ok(""), None)], Some(false));
    broken.steps[0].loss_unknown = Some(
        "replica r is not replicating (ReplicaLag -1): the data loss cannot be measured".into(),
    );
    let r = readiness(&p, &broken);
    assert!(!r.ready && !r.unread, "{r:?}");
    let mut lenient = p.clone();
    lenient.allow_data_loss = true;
    assert!(
        readiness(&lenient, &broken).ready,
        "allowed: promote with what the replica has"
    );
}

#[test]
fn auto_failover_needs_arming_time_a_down_primary_by_assessment_and_a_ready_dr() {
    let p = plan();
    let down = assessment(vec![facts("promote", Ok(""), Some(30))], Some(false));
    assert!(
        matches!(auto_failover(false, &p, t(0), &down, t(10)), Auto::No(w) if w.contains("auto_failover is off"))
    );
    assert_eq!(auto_failover(true, &p, t(0), &down, t(3)), Auto::Hold(t(5)));
    assert!(matches!(
        auto_failover(true, &p, t(0), &down, t(6)),
        Auto::Go(_)
    ));
    let healthy = assessment(vec![facts("promote", Ok(""), Some(30))], Some(true));
    assert!(
        matches!(auto_failover(true, &p, t(0), &healthy, t(6)), Auto::No(w) if w.contains("alarm alone"))
    );
    let unreadable = assessment(vec![facts("promote", Ok(""), Some(30))], None);
    assert!(
        matches!(
            auto_failover(true, &p, t(0), &unreadable, t(6)),
            Auto::No(_)
        ),
        "an unreadable primary is not a down one"
    );
    let lagging = assessment(vec![facts("promote", Ok(""), Some(3600))], Some(false));
    assert!(
        matches!(auto_failover(true, &p, t(0), &lagging, t(6)), Auto::No(w) if w.contains("would lose"))
    );
}

#[test]
fn an_executed_plan_refuses_a_second_execute_until_failback() {
    assert!(execute_refusal(Some("r1"))
        .unwrap()
        .contains("failback first"));
    assert!(execute_refusal(None).is_none());
}

#[test]
fn failback_steps_carry_what_the_execute_run_recorded() {
    let p = plan();
    let mut s = RunState::new(&p, Mode::Execute);
    s.steps[3].changes = vec![Change::new("secret x host/port", "old:5432", "new:5432")];
    s.steps[3].memo.insert("before_version".into(), "v1".into());
    s.steps[3].phase = Phase::Done;
    let back = failback_steps(&s.steps);
    assert_eq!(back.len(), s.steps.len());
    assert_eq!(
        back[3]
            .memo
            .get("executed:before_version")
            .map(String::as_str),
        Some("v1")
    );
    assert_eq!(
        back[3]
            .memo
            .get("before:secret x host/port")
            .map(String::as_str),
        Some("old:5432")
    );
    assert!(back.iter().all(|b| b.phase == Phase::Pending));
}

#[test]
fn a_drill_is_done_only_when_its_temporaries_are_gone() {
    let p = plan();
    let mut s = RunState::new(&p, Mode::Drill);
    for st in s.steps.iter_mut() {
        st.phase = Phase::Done;
    }
    s.temps.push(Temp {
        kind: "rds-instance".into(),
        region: "us-west-2".into(),
        id: "lifeboat-drill-1".into(),
        spec: None,
        gone: false,
        error: None,
        attempts: 0,
    });
    assert!(!s.done());
    s.temps[0].gone = true;
    assert!(s.done());
}
