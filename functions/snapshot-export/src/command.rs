//! What starts snapshot-export: its EventBridge schedule, or a manual command typed into the
//! console — `{"action": "run"}`, `{"action": "run", "dry_run": true}`, `{"action": "plan"}`
//! (always a dry run), with `"only": [component or resource id, ...]`. Parsed before any AWS call;
//! errors name the field.

use lifeboat_shared::trigger::{Trigger, TriggerKind};
use lifeboat_shared::Result;
use serde::Deserialize;
use serde_json::Value;

use crate::FUNCTION;

/// Manual command actions: `run` (with `dry_run` for a plan), `plan` (always a dry run) and
/// `preflight` (read-only checks of what the runs need, see [`crate::preflight`]).
pub const ACTIONS: [&str; 3] = ["run", "plan", lifeboat_shared::preflight::ACTION];

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub trigger: Trigger,
    pub dry_run: bool,
    /// Components or resource ids; empty: everything the policy selects.
    pub only: Vec<String>,
    /// `{"action": "preflight"}`: checks only (always a dry run).
    pub preflight: bool,
}

/// A snapshot-export command has no fields beyond action, dry_run and only.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoMoreFields {}

pub fn parse(payload: &Value) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &[TriggerKind::Schedule], &ACTIONS)?;
    let (dry_run, only, preflight) = match &trigger {
        Trigger::Manual(m) => {
            let NoMoreFields {} =
                m.args("a snapshot-export command has action, dry_run and only")?;
            let plan_only = m.action == ACTIONS[1];
            let preflight = m.action == ACTIONS[2];
            if preflight {
                lifeboat_shared::preflight::refuse_only(&m.only)?;
            }
            (
                m.dry_run || plan_only || preflight,
                m.only.clone(),
                preflight,
            )
        }
        _ => (false, Vec::new(), false),
    };
    Ok(Command {
        trigger,
        dry_run,
        only,
        preflight,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let read = lifeboat_shared::trigger::check_sample_events("snapshot-export", parse);
        assert!(read >= 2);
    }

    #[test]
    fn errors_quote_at_most_a_short_excerpt_of_the_command() {
        // Given commands carrying megabytes where a short value belongs
        let huge = "x".repeat(5_000_000);
        for event in [
            json!({"action": huge}),
            json!({"action": "run", "only": [huge]}),
            json!({"action": "run", "only": vec!["orders-db"; 200_000]}),
            json!({"action": "run", huge.clone(): true}),
            json!({"source": "aws.events", "detail-type": huge, "time": "2026-11-21T03:00:00Z", "detail": {}}),
        ] {
            // When parsed
            let e = parse(&event).unwrap_err();
            // Then the error is short (and the response it becomes is far below Lambda's 6 MB)
            assert_eq!(e.error_type(), "Lifeboat.InvalidEvent");
            assert!(e.to_string().len() < 300, "{} bytes", e.to_string().len());
        }
    }

    #[test]
    fn only_names_that_can_never_match_are_refused_before_any_aws_call() {
        // Given `only` entries that no component or resource id can be
        for (only, field) in [
            (json!(["orders-db", "orders db"]), "event.only[1]"),
            (json!([""]), "event.only[0]"),
            (json!(["a".repeat(64)]), "event.only[0]"),
        ] {
            // When the command is parsed
            let e = parse(&json!({"action": "run", "only": only})).unwrap_err();
            // Then the entry is named with what was expected
            assert!(
                e.to_string().starts_with(&format!(
                    "invalid event: {field}: a component name or resource id"
                )),
                "{e}"
            );
        }
        // And a name not in the policy is still accepted here: it may be a resource id, and the
        // plan reports names that matched nothing
        let c = parse(&json!({"action": "run", "only": ["analytics-db", "ecommerce-prod-db"]}))
            .unwrap();
        assert_eq!(c.only, vec!["analytics-db", "ecommerce-prod-db"]);
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
