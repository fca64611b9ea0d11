//! Every way a Lifeboat function is started, parsed into one type before any AWS call.
//!
//! Accepted shapes:
//! - EventBridge scheduled event (`source: aws.events`, `detail-type: Scheduled Event`)
//! - CloudWatch alarm state change through EventBridge (`detail-type: CloudWatch Alarm State Change`)
//! - CloudWatch alarm notification delivered by SNS (`Records[].Sns.Message` holds the alarm JSON)
//! - CloudWatch alarm direct Lambda action (`source: aws.cloudwatch`, `alarmData`)
//! - AWS Backup job state changes (`source: aws.backup`: backup, restore and copy jobs)
//! - a manual command typed into the console: `{"action": "...", "dry_run": true, ...}`
//!
//! Errors name the field and what was expected (`event.detail-type: a string such as ...`) and
//! quote at most a short excerpt of the event ([`excerpt_str`], [`bounded`]); serde's messages
//! go through [`plain_serde`] (short, no Rust type names) with [`field_path`] naming the field.

use aws_lambda_events::event::cloudwatch_alarms::{
    CloudWatchAlarm, CloudWatchAlarmData, CloudWatchAlarmStateValue,
};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

mod excerpt;
use excerpt::*;
pub use excerpt::{bounded, excerpt_str, field_path, plain_serde};

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

impl AlarmState {
    /// CloudWatch's word for the state: `OK`, `ALARM`, `INSUFFICIENT_DATA`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmState::Ok => "OK",
            AlarmState::Alarm => "ALARM",
            AlarmState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmDelivery {
    EventBridge,
    Sns,
    LambdaAction,
}

impl AlarmDelivery {
    /// How the alarm arrived, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            AlarmDelivery::EventBridge => "through EventBridge",
            AlarmDelivery::Sns => "through SNS",
            AlarmDelivery::LambdaAction => "as the alarm's Lambda action",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alarm {
    pub name: String,
    pub arn: Option<String>,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    /// When the alarm entered this state (the state's timestamp; SNS: StateChangeTime).
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

impl BackupJobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupJobKind::Backup => "backup",
            BackupJobKind::Restore => "restore",
            BackupJobKind::Copy => "copy",
        }
    }
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

/// A command typed into the console, e.g. `{"action": "run", "dry_run": true}`. A null for any
/// of its fields is refused, naming the field (a field left out takes its default).
#[derive(Debug, Clone, PartialEq)]
pub struct Manual {
    pub action: String,
    pub dry_run: bool,
    /// Restrict the run to these policy components or resource ids (empty: all). Each is 1 to
    /// [`ONLY_MAX_LEN`] ASCII letters, digits and hyphens, at most [`ONLY_MAX_NAMES`] of them:
    /// anything else could never match a component, a sweep or an RDS/ElastiCache identifier,
    /// and is refused here naming `event.only[i]`. Whether a name matches is the function's
    /// business (restore-verification: against the policy; snapshot-export: after its
    /// inventory, since a name may also be a resource id).
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

