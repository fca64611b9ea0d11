//! What starts cost-anomaly: its daily schedule (the day before the schedule's time, the last
//! whole UTC day), or a manual command — `{"action": "cost"}` with `"dry_run": true` (read,
//! model and report; no history, no alert state written), `"only": [component names]` (the
//! breakdown, anomalies and savings of those components; the history still records every
//! component) and `"date": "2026-12-01"` (re-evaluate a past day from the stored history:
//! nothing is read from the account and nothing written) — or `{"action": "preflight"}`.
//! Parsed before any AWS call; errors name the field.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use lifeboat_shared::trigger::{Trigger, TriggerKind};
use lifeboat_shared::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::FUNCTION;

pub const ACTIONS: [&str; 2] = ["cost", lifeboat_shared::preflight::ACTION];

/// How far back a day can be re-evaluated: Cost Explorer keeps 14 months.
pub const OLDEST_DAYS: i64 = 400;

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub trigger: Trigger,
    pub dry_run: bool,
    pub only: Vec<String>,
    /// The day evaluated.
    pub day: NaiveDate,
    /// A past day asked for with `date`: re-evaluated from history, nothing read or written.
    pub past: bool,
    /// Asked by a person: the report is emailed even when nothing changed.
    pub manual: bool,
    pub preflight: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostArgs {
    #[serde(default)]
    date: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoArgs {}

/// The last whole UTC day before `t`.
pub fn day_before(t: DateTime<Utc>) -> NaiveDate {
    (t - Duration::days(1)).date_naive()
}

pub fn parse(payload: &Value, now: DateTime<Utc>) -> Result<Command> {
    let trigger = Trigger::parse(payload)?;
    trigger.expect(FUNCTION, &[TriggerKind::Schedule], &ACTIONS)?;
    let latest = day_before(now);
    match &trigger {
        Trigger::Manual(m) if m.action == ACTIONS[1] => {
            let NoArgs {} = m.args("a preflight command has action and dry_run")?;
            lifeboat_shared::preflight::refuse_only(&m.only)?;
            Ok(Command {
                dry_run: true,
                only: Vec::new(),
                day: latest,
                past: false,
                manual: true,
                preflight: true,
                trigger,
            })
        }
        Trigger::Manual(m) => {
            let a: CostArgs = m.args("a cost command has action, dry_run, only and date")?;
            let (day, past) = match a.date.as_deref() {
                None => (latest, false),
                Some(text) => {
                    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
                        Error::event(
                            "event.date",
                            format!(
                                "a day like \"{latest}\", got {:?}",
                                lifeboat_shared::trigger::excerpt_str(text)
                            ),
                        )
                    })?;
                    if day > latest {
                        return Err(Error::event(
                            "event.date",
                            format!(
                                "a whole day: {latest} or earlier (today is not over), got {day}"
                            ),
                        ));
                    }
                    if (latest - day).num_days() > OLDEST_DAYS {
                        return Err(Error::event(
                            "event.date",
                            format!("a day within the last {OLDEST_DAYS} days, got {day}"),
                        ));
                    }
                    (day, day != latest)
                }
            };
            Ok(Command {
                dry_run: m.dry_run,
                only: m.only.clone(),
                day,
                past,
                manual: true,
                preflight: false,
                trigger,
            })
        }
        Trigger::Schedule(s) => Ok(Command {
            dry_run: false,
            only: Vec::new(),
            day: day_before(s.time),
            past: false,
            manual: false,
            preflight: false,
            trigger,
        }),
        _ => Err(Error::event(
            "event",
            "a schedule or a manual cost command".to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap()
    }

    #[test]
    fn every_sample_event_for_this_function_is_accepted_or_named() {
        let read =
            lifeboat_shared::trigger::check_sample_events("cost-anomaly", |v| parse(v, now()));
        assert!(read >= 4);
    }

    #[test]
    fn commands_and_their_errors() {
        let c = parse(&json!({"action": "cost"}), now()).unwrap();
        assert_eq!(c.day, NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
        assert!(c.manual && !c.past && !c.dry_run);
        let c = parse(&json!({"action": "cost", "date": "2026-12-01", "only": ["orders-db"], "dry_run": true}), now()).unwrap();
        assert!(c.past && c.dry_run);
        assert_eq!(c.only, vec!["orders-db"]);
        for (event, field) in [
            (json!({"action": "cost", "date": "yesterday"}), "event.date"),
            (
                json!({"action": "cost", "date": "2026-12-08"}),
                "event.date",
            ),
            (
                json!({"action": "cost", "date": "2020-01-01"}),
                "event.date",
            ),
            (json!({"action": "cost", "date": null}), "event.date"),
            (json!({"action": "cost", "day": "2026-12-01"}), "event.day"),
            (json!({"action": "costs"}), "event.action"),
            (json!({"action": "preflight", "only": ["x"]}), "event.only"),
        ] {
            let e = parse(&event, now()).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("invalid event: {field}")),
                "{event}: {e}"
            );
        }
    }
}
