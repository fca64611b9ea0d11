//! Every way a function is started, and every way it is refused, Given / When / Then.
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
        serde_json::from_str(include_str!("../../../events/triggers/alarm-sns.json")).unwrap();
    assert_eq!(
        Trigger::parse(&v).unwrap().describe(),
        "CloudWatch alarm s3-replication-lag in ALARM (through SNS)"
    );
    let v: Value = serde_json::from_str(include_str!(
        "../../../events/triggers/restore-job-completed.json"
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
    let v: Value = serde_json::from_str(include_str!(
        "../../../events/triggers/alarm-eventbridge.json"
    ))
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
        serde_json::from_str(include_str!("../../../events/triggers/alarm-sns.json")).unwrap();
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
        "../../../events/triggers/alarm-lambda-action.json"
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
        "../../../events/triggers/backup-job-completed.json"
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
        "../../../events/triggers/restore-job-completed.json"
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
    let v: Value = serde_json::from_str(include_str!(
        "../../../events/snapshot-export/schedule.json"
    ))
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

#[test]
fn a_null_for_any_field_of_a_manual_command_is_refused_naming_the_field() {
    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Args {
        run_id: Option<String>,
        sample_rate: Option<f64>,
    }
    let args = |v: Value| match Trigger::parse(&v)? {
        Trigger::Manual(m) => m.args::<Args>("a command has action, run_id and sample_rate"),
        other => panic!("{other:?}"),
    };
    // Given a null for each field in turn, the command's own and the envelope's
    for (event, field) in [
        (json!({"action": "restore", "run_id": null}), "event.run_id"),
        (
            json!({"action": "sweep", "sample_rate": null}),
            "event.sample_rate",
        ),
        (json!({"action": "run", "only": null}), "event.only"),
        (json!({"action": "run", "dry_run": null}), "event.dry_run"),
    ] {
        // When it is parsed, then it is refused, naming the field
        let e = args(event.clone()).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("invalid event: {field}: ")) && e.contains("null"),
            "{event}: {e}"
        );
    }
    // A misspelt field is named as such, null or not; left out, the fields take their defaults
    let e = args(json!({"action": "restore", "run_ld": null}))
        .unwrap_err()
        .to_string();
    assert!(e.contains("event.run_ld: no such field"), "{e}");
    let ok = args(json!({"action": "restore"})).unwrap();
    assert!(ok.run_id.is_none() && ok.sample_rate.is_none());
}
