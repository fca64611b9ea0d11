//! What starts restore-verification, as a typed command: its restore schedule (the Step
//! Functions loop), an AWS Backup restore-testing job event, or a manual command —
//! `{"action": "restore", "only": [...], "dry_run": true, "run_id": "..."}` or
//! `{"action": "sweep", "only": [...], "sample_rate": 1, "repair": true}` or
//! `{"action": "janitor", "dry_run": true}` (its own hourly schedule: removes expired
//! `lifeboat-verify-*` resources). Parsed before any AWS call; errors name the field and quote
//! at most a short excerpt.
//!
//! `only` names components with `verify` (restore) or sweeps (sweep) of the policy. A name that
//! could never match anything is refused by the trigger (`event.only[i]`, as in
//! snapshot-export); a well-formed name the policy does not have is refused here, naming the
//! policy's names.

use lifeboat_shared::policy::Policy;
use lifeboat_shared::trigger::{
    bounded, excerpt_str, BackupJob, BackupJobKind, Trigger, TriggerKind,
};
use lifeboat_shared::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::FUNCTION;

pub const ACTIONS: [&str; 4] = [
    "restore",
    "sweep",
    "janitor",
    lifeboat_shared::preflight::ACTION,
];

/// What an invocation is asked to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Restore(RestoreCommand),
    Sweep(SweepCommand),
    /// Remove expired temporary restore resources, outside any restore run.
    Janitor(JanitorCommand),
    /// AWS Backup restore testing: validate the restored resource.
    Validate(BackupJob),
    /// `{"action": "preflight"}`: read-only checks of what the runs need (always a dry run).
    Preflight(Trigger),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RestoreCommand {
    pub trigger: Trigger,
    pub dry_run: bool,
    pub only: Vec<String>,
    /// Resume this run (the Step Functions loop passes it back).
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SweepCommand {
    pub trigger: Trigger,
    pub dry_run: bool,
    pub only: Vec<String>,
    pub sample_rate: Option<f64>,
    pub repair: bool,
}

/// `{"action": "janitor"}`: the janitor alone (its hourly schedule, or by hand).
#[derive(Debug, Clone, PartialEq)]
pub struct JanitorCommand {
    pub trigger: Trigger,
    pub dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreArgs {
    #[serde(default)]
    run_id: Option<String>,
}

/// The janitor has no fields of its own (only `action` and `dry_run`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JanitorArgs {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepArgs {
    #[serde(default)]
    sample_rate: Option<f64>,
    #[serde(default)]
    repair: bool,
}

/// Parses the command before any AWS call; errors name the field.
pub fn parse(payload: &Value, policy: &Policy) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(
        FUNCTION,
        &[TriggerKind::Schedule, TriggerKind::BackupJob],
        &ACTIONS,
    )?;
    let m = match &trigger {
        Trigger::Schedule(_) => {
            return Ok(Command::Restore(RestoreCommand {
                trigger,
                dry_run: false,
                only: Vec::new(),
                run_id: None,
            }))
        }
        Trigger::BackupJob(j) if j.kind == BackupJobKind::Restore => {
            return Ok(Command::Validate(j.clone()))
        }
        Trigger::BackupJob(j) => {
            let got = match j.kind {
                BackupJobKind::Backup => "Backup Job State Change",
                _ => "Copy Job State Change",
            };
            return Err(Error::event(
                "event.detail-type",
                format!("Restore Job State Change (restore-verification validates restore-testing jobs; backup and copy jobs go elsewhere), got {got}"),
            ));
        }
        Trigger::Manual(m) => m.clone(),
        // `expect` has already refused alarms (not reached; said in the same words).
        Trigger::Alarm(_) => {
            return Err(Error::event(
                "event",
                "restore-verification is started by schedule or an AWS Backup job event or a manual command; got a CloudWatch alarm",
            ))
        }
    };
    if m.action == lifeboat_shared::preflight::ACTION {
        let JanitorArgs {} = m.args("a preflight command has action and dry_run")?;
        lifeboat_shared::preflight::refuse_only(&m.only)?;
        return Ok(Command::Preflight(trigger));
    }
    if m.action == "janitor" {
        let JanitorArgs {} = m.args("a janitor command has action and dry_run")?;
        if !m.only.is_empty() {
            return Err(Error::event(
                "event.only",
                "no only for the janitor: it removes every expired lifeboat-verify-* resource tagged as restore-verification's",
            ));
        }
        return Ok(Command::Janitor(JanitorCommand {
            trigger,
            dry_run: m.dry_run,
        }));
    }
    if m.action == "restore" {
        let args: RestoreArgs = m.args("a restore command has action, dry_run, only and run_id")?;
        let run_id = match args.run_id {
            None => None,
            Some(id)
                if !id.is_empty()
                    && id.len() <= 64
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                Some(id)
            }
            Some(other) => {
                return Err(Error::event(
                    "event.run_id",
                    format!(
                        "a run id like 20261121T030000Z-1a2b3c4d, got {}",
                        excerpt_str(&other)
                    ),
                ))
            }
        };
        let known: Vec<&str> = policy
            .components
            .iter()
            .filter(|c| c.verify.is_some())
            .map(|c| c.name.as_str())
            .collect();
        check_only(&m.only, &known, "a component with verify in the policy")?;
        if policy.verification.restore.is_none() {
            return Err(Error::policy(
                "verification.restore",
                "the restore target (subnet group, security groups): restore was asked for",
            ));
        }
        return Ok(Command::Restore(RestoreCommand {
            dry_run: m.dry_run,
            only: m.only.clone(),
            run_id,
            trigger,
        }));
    }
    let args: SweepArgs =
        m.args("a sweep command has action, dry_run, only, sample_rate and repair")?;
    let sample_rate = match args.sample_rate {
        None => None,
        Some(r) if r > 0.0 && r <= 1.0 => Some(r),
        Some(r) => {
            return Err(Error::event(
                "event.sample_rate",
                format!("a share above 0 and at most 1, got {r}"),
            ))
        }
    };
    let known: Vec<&str> = policy
        .verification
        .sweeps
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    check_only(&m.only, &known, "a sweep named in the policy")?;
    Ok(Command::Sweep(SweepCommand {
        trigger: trigger.clone(),
        dry_run: m.dry_run,
        only: m.only.clone(),
        sample_rate,
        repair: args.repair,
    }))
}

