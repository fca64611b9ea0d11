//! Every way a Lifeboat function is started, parsed into one type before any AWS call.
//!
//! Accepted shapes:
//! - EventBridge scheduled event (`source: aws.events`, `detail-type: Scheduled Event`)
//! - CloudWatch alarm state change through EventBridge (`detail-type: CloudWatch Alarm State Change`)
//! - CloudWatch alarm notification delivered by SNS (`Records[].Sns.Message` holds the alarm JSON)
//! - CloudWatch alarm direct Lambda action (`source: aws.cloudwatch`, `alarmData`)
//! - AWS Backup job state changes (`source: aws.backup`: backup, restore and copy jobs)
//! - a manual command typed into the console: `{"action": "...", "dry_run": true, ...}`

use aws_lambda_events::event::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmStateValue,
};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// How the function was started.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    Schedule(Schedule),
    Alarm(Alarm),
    BackupJob(BackupJob),
    Manual(Manual),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// The time the schedule fired: the period a scheduled run belongs to comes from it.
    pub time: DateTime<Utc>,
    /// The EventBridge rule or scheduler ARN(s) that fired.
    pub rules: Vec<String>,
    pub event_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmDelivery {
    EventBridge,
    Sns,
    LambdaAction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub arn: Option<String>,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    pub time: DateTime<Utc>,
    pub delivery: AlarmDelivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupJobKind {
    Backup,
    Restore,
    Copy,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BackupJob {
    pub kind: BackupJobKind,
    pub job_id: String,
    /// `state` (backup, copy) or `status` (restore) as AWS Backup sends it, e.g. `COMPLETED`.
    pub state: String,
    pub resource_arn: Option<String>,
    pub recovery_point_arn: Option<String>,
    pub created_resource_arn: Option<String>,
    pub restore_testing_plan_arn: Option<String>,
    pub time: DateTime<Utc>,
    pub detail: Value,
}

/// A command typed into the console, e.g. `{"action": "run", "dry_run": true}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manual {
    pub action: String,
    pub dry_run: bool,
    /// Restrict the run to these policy components or resource ids (empty: all).
    pub only: Vec<String>,
    /// The other fields, for the function's own arguments.
    pub args: Map<String, Value>,
}

impl Trigger {
    /// Parses an invocation payload. Errors name the field and what was expected.
    pub fn parse(payload: &Value) -> Result<Trigger> {
        let obj = payload.as_object().ok_or_else(|| {
            Error::event(
                "event",
                format!("a JSON object (scheduled event, alarm, AWS Backup event or manual command {{\"action\": ...}}), got {}", kind_of(payload)),
            )
        })?;

        if obj.contains_key("action") {
            return parse_manual(obj);
        }
        if let Some(records) = obj.get("Records") {
            return parse_sns(payload, records);
        }
        if obj.contains_key("alarmData") {
            let alarm: CloudWatchAlarm = typed(payload, "CloudWatch alarm action")?;
            return Ok(Trigger::Alarm(alarm_from_data(
                alarm.alarm_data,
                alarm.alarm_arn,
                alarm.time,
                AlarmDelivery::LambdaAction,
                "event.alarmData",
            )?));
        }
        let source = obj.get("source").and_then(Value::as_str);
        let detail_type = obj.get("detail-type").and_then(Value::as_str);
        match (source, detail_type) {
            (Some("aws.events") | Some("aws.scheduler"), Some("Scheduled Event")) => {
                let ev: EventBridgeEvent<Value> = typed(payload, "EventBridge scheduled event")?;
                let time = ev
                    .time
                    .ok_or_else(|| Error::event("event.time", "an RFC 3339 time"))?;
                Ok(Trigger::Schedule(Schedule {
                    time,
                    rules: ev.resources.unwrap_or_default(),
                    event_id: ev.id,
                }))
            }
            (Some("aws.cloudwatch"), Some("CloudWatch Alarm State Change")) => {
                let ev: EventBridgeEvent<CloudWatchAlarmData> =
                    typed(payload, "CloudWatch Alarm State Change event")?;
                let time = ev
                    .time
                    .ok_or_else(|| Error::event("event.time", "an RFC 3339 time"))?;
                let arn = ev.resources.and_then(|r| r.into_iter().next());
                Ok(Trigger::Alarm(alarm_from_data(
                    ev.detail,
                    arn,
                    time,
                    AlarmDelivery::EventBridge,
                    "event.detail",
                )?))
            }
            (Some("aws.backup"), Some(dt)) => parse_backup(payload, dt),
            (Some(src), Some(dt)) => Err(Error::event(
                "event.detail-type",
                format!("a Scheduled Event, CloudWatch Alarm State Change or AWS Backup job state change, got source {src:?} detail-type {dt:?}"),
            )),
            _ => Err(Error::event(
                "event",
                format!(
                    "an EventBridge event (source + detail-type), an SNS alarm notification (Records), a CloudWatch alarm action (alarmData) or a manual command with \"action\"; got an object with fields [{}]",
                    obj.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// A short human description for reports and logs.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Schedule(s) => match s.rules.first() {
                Some(rule) => format!("schedule {} at {}", short_arn(rule), s.time.to_rfc3339()),
                None => format!("schedule at {}", s.time.to_rfc3339()),
            },
            Trigger::Alarm(a) => format!("alarm {} {:?} ({:?})", a.name, a.state, a.delivery),
            Trigger::BackupJob(j) => {
                format!("AWS Backup {:?} job {} {}", j.kind, j.job_id, j.state)
            }
            Trigger::Manual(m) => format!(
                "manual {}{}",
                m.action,
                if m.dry_run { " (dry run)" } else { "" }
            ),
        }
    }

    pub fn dry_run(&self) -> bool {
        matches!(self, Trigger::Manual(m) if m.dry_run)
    }

    /// The time the trigger speaks for, where it carries one.
    pub fn event_time(&self) -> Option<DateTime<Utc>> {
        match self {
            Trigger::Schedule(s) => Some(s.time),
            Trigger::Alarm(a) => Some(a.time),
            Trigger::BackupJob(j) => Some(j.time),
            Trigger::Manual(_) => None,
        }
    }

    /// Which of the four ways of starting a function this is.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Schedule(_) => TriggerKind::Schedule,
            Trigger::Alarm(_) => TriggerKind::Alarm,
            Trigger::BackupJob(_) => TriggerKind::BackupJob,
            Trigger::Manual(_) => TriggerKind::Manual,
        }
    }

    /// Rejects a trigger kind or manual action this function does not handle, in the README's
    /// words: `snapshot-export is started by a schedule or a manual command; got ...`.
    pub fn expect(&self, function: &str, kinds: &[TriggerKind], actions: &[&str]) -> Result<()> {
        if let Trigger::Manual(m) = self {
            if actions.contains(&m.action.as_str()) {
                return Ok(());
            }
            return Err(Error::event(
                "event.action",
                format!(
                    "one of {} for {function}, got {}",
                    actions.join(", "),
                    excerpt_str(&m.action)
                ),
            ));
        }
        if kinds.contains(&self.kind()) {
            return Ok(());
        }
        let mut accepted: Vec<String> = kinds
            .iter()
            .filter(|k| **k != TriggerKind::Manual)
            .map(|k| k.to_string())
            .collect();
        accepted.push(TriggerKind::Manual.to_string());
        Err(Error::event(
            "event",
            format!(
                "{function} is started by {}; got {}",
                accepted.join(" or "),
                self.describe()
            ),
        ))
    }
}

/// The four ways a Lifeboat function is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    Schedule,
    Alarm,
    BackupJob,
    Manual,
}

