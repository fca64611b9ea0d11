//! What starts snapshot-export: its EventBridge schedule, or a manual command typed into the
//! console — `{"action": "run"}`, `{"action": "run", "dry_run": true}`, `{"action": "plan"}`
//! (always a dry run), with `"only": [component or resource id, ...]`. Parsed before any AWS call;
//! errors name the field.

use lifeboat_shared::trigger::{Trigger, TriggerKind};
use lifeboat_shared::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::FUNCTION;

/// Manual command actions: `run` (with `dry_run` for a plan) and `plan` (always a dry run).
pub const ACTIONS: [&str; 2] = ["run", "plan"];

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Components or resource ids; empty: everything the policy selects.
    pub only: Vec<String>,
}

/// A snapshot-export command has no fields beyond action, dry_run and only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoMoreFields {}

pub fn parse(payload: &Value) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &[TriggerKind::Schedule], &ACTIONS)?;
    let (dry_run, only) = match &trigger {
        Trigger::Manual(m) => {
            let NoMoreFields {} =
                m.args("a snapshot-export command has action, dry_run and only")?;
            let plan_only = m.action == ACTIONS[1];
            (m.dry_run || plan_only, m.only.clone())
        }
        _ => (false, Vec::new()),
    };
    Ok(Command {
        trigger,
        dry_run,
        only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/snapshot-export");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            match parse(&v) {
                Ok(_) => assert!(!name.starts_with("malformed-"), "{name} should be rejected"),
                Err(e) => {
                    assert!(name.starts_with("malformed-"), "{name}: {e}");
                    assert_eq!(e.error_type(), "Lifeboat.InvalidEvent");
                }
            }
        }
    }

    #[test]
    fn commands_and_their_errors() {
        let c = parse(&json!({"action": "plan", "only": ["orders-db"]})).unwrap();
        assert!(c.dry_run, "plan is always a dry run");
        assert_eq!(c.only, vec!["orders-db"]);
        let e = parse(&json!({"action": "run", "dryrun": true})).unwrap_err();
        assert_eq!(e.to_string(), "invalid event: event.dryrun: no such field: a snapshot-export command has action, dry_run and only");
        let e = parse(&json!({"action": "run", "dry_run": null})).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid event: event.dry_run: true or false, got null"),
            "a null dry_run is not a real run: {e}"
        );
        let alarm: Value =
            serde_json::from_str(include_str!("../../../events/triggers/alarm-sns.json")).unwrap();
        let e = parse(&alarm).unwrap_err();
        assert!(
            e.to_string()
                .contains("snapshot-export is started by schedule or a manual command"),
            "{e}"
        );
    }
}