        // A manual command, also when its `action` is what is missing.
        if ["action", "dry_run", "only"]
            .iter()
            .any(|k| obj.contains_key(*k))
        {
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
        if !obj.contains_key("source") && !obj.contains_key("detail-type") {
            let mut fields: Vec<String> = obj
                .keys()
                .take(5)
                .map(|k| format!("{:?}", bounded(k, 20)))
                .collect();
            if obj.len() > fields.len() {
                fields.push(format!("and {} more", obj.len() - fields.len()));
            }
            return Err(Error::event(
                "event",
                format!(
                    "an EventBridge event (source + detail-type), an SNS alarm notification (Records), a CloudWatch alarm action (alarmData) or a manual command with \"action\"; got an object with fields [{}]",
                    fields.join(", ")
                ),
            ));
        }
        let (source, detail_type) = eventbridge_kind(obj)?;
        match (source, detail_type) {
            ("aws.events" | "aws.scheduler", "Scheduled Event") => {
                let time = eventbridge_time_and_detail(obj)?;
                let ev: EventBridgeEvent<Value> = typed(payload, "EventBridge scheduled event")?;
                Ok(Trigger::Schedule(Schedule {
                    time,
                    rules: ev.resources.unwrap_or_default(),
                    event_id: ev.id,
                }))
            }
            ("aws.cloudwatch", "CloudWatch Alarm State Change") => {
                let time = eventbridge_time_and_detail(obj)?;
                let ev: EventBridgeEvent<CloudWatchAlarmData> =
                    typed(payload, "CloudWatch Alarm State Change event")?;
                let arn = ev.resources.and_then(|r| r.into_iter().next());
                Ok(Trigger::Alarm(alarm_from_data(
                    ev.detail,
                    arn,
                    time,
                    AlarmDelivery::EventBridge,
                    "event.detail",
                )?))
            }
            ("aws.backup", dt) => parse_backup(payload, obj, dt),
            (src, dt) => Err(Error::event(
                "event.detail-type",
                format!(
                    "a Scheduled Event, CloudWatch Alarm State Change or AWS Backup job state change, got source {} detail-type {}",
                    excerpt_str(src),
                    excerpt_str(dt)
                ),
            )),
        }
    }