impl std::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TriggerKind::Schedule => "schedule",
            TriggerKind::Alarm => "a CloudWatch alarm",
            TriggerKind::BackupJob => "an AWS Backup job event",
            TriggerKind::Manual => "a manual command",
        })
    }
}

impl Manual {
    /// The command's own fields (all but `action`, `dry_run` and `only`) as the function's typed
    /// arguments: `T` is a serde struct with `deny_unknown_fields`, so a misspelt field is named
    /// (`event.repare: no such field: <fields>`), and a wrong type names its path. `fields` says
    /// what the command has, e.g. "a sweep command has action, dry_run, only and repair".
    pub fn args<T: DeserializeOwned>(&self, fields: &str) -> Result<T> {
        let value = Value::Object(self.args.clone());
        serde_path_to_error::deserialize(&value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.inner().to_string();
            // serde names an unknown field in the message, not in the path.
            match unknown_field(&inner) {
                Some(name) => Error::event(format!("event.{name}"), format!("no such field: {fields}")),
                None if path == "." => Error::event("event", bounded(&inner, 200)),
                None => Error::event(format!("event.{path}"), bounded(&inner, 200)),
            }
        })
    }
}

/// `unknown field `x`, expected ...` -> `x` (bounded: the name came from outside).
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let name = &rest[..rest.find('`')?];
    Some(bounded(name, 40))
}

