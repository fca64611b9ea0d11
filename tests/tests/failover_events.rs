//! failover-orchestrator's sample events (`events/failover-orchestrator/`, also the demo's
//! `cargo lambda invoke --data-file` inputs): each is accepted by the function's command parser
//! with the plan the demo and the tests run (`region-failover` of infra/policy.local.yaml), or —
//! named `malformed-*.json` — refused before any AWS call naming the field. No emulator: parsing
//! makes no AWS call.

use failover_orchestrator::command::{self, Command};
use failover_orchestrator::plan::Mode;
use lifeboat_shared::policy::Policy;
use serde_json::Value;

/// infra/policy.local.yaml with its seeding placeholders filled with well-formed values.
fn local_policy() -> Policy {
    let text = std::fs::read_to_string(lifeboat_tests::root().join("infra/policy.local.yaml"))
        .unwrap_or_else(|e| panic!("infra/policy.local.yaml: {e}"));
    let text = text
        .replace("{zone_id}", "Z0123456789ABCDEFGHIJ")
        .replace("{backup_bucket}", "ecommerce-backups-prod-us-east-1")
        .replace("{dr_backup_bucket}", "ecommerce-backups-prod-us-west-2")
        .replace("{security_group_id}", "sg-0123456789abcdef0")
        .replace("{orders_database}", "orders")
        .replace("{catalog_database}", "catalog");
    let secret =
        |name: &str| format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
    let text = text
        .replace("{orders_secret_arn}", &secret("orders"))
        .replace("{catalog_secret_arn}", &secret("catalog"))
        .replace("{sessions_secret_arn}", &secret("sessions"));
    assert!(!text.contains("{zone_id}"), "a placeholder left unfilled");
    Policy::parse(&text).unwrap_or_else(|e| panic!("infra/policy.local.yaml: {e}"))
}

fn sample(name: &str) -> Value {
    let path = lifeboat_tests::root()
        .join("events/failover-orchestrator")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn every_sample_event_is_accepted_or_refused_naming_its_field() {
    let policy = local_policy();
    let read =
        lifeboat_shared::trigger::check_sample_events("failover-orchestrator", |v: &Value| {
            command::parse(v, &policy)
        });
    assert!(read >= 20, "{read} sample events");
}

#[test]
fn the_samples_mean_what_their_names_say() {
    let policy = local_policy();
    let parse = |name: &str| {
        command::parse(&sample(name), &policy).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    assert!(matches!(parse("schedule.json"), Command::Readiness { .. }));
    assert!(matches!(
        parse("manual-readiness.json"),
        Command::Readiness { .. }
    ));
    assert!(matches!(parse("manual-plan.json"), Command::Plan { .. }));
    assert!(matches!(
        parse("manual-drill-dry-run.json"),
        Command::Plan { .. }
    ));
    for (name, mode, plan) in [
        ("manual-drill.json", Mode::Drill, Some("region-failover")),
        ("schedule-quarterly-drill.json", Mode::Drill, None),
        (
            "manual-execute.json",
            Mode::Execute,
            Some("region-failover"),
        ),
        (
            "manual-failback.json",
            Mode::Failback,
            Some("region-failover"),
        ),
    ] {
        match parse(name) {
            Command::Run(r) => {
                assert_eq!(r.mode, mode, "{name}");
                assert_eq!(r.plan.as_deref(), plan, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    match parse("alarm-eventbridge.json") {
        Command::Alarm { alarm, plans } => {
            assert_eq!(alarm.name, "ecommerce-prod-db-down");
            assert_eq!(plans, vec!["region-failover".to_string()]);
        }
        other => panic!("alarm-eventbridge.json: {other:?}"),
    }
    assert!(matches!(
        parse("manual-resume.json"),
        Command::Resume { .. }
    ));
    assert!(matches!(
        parse("manual-approve.json"),
        Command::Approve { .. }
    ));
    assert!(matches!(
        parse("manual-janitor-dry-run.json"),
        Command::Janitor { dry_run: true, .. }
    ));
    assert!(matches!(
        parse("manual-preflight.json"),
        Command::Preflight(_)
    ));
    // An execute without its confirmation says how to arm it.
    let e = command::parse(&sample("malformed-execute-without-confirm.json"), &policy)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("event.confirm") && e.contains("\"confirm\": \"region-failover\""),
        "{e}"
    );
}

#[test]
fn the_example_policys_plan_is_valid_and_its_expected_rto_is_the_critical_path() {
    let text = std::fs::read_to_string(lifeboat_tests::root().join("infra/policy.example.yaml"))
        .unwrap_or_else(|e| panic!("infra/policy.example.yaml: {e}"));
    let policy = Policy::parse(&text).unwrap_or_else(|e| panic!("infra/policy.example.yaml: {e}"));
    let plan = policy
        .failover
        .plan("region-failover")
        .unwrap_or_else(|| panic!("the example's plan region-failover"));
    assert_eq!(plan.steps.len(), 7);
    let (rto, path) = failover_orchestrator::plan::expected_rto(plan);
    assert_eq!(rto, 22 * 60, "the example's comment says 22 min");
    assert_eq!(
        path,
        [
            "assess",
            "promote-orders-db",
            "orders-secret",
            "orders-dns",
            "verify-orders"
        ]
    );
    assert_eq!(failover_orchestrator::plan::sequential_rto(plan), 25 * 60);
}