    /// A short human description for reports and logs.
    /// Outside text in it (names, ids) is cut to a short excerpt.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Schedule(s) => match s.rules.first() {
                Some(rule) => format!(
                    "schedule {} at {}",
                    bounded(short_arn(rule), 64),
                    s.time.to_rfc3339()
                ),
                None => format!("schedule at {}", s.time.to_rfc3339()),
            },
            Trigger::Alarm(a) => format!(
                "CloudWatch alarm {} in {} ({})",
                bounded(&a.name, 64),
                a.state.as_str(),
                a.delivery.as_str()
            ),
            Trigger::BackupJob(j) => format!(
                "AWS Backup {} job {} {}",
                j.kind.as_str(),
                bounded(&j.job_id, 64),
                bounded(&j.state, 32)
            ),
            Trigger::Manual(m) => format!(
                "manual {}{}",
                bounded(&m.action, ACTION_MAX_LEN),
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
    ///
    /// A null for any field is refused naming it, as for `dry_run` and `only`: a field left out
    /// takes its default, a null is not read as "left out".
    pub fn args<T: DeserializeOwned>(&self, fields: &str) -> Result<T> {
        let value = Value::Object(self.args.clone());
        let parsed = serde_path_to_error::deserialize(&value).map_err(|e| {
            let inner = e.inner().to_string();
            // serde names an unknown field in the message, not in the path.
            match unknown_field(&inner) {
                Some(name) => {
                    Error::event(format!("event.{name}"), format!("no such field: {fields}"))
                }
                None => Error::event(
                    field_path("event", e.path()),
                    plain_serde(&inner, "an object"),
                ),
            }
        })?;
        // After the typed read, so a misspelt field is named as such even when it is null.
        if let Some((name, _)) = self.args.iter().find(|(_, v)| v.is_null()) {
            return Err(null_field(name));
        }
        Ok(parsed)
    }
}

/// The longest manual `action` accepted: every action is a short word.
pub const ACTION_MAX_LEN: usize = 64;
/// The most names a manual command's `only` may list.
pub const ONLY_MAX_NAMES: usize = 100;
/// The longest name `only` may hold: RDS identifiers and the policy's component and sweep names
/// are at most 63 characters (ElastiCache replication group ids 40).
pub const ONLY_MAX_LEN: usize = 63;

/// Whether `name` could be a policy component or sweep name or an RDS/ElastiCache identifier:
/// 1 to 63 ASCII letters, digits and hyphens — and the dots and underscores of metric rule
/// names (`cert.s3.save.fail`).
pub fn could_be_named(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ONLY_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

fn got(v: Option<&Value>) -> &'static str {
    v.map(kind_of).unwrap_or("nothing (it is missing)")
}

/// `source` and `detail-type` of an EventBridge event, each checked for its type, so that an
/// event of the right shape with a field of the wrong kind is named by field.
fn eventbridge_kind(obj: &Map<String, Value>) -> Result<(&str, &str)> {
    let text = |field: &str, expected: &str| -> Result<&str> {
        match obj.get(field) {
            Some(Value::String(s)) => Ok(s.as_str()),
            other => Err(Error::event(
                format!("event.{field}"),
                format!("{expected}, got {}", got(other)),
            )),
        }
    };
    let source = text(
        "source",
        "a string naming the AWS service, e.g. \"aws.events\", \"aws.cloudwatch\" or \"aws.backup\"",
    )?;
    let detail_type = text(
        "detail-type",
        "a string such as \"Scheduled Event\", \"CloudWatch Alarm State Change\" or \"Restore Job State Change\"",
    )?;
    Ok((source, detail_type))
}

/// `time` and `detail` of an EventBridge event of a kind Lifeboat takes.
fn eventbridge_time_and_detail(obj: &Map<String, Value>) -> Result<DateTime<Utc>> {
    const TIME: &str = "an RFC 3339 time like 2026-11-21T03:00:00Z";
    let time = match obj.get("time") {
        Some(Value::String(t)) => DateTime::parse_from_rfc3339(t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| Error::event("event.time", format!("{TIME}, got {}", excerpt_str(t))))?,
        other => {
            return Err(Error::event(
                "event.time",
                format!("{TIME}, got {}", got(other)),
            ))
        }
    };
    match obj.get("detail") {
        Some(Value::Object(_)) => Ok(time),
        other => Err(Error::event(
            "event.detail",
            format!("a JSON object, got {}", got(other)),
        )),
    }
}

fn parse_manual(obj: &Map<String, Value>) -> Result<Trigger> {
    let action = match obj.get("action") {
        Some(Value::String(s)) if s.trim().chars().count() > ACTION_MAX_LEN => {
            return Err(Error::event(
                "event.action",
                format!(
                    "a command name of at most {ACTION_MAX_LEN} characters, got {} ({} characters)",
                    excerpt_str(s.trim()),
                    s.trim().chars().count()
                ),
            ))
        }
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
        None => Vec::new(),
        Some(Value::Null) => return Err(null_field("only")),
        Some(Value::Array(items)) if items.len() > ONLY_MAX_NAMES => {
            return Err(Error::event(
                "event.only",
                format!("at most {ONLY_MAX_NAMES} names, got {}", items.len()),
            ))
        }
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) if could_be_named(s) => Ok(s.clone()),
                other => Err(Error::event(
                    format!("event.only[{i}]"),
                    format!(
                        "a component name or resource id, or a rule name (1 to {ONLY_MAX_LEN} letters, digits, hyphens, dots and underscores), got {}",
                        match other {
                            Value::String(s) if s.is_empty() => "an empty string".to_string(),
                            Value::String(s) => excerpt_str(s),
                            other => kind_of(other).to_string(),
                        }
                    ),
                )),
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

/// The one rule for a null in a manual command: refused, naming the field. A field left out
/// takes its default; `null` is not a way to say "left out" (a console template with `null`
/// placeholders would otherwise run with defaults nobody chose).
fn null_field(name: &str) -> Error {
    Error::event(
        format!("event.{name}"),
        "a value, got null (leave the field out for its default)",
    )
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
    let got = match records.as_array().map(Vec::len) {
        Some(1) => None,
        Some(n) => Some(format!("{n} records")),
        None => Some(kind_of(records).to_string()),
    };
    if let Some(got) = got {
        return Err(Error::event(
            "event.Records",
            format!("exactly one SNS record carrying a CloudWatch alarm notification, got {got}"),
        ));
    }
    let ev: SnsEvent = typed(payload, "SNS notification")?;
    let record = &ev.records[0];
    if record.event_source != "aws:sns" {
        return Err(Error::event(
            "event.Records[0].EventSource",
            format!("\"aws:sns\", got {}", excerpt_str(&record.event_source)),
        ));
    }
    let msg: SnsAlarmMessage = serde_json::from_str(&record.sns.message).map_err(|e| {
        Error::event(
            "event.Records[0].Sns.Message",
            format!(
                "a CloudWatch alarm notification (JSON with AlarmName, NewStateValue, StateChangeTime): {}",
                plain_serde(&e.to_string(), "an object")
            ),
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
                "a time like 2026-11-21T10:15:00.000+0000, got {}",
                excerpt_str(&msg.state_change_time)
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

fn parse_backup(payload: &Value, obj: &Map<String, Value>, detail_type: &str) -> Result<Trigger> {
    let (kind, id_field, state_field) = match detail_type {
        "Backup Job State Change" => (BackupJobKind::Backup, "backupJobId", "state"),
        "Restore Job State Change" => (BackupJobKind::Restore, "restoreJobId", "status"),
        "Copy Job State Change" => (BackupJobKind::Copy, "copyJobId", "state"),
        other => {
            return Err(Error::event(
                "event.detail-type",
                format!(
                    "Backup Job State Change, Restore Job State Change or Copy Job State Change, got {}",
                    excerpt_str(other)
                ),
            ))
        }
    };
    let time = eventbridge_time_and_detail(obj)?;
    let ev: EventBridgeEvent<Map<String, Value>> = typed(payload, "AWS Backup event")?;
    let detail = ev.detail;
    let text = |field: &str| {
        detail
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let got = |field: &str| match detail.get(field) {
        Some(Value::String(s)) => excerpt_str(s),
        Some(other) => kind_of(other).to_string(),
        None => "nothing (it is missing)".to_string(),
    };
    // AWS Backup job ids are UUIDs or digits; anything long or with spaces is not one.
    let job_id = text(id_field)
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .ok_or_else(|| {
            Error::event(
                format!("event.detail.{id_field}"),
                format!(
                    "the job id (letters, digits and hyphens), got {}",
                    got(id_field)
                ),
            )
        })?;
    let state = text(state_field)
        .filter(|s| {
            (1..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        })
        .ok_or_else(|| {
            Error::event(
                format!("event.detail.{state_field}"),
                format!("the job state, e.g. COMPLETED, got {}", got(state_field)),
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
    // When the alarm entered its state (the same in every delivery of one state change; the
    // event's own time may differ by delivery), else the event's time.
    let time = if state.timestamp.timestamp() > 0 {
        state.timestamp
    } else {
        time
    };
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
            format!(
                "one of OK, ALARM, INSUFFICIENT_DATA, got {}",
                excerpt_str(other)
            ),
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
        Error::event(
            field_path("event", e.path()),
            format!(
                "a valid {what}: {}",
                plain_serde(&e.inner().to_string(), "an object")
            ),
        )
    })
}

fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// For each function's tests: every sample event in `events/<function>/` is accepted by `parse`,
/// or — named `malformed-*.json` — rejected before any AWS call as `Lifeboat.InvalidEvent`, with
/// an error that names a field below the event (`invalid event: event.<field>…`), briefly.
/// Panics naming the file that breaks the rule; returns how many files it read.
pub fn check_sample_events<T>(function: &str, parse: impl Fn(&Value) -> Result<T>) -> usize {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(function);
    let mut read = 0;
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten();
    for path in entries.map(|e| e.path()) {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string());
        let name = name.unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        read += 1;
        match parse(&v) {
            Ok(_) => assert!(!name.starts_with("malformed-"), "{name} should be rejected"),
            Err(e) => {
                assert!(name.starts_with("malformed-"), "{name}: {e}");
                assert_eq!(e.error_type(), "Lifeboat.InvalidEvent", "{name}");
                let text = e.to_string();
                assert!(text.starts_with("invalid event: event."), "{name}: {text}");
                assert!(text.len() < 300, "{name}: {text}");
            }
        }
    }
    assert!(read > 0, "no sample events in {}", dir.display());
    read
}

#[cfg(test)]
mod tests;