/// At most `max` characters of outside text, marked when cut.
pub fn bounded(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("...");
    out
}

/// A short, quoted excerpt of a string that came from outside, for error messages.
pub fn excerpt_str(s: &str) -> String {
    format!("{:?}", bounded(s, 40))
}

fn parse_manual(obj: &Map<String, Value>) -> Result<Trigger> {
    let action = match obj.get("action") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        Some(Value::String(_)) => {
            return Err(Error::event(
                "event.action",
                "a non-empty string naming the command, got a blank string",
            ))
        }
        other => {
            return Err(Error::event(
                "event.action",
                format!(
                    "a non-empty string naming the command, got {}",
                    other.map(kind_of).unwrap_or("nothing")
                ),
            ))
        }
    };
    let dry_run = match obj.get("dry_run") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(Error::event(
                "event.dry_run",
                format!("true or false, got {}", kind_of(other)),
            ))
        }
    };
    let only = match obj.get("only") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    Error::event(
                        format!("event.only[{i}]"),
                        format!("a component name or resource id, got {}", kind_of(v)),
                    )
                })
            })
            .collect::<Result<_>>()?,
        Some(other) => {
            return Err(Error::event(
                "event.only",
                format!(
                    "a list of component names or resource ids, got {}",
                    kind_of(other)
                ),
            ))
        }
    };
    let mut args = obj.clone();
    for k in ["action", "dry_run", "only"] {
        args.remove(k);
    }
    Ok(Trigger::Manual(Manual {
        action,
        dry_run,
        only,
        args,
    }))
}

/// CloudWatch's classic alarm notification, as the SNS message body.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarmMessage {
    alarm_name: String,
    new_state_value: String,
    #[serde(default)]
    new_state_reason: String,
    #[serde(default)]
    old_state_value: Option<String>,
    state_change_time: String,
    #[serde(default)]
    alarm_arn: Option<String>,
}

fn parse_sns(payload: &Value, records: &Value) -> Result<Trigger> {
    let n = records.as_array().map(Vec::len).unwrap_or(0);
    if n != 1 {
        return Err(Error::event(
            "event.Records",
            format!("exactly one SNS record carrying a CloudWatch alarm notification, got {n}"),
        ));
    }
    let ev: SnsEvent = typed(payload, "SNS notification")?;
    let record = &ev.records[0];
    if record.event_source != "aws:sns" {
        return Err(Error::event(
            "event.Records[0].EventSource",
            format!("\"aws:sns\", got {:?}", record.event_source),
        ));
    }
    let msg: SnsAlarmMessage = serde_json::from_str(&record.sns.message).map_err(|e| {
        Error::event(
            "event.Records[0].Sns.Message",
            format!("a CloudWatch alarm notification (JSON with AlarmName, NewStateValue, StateChangeTime): {e}"),
        )
    })?;
    let state = alarm_state_str(
        &msg.new_state_value,
        "event.Records[0].Sns.Message.NewStateValue",
    )?;
    let previous_state = msg
        .old_state_value
        .as_deref()
        .map(|s| alarm_state_str(s, "event.Records[0].Sns.Message.OldStateValue"))
        .transpose()?;
    let time = parse_cloudwatch_time(&msg.state_change_time).ok_or_else(|| {
        Error::event(
            "event.Records[0].Sns.Message.StateChangeTime",
            format!(
                "a time like 2026-11-21T10:15:00.000+0000, got {:?}",
                msg.state_change_time
            ),
        )
    })?;
    Ok(Trigger::Alarm(Alarm {
        name: msg.alarm_name,
        arn: msg.alarm_arn,
        state,
        previous_state,
        reason: msg.new_state_reason,
        time,
        delivery: AlarmDelivery::Sns,
    }))
}

