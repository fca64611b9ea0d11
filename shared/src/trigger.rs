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

/// A command typed into the console, e.g. `{"action": "run", "dry_run": true}`.
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
    pub fn args<T: DeserializeOwned>(&self, fields: &str) -> Result<T> {
        let value = Value::Object(self.args.clone());
        serde_path_to_error::deserialize(&value).map_err(|e| {
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

/// The field a serde error points at, e.g. `event.detail.state.value` or
/// `components[0].verify.every`, under `root`. Map keys (outside text) are cut to a short
/// excerpt, and the path stops where a key was not text (serde's `?`): such a key has no name.
pub fn field_path(root: &str, path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = root.to_string();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push('.');
                out.push_str(&bounded(key, 40));
            }
            Segment::Unknown => break,
        }
    }
    out
}

/// A serde error message in plain words, and short: every quoted value (`...` or "...") cut to
/// an excerpt, Rust's type names replaced by what they mean (`struct Policy` -> `object`, `u32`
/// -> `a whole number of 0 or more`), at most 300 characters.
pub fn plain_serde(message: &str, object: &str) -> String {
    let mut out = String::with_capacity(message.len().min(400));
    let mut rest = message;
    while let Some(start) = rest.find(['`', '"']) {
        let quote = rest.as_bytes()[start] as char;
        out.push_str(&rest[..=start]);
        let after = &rest[start + 1..];
        // serde quotes strings with Debug: an escaped quote does not end them.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in after.char_indices() {
            if c == quote && !escaped {
                end = Some(i);
                break;
            }
            escaped = quote == '"' && c == '\\' && !escaped;
        }
        let Some(end) = end else {
            out.push_str(&bounded(after, 40));
            rest = "";
            break;
        };
        out.push_str(&bounded(&after[..end], 40));
        out.push(quote);
        rest = &after[end + 1..];
        if out.len() > 600 {
            rest = "";
            break;
        }
    }
    out.push_str(&bounded(rest, 600));
    let mut plain = out
        .replace("field identifier", "a field name")
        .replace("unit value", "null")
        .replace("unit struct", "struct");
    for (rust, words) in [
        ("u8", "a whole number of 0 or more"),
        ("u16", "a whole number of 0 or more"),
        ("u32", "a whole number of 0 or more"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("isize", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
    ] {
        plain = replace_word(
            &plain,
            &format!("expected {rust}"),
            &format!("expected {words}"),
        );
    }
    // `expected struct Name` / `expected enum Name`: the type's name says nothing to a reader.
    for (kind, what) in [("struct ", object), ("enum ", "one of the allowed values")] {
        let marker = format!("expected {kind}");
        while let Some(at) = plain.find(&marker) {
            let name_start = at + marker.len();
            let name_len = plain[name_start..]
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(plain.len() - name_start);
            plain.replace_range(at..name_start + name_len, &format!("expected {what}"));
        }
    }
    bounded(&plain, 300)
}

/// `text` with `word` replaced where no more of a word follows (`u32`, not `u320`).
fn replace_word(text: &str, word: &str, with: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        let end = at + word.len();
        let whole = !rest[end..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        out.push_str(if whole { with } else { word });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The longest manual `action` accepted: every action is a short word.
pub const ACTION_MAX_LEN: usize = 64;
/// The most names a manual command's `only` may list.
pub const ONLY_MAX_NAMES: usize = 100;
/// The longest name `only` may hold: RDS identifiers and the policy's component and sweep names
/// are at most 63 characters (ElastiCache replication group ids 40).
pub const ONLY_MAX_LEN: usize = 63;

/// Whether `name` could be a policy component or sweep name or an RDS/ElastiCache identifier:
/// 1 to 63 ASCII letters, digits and hyphens.
pub fn could_be_named(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= ONLY_MAX_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
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
        None | Some(Value::Null) => Vec::new(),
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
                        "a component name or resource id (1 to {ONLY_MAX_LEN} letters, digits and hyphens), got {}",
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
            .expect(
                "snapshot-export",
                &[TriggerKind::Schedule],
                &["run", "plan"],
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid event: event.action: one of run, plan for snapshot-export, got \"failover\""
        );
    }

    #[test]
    fn eventbridge_fields_of_the_wrong_type_are_named() {
        // Given EventBridge events whose envelope fields have the wrong type or are missing
        let base = json!({"version": "0", "id": "e-1", "source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-21T03:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        let with = |field: &str, v: Value| {
            let mut e = base.clone();
            e[field] = v;
            e
        };
        let without = |field: &str| {
            let mut e = base.clone();
            e.as_object_mut().unwrap().remove(field);
            e
        };
        for (event, expected) in [
            (with("detail-type", json!(42)), "invalid event: event.detail-type: a string such as \"Scheduled Event\""),
            (without("detail-type"), "invalid event: event.detail-type: a string such as \"Scheduled Event\""),
            (with("source", json!(42)), "invalid event: event.source: a string naming the AWS service"),
            (without("source"), "invalid event: event.source: a string naming the AWS service"),
            (with("time", json!(42)), "invalid event: event.time: an RFC 3339 time like 2026-11-21T03:00:00Z, got a number"),
            (with("time", json!("yesterday")), "invalid event: event.time: an RFC 3339 time like 2026-11-21T03:00:00Z, got \"yesterday\""),
            (with("detail", json!(42)), "invalid event: event.detail: a JSON object, got a number"),
            (without("detail"), "invalid event: event.detail: a JSON object"),
        ] {
            // When each is parsed
            let err = Trigger::parse(&event).unwrap_err().to_string();
            // Then the error names the field and what was expected
            assert!(err.starts_with(expected), "{err}");
        }
        // And the same holds for an alarm or an AWS Backup event
        for (source, dt) in [
            ("aws.cloudwatch", "CloudWatch Alarm State Change"),
            ("aws.backup", "Restore Job State Change"),
        ] {
            let mut e = with("detail", json!([1]));
            e["source"] = json!(source);
            e["detail-type"] = json!(dt);
            let err = Trigger::parse(&e).unwrap_err().to_string();
            assert!(
                err.starts_with("invalid event: event.detail: a JSON object, got a list"),
                "{err}"
            );
        }
    }

    #[test]
    fn errors_quote_at_most_a_short_excerpt_of_the_event() {
        // Given events carrying megabytes of text where a short value belongs
        let huge = "x".repeat(5_000_000);
        let alarm = |state: &str, name: &str| json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "time": "2026-11-21T10:15:00Z", "resources": [], "detail": {"alarmName": name, "state": {"value": state, "reason": "", "timestamp": "2026-11-21T10:15:00.000+0000"}, "configuration": {}}});
        let mut many_keys = Map::new();
        for i in 0..10_000 {
            many_keys.insert(format!("field-{i}-{}", "k".repeat(100)), json!(1));
        }
        let sns = |source: &str, message: &str| json!({"Records": [{"EventSource": source, "EventVersion": "1.0", "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:t:1", "Sns": {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Message": message, "Timestamp": "2026-11-21T10:15:01.000Z", "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "https://x", "UnsubscribeUrl": "https://x", "MessageAttributes": {}}}]});
        let cases = [
            ("action", json!({"action": huge})),
            ("alarm state", alarm(&huge, "a")),
            ("source", json!({"source": huge, "detail-type": "Scheduled Event", "time": "2026-11-21T03:00:00Z", "detail": {}})),
            ("detail-type", json!({"source": "aws.backup", "detail-type": huge, "time": "2026-11-21T03:00:00Z", "detail": {}})),
            ("time", json!({"source": "aws.events", "detail-type": "Scheduled Event", "time": huge, "detail": {}})),
            ("keys", Value::Object(many_keys)),
            ("SNS source", sns(&huge, "{}")),
            ("SNS message", sns("aws:sns", &format!("{{\"AlarmName\": 5, \"x\": \"{huge}\"}}"))),
            ("SNS state", sns("aws:sns", &format!("{{\"AlarmName\": \"a\", \"NewStateValue\": \"{huge}\", \"StateChangeTime\": \"2026-11-21T10:15:00.000+0000\"}}"))),
            ("job state", json!({"source": "aws.backup", "detail-type": "Restore Job State Change", "time": "2026-11-21T03:00:00Z", "detail": {"restoreJobId": "j-1", "status": huge}})),
            ("job id", json!({"source": "aws.backup", "detail-type": "Restore Job State Change", "time": "2026-11-21T03:00:00Z", "detail": {"restoreJobId": huge, "status": "COMPLETED"}})),
            ("event id", json!({"id": huge.len(), "source": "aws.events", "detail-type": "Scheduled Event", "time": "2026-11-21T03:00:00Z", "detail": {}})),
        ];
        for (what, event) in cases {
            // When it is parsed
            let err = Trigger::parse(&event).expect_err(what).to_string();
            // Then the error is short
            assert!(
                err.len() < 400,
                "{what}: {} bytes: {}",
                err.len(),
                bounded(&err, 300)
            );
        }
        // And a trigger that is accepted describes itself briefly
        let Trigger::Alarm(a) = Trigger::parse(&alarm("ALARM", &huge)).unwrap() else {
            panic!("an alarm")
        };
        let described = Trigger::Alarm(a).describe();
        assert!(described.len() < 200, "{}", bounded(&described, 300));
        // And a function refusing it quotes it briefly
        let err = Trigger::parse(&alarm("ALARM", &huge))
            .unwrap()
            .expect("snapshot-export", &[TriggerKind::Schedule], &["run"])
            .unwrap_err()
            .to_string();
        assert!(err.len() < 400, "{}", bounded(&err, 300));
    }

    #[test]
    fn only_is_capped_and_names_that_can_never_match_are_refused() {
        // Given manual commands whose `only` names cannot be a component or resource id
        let cases = [
            (
                json!({"action": "run", "only": vec!["orders-db"; 101]}),
                "invalid event: event.only: at most 100 names, got 101",
            ),
            (
                json!({"action": "run", "only": ["orders-db", ""]}),
                "invalid event: event.only[1]: a component name or resource id",
            ),
            (
                json!({"action": "run", "only": ["orders db"]}),
                "invalid event: event.only[0]: a component name or resource id",
            ),
            (
                json!({"action": "run", "only": ["orders-db;drop"]}),
                "invalid event: event.only[0]: a component name or resource id",
            ),
            (
                json!({"action": "run", "only": ["x".repeat(64)]}),
                "invalid event: event.only[0]: a component name or resource id",
            ),
            (
                json!({"action": "run", "only": ["x".repeat(5_000_000)]}),
                "invalid event: event.only[0]: a component name or resource id",
            ),
        ];
        for (event, expected) in cases {
            // When each is parsed
            let err = Trigger::parse(&event).unwrap_err().to_string();
            // Then the error names the entry, briefly
            assert!(err.starts_with(expected), "{}", bounded(&err, 300));
            assert!(err.len() < 300, "{}", bounded(&err, 300));
        }
        // And names that can match are kept as given
        let Trigger::Manual(m) = Trigger::parse(
            &json!({"action": "run", "only": ["orders-db", "ecommerce-prod-db", "x".repeat(63)]}),
        )
        .unwrap() else {
            panic!("manual")
        };
        assert_eq!(m.only.len(), 3);
    }

    #[test]
    fn errors_and_descriptions_use_the_readmes_words_not_internal_names() {
        // Given triggers and malformed events whose serde errors would name Rust types
        let detail_not_alarm = json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "time": "2026-11-21T10:15:00Z", "resources": [], "detail": {"alarmName": 5}});
        let action_data = json!({"alarmData": 42});
        for event in [detail_not_alarm, action_data] {
            // When parsed
            let err = Trigger::parse(&event).unwrap_err().to_string();
            // Then no Rust type name appears
            for internal in [
                "struct",
                "CloudWatchAlarm",
                "EventBridgeEvent",
                "u32",
                "f64",
                "i64",
            ] {
                assert!(!err.contains(internal), "{internal}: {err}");
            }
        }
        // And descriptions say what happened in words
        let v: Value =
            serde_json::from_str(include_str!("../../events/triggers/alarm-sns.json")).unwrap();
        assert_eq!(
            Trigger::parse(&v).unwrap().describe(),
            "CloudWatch alarm s3-replication-lag in ALARM (through SNS)"
        );
        let v: Value = serde_json::from_str(include_str!(
            "../../events/triggers/restore-job-completed.json"
        ))
        .unwrap();
        let d = Trigger::parse(&v).unwrap().describe();
        assert!(d.starts_with("AWS Backup restore job "), "{d}");
        assert!(d.ends_with(" COMPLETED"), "{d}");
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

    /// Each sample in `events/malformed/` and the field its error must name: a new sample needs
    /// a line here.
    const MALFORMED: &[(&str, &str)] = &[
        (
            "action-not-a-string.json",
            "event.action: a non-empty string",
        ),
        (
            "action-too-long.json",
            "event.action: a command name of at most 64 characters",
        ),
        ("alarm-bad-state.json", "event.detail.state.value: "),
        ("backup-job-without-id.json", "event.detail.backupJobId: "),
        (
            "detail-not-an-object.json",
            "event.detail: a JSON object, got a string",
        ),
        (
            "detail-type-not-a-string.json",
            "event.detail-type: a string such as",
        ),
        ("dry-run-not-boolean.json", "event.dry_run: true or false"),
        ("empty-action.json", "event.action: a non-empty string"),
        (
            "missing-action.json",
            "event.action: a non-empty string naming the command",
        ),
        ("not-an-object.json", "event: a JSON object"),
        (
            "only-bad-characters.json",
            "event.only[1]: a component name or resource id",
        ),
        (
            "only-empty-name.json",
            "event.only[0]: a component name or resource id",
        ),
        (
            "only-name-too-long.json",
            "event.only[0]: a component name or resource id",
        ),
        (
            "only-too-many-names.json",
            "event.only: at most 100 names, got 101",
        ),
        ("schedule-without-time.json", "event.time: an RFC 3339 time"),
        (
            "sns-not-an-alarm.json",
            "event.Records[0].Sns.Message: a CloudWatch alarm notification",
        ),
        (
            "source-not-a-string.json",
            "event.source: a string naming the AWS service",
        ),
        ("time-not-a-time.json", "event.time: an RFC 3339 time"),
        ("unknown-source.json", "event.detail-type: "),
    ];

    #[test]
    fn every_malformed_event_is_rejected_with_a_named_field() {
        // Given every sample in events/malformed
        let samples = event_files("malformed");
        for (path, v) in &samples {
            let name = path.rsplit('/').next().unwrap();
            let Some((_, expected)) = MALFORMED.iter().find(|(file, _)| *file == name) else {
                panic!("{name}: add the field its error names to MALFORMED");
            };
            // When it is parsed
            let err = Trigger::parse(v).expect_err(path).to_string();
            // Then it is refused naming that field, briefly
            assert!(
                err.starts_with(&format!("invalid event: {expected}")),
                "{name}: {err}"
            );
            assert!(err.len() < 400, "{name}: {err}");
        }
        assert_eq!(
            samples.len(),
            MALFORMED.len(),
            "a MALFORMED line without its sample"
        );
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