/// Every name in `only` must be one of `known`: `event.only[i]: <what> (a, b), got "x"`. The
/// trigger has already refused names that could never match anything (empty, over-long, other
/// characters than letters, digits and hyphens), in the same words as snapshot-export; here a
/// well-formed name the policy does not have is refused too, since restore-verification's `only`
/// names only the policy's components and sweeps (snapshot-export's may also be resource ids,
/// so it can tell only after its inventory).
fn check_only(only: &[String], known: &[&str], what: &str) -> Result<()> {
    for (i, name) in only.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(Error::event(
                format!("event.only[{i}]"),
                format!("{what} ({}), got {}", listing(known), excerpt_str(name)),
            ));
        }
    }
    Ok(())
}

/// The first few names and how many more: an error stays short however large the policy.
fn listing(names: &[&str]) -> String {
    const SHOWN: usize = 5;
    let mut out: Vec<String> = names.iter().take(SHOWN).map(|n| bounded(n, 24)).collect();
    if names.len() > SHOWN {
        out.push(format!("and {} more", names.len() - SHOWN));
    }
    if out.is_empty() {
        "none".to_string()
    } else {
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> Policy {
        Policy::parse("version: 1\nbuckets: {backup: b-1}\ncomponents:\n  - {name: orders-db, kind: rds-instance, ids: [db-1], database: {name: shop, secret_arn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf'}, verify: {every: 1d}}\nverification:\n  restore: {db_subnet_group: restore, security_group_ids: [sg-0123abcd]}\n  sweeps:\n    - {name: crr, source: {bucket: b-1}, replica: {bucket: b-2}}\n").unwrap()
    }

    #[test]
    fn sweep_commands_and_their_errors() {
        let p = policy();
        let Command::Sweep(c) = parse(
            &json!({"action": "sweep", "repair": true, "sample_rate": 1, "only": ["crr"]}),
            &p,
        )
        .unwrap() else {
            panic!("a sweep")
        };
        assert!(c.repair && c.sample_rate == Some(1.0) && !c.dry_run);
        let e = parse(&json!({"action": "sweep", "sample_rate": 2}), &p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid event: event.sample_rate: a share above 0 and at most 1"),
            "{e}"
        );
        let e = parse(&json!({"action": "sweep", "only": ["nope"]}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("event.only[0]: a sweep named in the policy (crr)"),
            "{e}"
        );
        let e = parse(&json!({"action": "sweep", "repare": true}), &p).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid event: event.repare: no such field"),
            "{e}"
        );
        let e = parse(&json!({"action": "sweep", "repair": "yes"}), &p).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid event: event.repair: "),
            "{e}"
        );
        let e = parse(&json!({"action": "restores"}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("one of restore, sweep, janitor, preflight for restore-verification"),
            "{e}"
        );
        let bare = Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        let e = parse(&json!({"action": "restore"}), &bare).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("invalid policy: verification.restore"),
            "{e}"
        );
        let e = parse(&json!({"action": "restore", "only": ["catalog"]}), &p).unwrap_err();
        assert!(
            e.to_string()
                .contains("event.only[0]: a component with verify in the policy (orders-db)"),
            "{e}"
        );
        let Command::Restore(r) = parse(
            &json!({"action": "restore", "run_id": "20261121T030000Z-7b1e2f40"}),
            &p,
        )
        .unwrap() else {
            panic!("a restore")
        };
        assert_eq!(r.run_id.as_deref(), Some("20261121T030000Z-7b1e2f40"));
        let e = parse(
            &json!({"action": "restore", "run_id": "x".repeat(5000)}),
            &p,
        )
        .unwrap_err();
        assert!(
            e.to_string().len() < 200,
            "errors quote a short excerpt: {e}"
        );
    }

    #[test]
    fn the_janitor_command_is_accepted_with_dry_run_and_names_unknown_fields() {
        // Given a policy (the janitor needs no restore target) and janitor commands
        let bare = Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        for p in [policy(), bare] {
            // When a plain janitor command is parsed
            let Command::Janitor(c) = parse(&json!({"action": "janitor"}), &p).unwrap() else {
                panic!("a janitor command")
            };
            // Then it is a real run from a manual trigger
            assert!(!c.dry_run);
            assert!(matches!(c.trigger, Trigger::Manual(_)));
            // And with dry_run it only plans
            let Command::Janitor(d) =
                parse(&json!({"action": "janitor", "dry_run": true}), &p).unwrap()
            else {
                panic!("a janitor dry run")
            };
            assert!(d.dry_run);
        }
        // And an unknown field is named, with the fields a janitor command has
        let e = parse(&json!({"action": "janitor", "repair": true}), &policy())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("invalid event: event.repair: no such field: a janitor command has action and dry_run"),
            "{e}"
        );
        // And `only` is refused: the janitor is never partial
        let e = parse(
            &json!({"action": "janitor", "only": ["orders-db"]}),
            &policy(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("invalid event: event.only: "), "{e}");
        // And dry_run must be a boolean
        let e = parse(&json!({"action": "janitor", "dry_run": "yes"}), &policy())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid event: event.dry_run"), "{e}");
    }

    #[test]
    fn only_names_are_checked_for_characters_before_the_policy() {
        // Given `only` entries that can never be a component or sweep name
        let p = policy();
        for action in ["restore", "sweep"] {
            for (only, field) in [
                (json!(["orders db"]), "event.only[0]"),
                (json!(["orders-db", ""]), "event.only[1]"),
                (json!(["a".repeat(64)]), "event.only[0]"),
                (json!(vec!["orders-db"; 101]), "event.only"),
            ] {
                // When the command is parsed
                let e = parse(&json!({"action": action, "only": only}), &p)
                    .unwrap_err()
                    .to_string();
                // Then the character rules name the entry, as in snapshot-export, before the
                // policy is asked
                assert!(e.starts_with(&format!("invalid event: {field}: ")), "{e}");
                assert!(!e.contains("in the policy"), "{e}");
            }
        }
    }

    #[test]
    fn errors_quote_at_most_a_short_excerpt_and_no_internal_names() {
        // Given a policy with many sweeps, and commands with long or mistyped values
        let mut text = "version: 1\nbuckets: {backup: b-1}\nverification:\n  sweeps:\n".to_string();
        for i in 0..2000 {
            text.push_str(&format!(
                "    - {{name: sweep-{i}-{}, source: {{bucket: b-1}}, replica: {{bucket: b-2}}}}\n",
                "n".repeat(40)
            ));
        }
        let many = Policy::parse(&text).unwrap();
        let huge = "x".repeat(5_000_000);
        for (event, p) in [
            (json!({"action": "sweep", "only": ["nope"]}), &many),
            (json!({"action": "restore", "run_id": huge}), &policy()),
            (json!({"action": "sweep", "sample_rate": huge}), &policy()),
            (json!({"action": huge}), &policy()),
        ] {
            // When parsed
            let e = parse(&event, p).unwrap_err().to_string();
            // Then the error is short
            assert!(e.len() < 300, "{} bytes: {}", e.len(), &e[..300]);
        }
        // And a number's error says "a number", not a Rust type
        let e = parse(&json!({"action": "sweep", "sample_rate": "all"}), &policy())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid event: event.sample_rate: "), "{e}");
        assert!(!e.contains("f64"), "{e}");
        // And a backup job says which event this function takes
        let backup: Value = serde_json::from_str(include_str!(
            "../../../events/triggers/backup-job-completed.json"
        ))
        .unwrap();
        let e = parse(&backup, &policy()).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid event: event.detail-type: Restore Job State Change"),
            "{e}"
        );
        assert!(e.contains("got Backup Job State Change"), "{e}");
    }

    #[test]
    fn an_alarm_is_not_a_trigger_of_this_function_in_the_readmes_words() {
        let alarm: Value =
            serde_json::from_str(include_str!("../../../events/triggers/alarm-sns.json")).unwrap();
        let e = parse(&alarm, &policy()).unwrap_err().to_string();
        assert!(
            e.contains("restore-verification is started by schedule or an AWS Backup job event or a manual command"),
            "{e}"
        );
        assert!(!e.contains("backup_job"), "no internal names: {e}");
    }

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let read =
            lifeboat_shared::trigger::check_sample_events("restore-verification", |v: &Value| {
                parse(v, &policy())
            });
        assert!(read >= 2);
    }
}