fn parse_backup(payload: &Value, detail_type: &str) -> Result<Trigger> {
    let (kind, id_field, state_field) = match detail_type {
        "Backup Job State Change" => (BackupJobKind::Backup, "backupJobId", "state"),
        "Restore Job State Change" => (BackupJobKind::Restore, "restoreJobId", "status"),
        "Copy Job State Change" => (BackupJobKind::Copy, "copyJobId", "state"),
        other => {
            return Err(Error::event(
                "event.detail-type",
                format!("Backup Job State Change, Restore Job State Change or Copy Job State Change, got {other:?}"),
            ))
        }
    };
    let ev: EventBridgeEvent<Map<String, Value>> = typed(payload, "AWS Backup event")?;
    let time = ev
        .time
        .ok_or_else(|| Error::event("event.time", "an RFC 3339 time"))?;
    let detail = ev.detail;
    let text = |field: &str| {
        detail
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let job_id = text(id_field)
        .ok_or_else(|| Error::event(format!("event.detail.{id_field}"), "the job id string"))?;
    let state = text(state_field).ok_or_else(|| {
        Error::event(
            format!("event.detail.{state_field}"),
            "the job state string, e.g. COMPLETED",
        )
    })?;
    Ok(Trigger::BackupJob(BackupJob {
        kind,
        job_id,
        state,
        resource_arn: text("resourceArn"),
        recovery_point_arn: text("recoveryPointArn"),
        created_resource_arn: text("createdResourceArn"),
        restore_testing_plan_arn: text("restoreTestingPlanArn"),
        time,
        detail: Value::Object(detail),
    }))
}

fn alarm_from_data(
    data: CloudWatchAlarmData,
    arn: Option<String>,
    time: DateTime<Utc>,
    delivery: AlarmDelivery,
    at: &str,
) -> Result<Alarm> {
    let state = data
        .state
        .ok_or_else(|| Error::event(format!("{at}.state"), "the alarm's new state"))?;
    Ok(Alarm {
        name: data.alarm_name,
        arn,
        state: alarm_state(state.value),
        previous_state: data.previous_state.map(|s| alarm_state(s.value)),
        reason: state.reason,
        time,
        delivery,
    })
}

fn alarm_state(v: CloudWatchAlarmStateValue) -> AlarmState {
    match v {
        CloudWatchAlarmStateValue::Ok => AlarmState::Ok,
        CloudWatchAlarmStateValue::Alarm => AlarmState::Alarm,
        // INSUFFICIENT_DATA, and any state a later CloudWatch may add: not a confirmed alarm.
        _ => AlarmState::InsufficientData,
    }
}

fn alarm_state_str(s: &str, field: &str) -> Result<AlarmState> {
    match s {
        "OK" => Ok(AlarmState::Ok),
        "ALARM" => Ok(AlarmState::Alarm),
        "INSUFFICIENT_DATA" => Ok(AlarmState::InsufficientData),
        other => Err(Error::event(
            field,
            format!("one of OK, ALARM, INSUFFICIENT_DATA, got {other:?}"),
        )),
    }
}

/// CloudWatch writes `2026-11-21T10:15:00.000+0000` in SNS notifications.
fn parse_cloudwatch_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3f%z"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Deserializes with the failing path in the message (`event.detail.state.value: ...`).
fn typed<T: DeserializeOwned>(payload: &Value, what: &str) -> Result<T> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "event".to_string()
        } else {
            format!("event.{path}")
        };
        Error::event(field, format!("a valid {what}: {}", e.inner()))
    })
}

fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn manual_command_defaults_to_a_real_run() {
        let t = Trigger::parse(&json!({"action": "run"})).unwrap();
        assert!(!t.dry_run());
        assert!(matches!(t, Trigger::Manual(Manual { ref action, .. }) if action == "run"));
    }

    #[test]
    fn manual_dry_run_must_be_boolean() {
        let err = Trigger::parse(&json!({"action": "run", "dry_run": "yes"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event: event.dry_run: true or false, got a string"
        );
    }

    #[test]
    fn manual_only_lists_strings() {
        let err = Trigger::parse(&json!({"action": "run", "only": ["a", 3]})).unwrap_err();
        assert!(err.to_string().contains("event.only[1]"), "{err}");
    }

    #[test]
    fn non_object_is_rejected() {
        let err = Trigger::parse(&json!([1, 2])).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("invalid event: event: a JSON object"));
    }

    #[test]
    fn unknown_eventbridge_source_names_detail_type() {
        let err = Trigger::parse(&json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}})).unwrap_err();
        assert!(err.to_string().contains("event.detail-type"), "{err}");
    }

    #[test]
    fn sns_alarm_time_format() {
        let t = parse_cloudwatch_time("2026-11-21T10:15:00.000+0000").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-21T10:15:00+00:00");
    }

    #[test]
    fn expect_rejects_other_kinds_by_name() {
        let t = Trigger::parse(&json!({"action": "failover"})).unwrap();
        let err = t
            .expect("snapshot-export", &[TriggerKind::Schedule], &["run", "plan"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event: event.action: one of run, plan for snapshot-export, got \"failover\""
        );
    }

    fn event_files(dir: &str) -> Vec<(String, Value)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../events")
            .join(dir);
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&root).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            ));
        }
        assert!(!out.is_empty(), "no events in {}", root.display());
        out
    }

    #[test]
    fn every_sample_trigger_in_events_parses() {
        for dir in ["triggers", "snapshot-export", "restore-verification"] {
            for (path, v) in event_files(dir) {
                if path.contains("malformed-") {
                    continue; // function-level rejections: tested by that function
                }
                Trigger::parse(&v).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
    }

    #[test]
    fn every_malformed_event_is_rejected_with_a_named_field() {
        for (path, v) in event_files("malformed") {
            let err = Trigger::parse(&v).expect_err(&path).to_string();
            assert!(err.starts_with("invalid event: event"), "{path}: {err}");
        }
    }

    #[test]
    fn alarm_through_eventbridge() {
        let v: Value =
            serde_json::from_str(include_str!("../../events/triggers/alarm-eventbridge.json"))
                .unwrap();
        let Trigger::Alarm(a) = Trigger::parse(&v).unwrap() else {
            panic!("not an alarm")
        };
        assert_eq!(
            (a.name.as_str(), a.state, a.previous_state, a.delivery),
            (
                "ecommerce-prod-db-down",
                AlarmState::Alarm,
                Some(AlarmState::Ok),
                AlarmDelivery::EventBridge
            )
        );
        assert_eq!(
            a.arn.as_deref(),
            Some("arn:aws:cloudwatch:us-east-1:123456789012:alarm:ecommerce-prod-db-down")
        );
    }

    #[test]
    fn alarm_through_sns() {
        let v: Value =
            serde_json::from_str(include_str!("../../events/triggers/alarm-sns.json")).unwrap();
        let Trigger::Alarm(a) = Trigger::parse(&v).unwrap() else {
            panic!("not an alarm")
        };
        assert_eq!(
            (a.name.as_str(), a.state, a.delivery),
            ("s3-replication-lag", AlarmState::Alarm, AlarmDelivery::Sns)
        );
        assert_eq!(a.time.to_rfc3339(), "2026-11-21T10:15:00+00:00");
    }

    #[test]
    fn alarm_as_direct_lambda_action() {
        let v: Value = serde_json::from_str(include_str!(
            "../../events/triggers/alarm-lambda-action.json"
        ))
        .unwrap();
        let Trigger::Alarm(a) = Trigger::parse(&v).unwrap() else {
            panic!("not an alarm")
        };
        assert_eq!(
            (a.state, a.delivery),
            (AlarmState::Alarm, AlarmDelivery::LambdaAction)
        );
    }

    #[test]
    fn backup_and_restore_jobs() {
        let v: Value = serde_json::from_str(include_str!(
            "../../events/triggers/backup-job-completed.json"
        ))
        .unwrap();
        let Trigger::BackupJob(j) = Trigger::parse(&v).unwrap() else {
            panic!("not a job")
        };
        assert_eq!(
            (j.kind, j.state.as_str()),
            (BackupJobKind::Backup, "COMPLETED")
        );
        let v: Value = serde_json::from_str(include_str!(
            "../../events/triggers/restore-job-completed.json"
        ))
        .unwrap();
        let Trigger::BackupJob(j) = Trigger::parse(&v).unwrap() else {
            panic!("not a job")
        };
        assert_eq!(j.kind, BackupJobKind::Restore);
        assert!(j.restore_testing_plan_arn.is_some() && j.created_resource_arn.is_some());
    }

    #[test]
    fn schedule_keeps_time_and_rule() {
        let v: Value =
            serde_json::from_str(include_str!("../../events/snapshot-export/schedule.json"))
                .unwrap();
        let Trigger::Schedule(s) = Trigger::parse(&v).unwrap() else {
            panic!("not a schedule")
        };
        assert_eq!(s.time.to_rfc3339(), "2026-11-21T03:00:00+00:00");
        assert_eq!(
            s.event_id.as_deref(),
            Some("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa")
        );
    }
}
