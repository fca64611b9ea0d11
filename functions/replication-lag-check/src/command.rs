//! What starts replication-lag-check: its schedule (every 5 minutes), a CloudWatch alarm (a
//! focused check of the alarm's resources, with the alarm's context in the report), or a manual
//! command — `{"action": "check"}`, with `"only": [component, pair, artifact set or rule names]`
//! and `"dry_run": true` (evaluate and report; no canary, no state written). Parsed before any
//! AWS call; errors name the field.

use lifeboat_shared::trigger::{Alarm, Trigger, TriggerKind};
use lifeboat_shared::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::FUNCTION;

pub const ACTIONS: [&str; 2] = ["check", lifeboat_shared::preflight::ACTION];

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Names to check; empty: everything (an alarm narrows it to what its name and dimensions
    /// mention, see [`crate::plan::focus`]).
    pub only: Vec<String>,
    /// Asked by a person: the report is emailed even when no state changed.
    pub manual: bool,
    /// `{"action": "preflight"}`: read-only checks of what the runs need (always a dry run).
    pub preflight: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoMoreFields {}

pub fn parse(payload: &Value) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(
        FUNCTION,
        &[TriggerKind::Schedule, TriggerKind::Alarm],
        &ACTIONS,
    )?;
    let (dry_run, only, manual, preflight) = match &trigger {
        Trigger::Manual(m) => {
            let NoMoreFields {} =
                m.args("a replication-lag-check command has action, dry_run and only")?;
            let preflight = m.action == ACTIONS[1];
            if preflight {
                lifeboat_shared::preflight::refuse_only(&m.only)?;
            }
            (m.dry_run || preflight, m.only.clone(), true, preflight)
        }
        _ => (false, Vec::new(), false, false),
    };
    Ok(Command {
        trigger,
        dry_run,
        only,
        manual,
        preflight,
    })
}

/// The alarm that started the run, if one did.
pub fn alarm(c: &Command) -> Option<&Alarm> {
    match &c.trigger {
        Trigger::Alarm(a) => Some(a),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let read = lifeboat_shared::trigger::check_sample_events("replication-lag-check", parse);
        assert!(read >= 2);
    }

    #[test]
    fn commands_alarms_and_their_errors() {
        // (a metric rule's name has dots: `only` takes it)
        let c = parse(&json!({"action": "check", "only": ["cert.s3.save.fail"]})).unwrap();
        assert_eq!(c.only, vec!["cert.s3.save.fail"]);
        let c = parse(&json!({"action": "check", "only": ["orders-db"], "dry_run": true})).unwrap();
        assert!(c.dry_run && c.manual);
        assert_eq!(c.only, vec!["orders-db"]);
        for triggers in [
            "alarm-eventbridge.json",
            "alarm-lambda-action.json",
            "alarm-sns.json",
        ] {
            let v: Value = serde_json::from_str(
                &std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                        .join("../../events/triggers")
                        .join(triggers),
                )
                .unwrap(),
            )
            .unwrap();
            let c = parse(&v).unwrap();
            assert!(alarm(&c).is_some(), "{triggers}");
            assert!(!c.manual && !c.dry_run);
        }
        let e = parse(&json!({"action": "run"})).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid event: event.action"),
            "{e}"
        );
        let e = parse(&json!({"action": "check", "dry_run": null})).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid event: event.dry_run"),
            "{e}"
        );
        let e = parse(&json!({"action": "check", "pairs": ["x"]})).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid event: event.pairs"),
            "{e}"
        );
    }
}
