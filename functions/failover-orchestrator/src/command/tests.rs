//! Every malformed command is refused naming its field, before any AWS call.

use super::*;
use serde_json::json;

fn policy() -> Policy {
    Policy::parse(
        "version: 1\nbuckets: {backup: shop-backups}\nfailover:\n  plans:\n    - name: region-failover\n      primary_region: us-east-1\n      dr_region: us-west-2\n      rto: 1h\n      rpo: 15m\n      alarms: [orders-db-down]\n      steps:\n        - {name: assess, kind: assess}\n        - {name: ok, kind: approval}\n",
    )
    .unwrap()
}

#[test]
fn armed_commands_need_the_plan_repeated() {
    let p = policy();
    let c = parse(
        &json!({"action": "execute", "plan": "region-failover", "confirm": "region-failover"}),
        &p,
    )
    .unwrap();
    assert!(matches!(
        c,
        Command::Run(RunCommand {
            mode: Mode::Execute,
            ..
        })
    ));
    for (ev, field) in [
        (
            json!({"action": "execute", "plan": "region-failover"}),
            "event.confirm",
        ),
        (
            json!({"action": "execute", "plan": "region-failover", "confirm": "yes"}),
            "event.confirm",
        ),
        (
            json!({"action": "failback", "plan": "nope", "confirm": "nope"}),
            "event.plan",
        ),
        (
            json!({"action": "execute", "confirm": "region-failover"}),
            "event.plan",
        ),
        (
            json!({"action": "execute", "plan": "region-failover", "confirm": "region-failover", "dry_run": true}),
            "event.dry_run",
        ),
        (
            json!({"action": "approve", "run_id": "x y", "step": "ok"}),
            "event.run_id",
        ),
        (
            json!({"action": "approve", "run_id": "20261207T100000Z-1a2b3c4d"}),
            "event.step",
        ),
        (json!({"action": "plan"}), "event.plan"),
        (
            json!({"action": "drill", "plan": "region-failover", "extra": 1}),
            "event",
        ),
        (
            json!({"action": "readiness", "only": ["other"]}),
            "event.only[0]",
        ),
        (json!({"action": "launch"}), "event.action"),
    ] {
        let e = parse(&ev, &p).unwrap_err().to_string();
        assert!(e.contains(field), "{ev}: {e}");
    }
}

#[test]
fn an_alarm_names_its_plans_and_another_alarm_is_refused() {
    let p = policy();
    let ev: Value = serde_json::from_str(include_str!(
        "../../../../events/triggers/alarm-eventbridge.json"
    ))
    .unwrap();
    let e = parse(&ev, &p).unwrap_err().to_string();
    assert!(
        e.contains("event.alarmName") && e.contains("orders-db-down"),
        "{e}"
    );
    let mut ev = ev;
    ev["detail"]["alarmName"] = json!("orders-db-down");
    match parse(&ev, &p).unwrap() {
        Command::Alarm { plans, .. } => assert_eq!(plans, vec!["region-failover".to_string()]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_drill_dry_run_is_the_plan_and_a_schedule_is_readiness() {
    let p = policy();
    assert!(matches!(
        parse(&json!({"action": "drill", "dry_run": true}), &p).unwrap(),
        Command::Plan { .. }
    ));
    let ev: Value = serde_json::from_str(include_str!(
        "../../../../events/snapshot-export/schedule.json"
    ))
    .unwrap();
    assert!(matches!(parse(&ev, &p).unwrap(), Command::Readiness { .. }));
}
