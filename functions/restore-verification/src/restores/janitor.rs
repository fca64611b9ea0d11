//! The janitor on its own schedule (`{"action": "janitor"}`, hourly): removes expired
//! `lifeboat-verify-*` resources tagged as restore-verification's, outside any restore run, so
//! that a run loop that stopped (an S3 outage, a failed invocation) leaves nothing up until the
//! next daily trigger. The same rule and removal as the janitor at the start of every run
//! ([`super::janitor`], [`super::plan::janitor_picks`]): only resources past their
//! `lifeboat:expires-at` tag, so a run in progress keeps its restores and no lease is taken.
//!
//! A real run emails only when it removed something or something failed (an hourly "nothing
//! to do" would be noise); the JSON answer and the EMF metrics are there every time. A dry run
//! is asked for by hand and always reports.

use chrono::Utc;
use lifeboat_shared::report::{Action, Outcome, Severity};
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::Result;

use super::plan::{janitor_picks, RunState};
use super::{inventory, Context};

/// One janitor invocation (or its dry run).
pub async fn run(cx: &Context<'_>, inv: &Invocation) -> Result<Response> {
    let mut report = inv.report();
    if inv.dry_run {
        let mut n = 0;
        match inventory::scan_temp(cx.clients).await {
            Ok(found) => {
                for (r, why) in janitor_picks(&found, inv.now) {
                    let mut a = Action::new("janitor-delete", &r.id, why);
                    a.outcome = Outcome::Planned;
                    report.actions.push(a);
                    n += 1;
                }
            }
            Err(e) => report.finding(
                Severity::Warning,
                None,
                format!("janitor could not list restore resources: {e}"),
            ),
        }
        report.headline = format!("would remove {n} expired restore resource(s)");
        return run::deliver(&cx.outbox, report).await;
    }
    let mut state = RunState::default();
    super::janitor(cx, &mut state, inv.now).await;
    for (id, why) in &state.janitor {
        let mut a = Action::new("janitor-delete", id, why.clone());
        a.outcome = Outcome::Done;
        report.actions.push(a);
    }
    for w in &state.warnings {
        report.finding(Severity::Warning, None, w.clone());
    }
    report.headline = match (state.janitor.len(), state.warnings.len()) {
        (0, 0) => "no expired restore resources".to_string(),
        (n, 0) => format!("removed {n} expired restore resource(s)"),
        (n, w) => format!("removed {n} expired restore resource(s), {w} problem(s)"),
    };
    report.details = serde_json::json!({ "janitor": state.janitor });
    if state.janitor.is_empty() && state.warnings.is_empty() {
        // Nothing removed, nothing failed: answer and count, but no email or archive.
        report.finish(Utc::now());
        lifeboat_shared::metrics::emit(&report);
        return Ok(Response::finished(report));
    }
    run::deliver(&cx.outbox, report).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::command::{parse, Command};
    use aws_sdk_rds::types::{DbInstance, Tag};
    use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
    use chrono::{DateTime, Duration};
    use lifeboat_shared::notify::Outbox;
    use lifeboat_shared::policy::Policy;
    use lifeboat_shared::resumable::Store;
    use serde_json::json;
    use std::collections::BTreeMap;

    use super::super::inventory::Clients;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_219_200, 0).unwrap()
    }

    /// A `lifeboat-verify-*` instance with restore-verification's tags (or another purpose).
    fn instance(id: &str, purpose: &str, expires: DateTime<Utc>) -> DbInstance {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        DbInstance::builder()
            .db_instance_identifier(id)
            .db_instance_status("available")
            .tag_list(tag("lifeboat:purpose", purpose))
            .tag_list(tag("lifeboat:run-id", "20261121T060000Z-1a2b3c4d"))
            .tag_list(tag("lifeboat:expires-at", &expires.to_rfc3339()))
            .build()
    }

    fn invocation(dry_run: bool) -> Invocation {
        let p = Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        let Command::Janitor(c) =
            parse(&json!({"action": "janitor", "dry_run": dry_run}), &p).unwrap()
        else {
            panic!("a janitor command")
        };
        Invocation::new(
            crate::FUNCTION,
            "us-east-1",
            c.trigger,
            c.dry_run,
            "req-1",
            now(),
            None,
        )
    }

    async fn janitor_with(
        found: Vec<DbInstance>,
        deletes: &[&Rule],
        outbox: (&[&Rule], &[&Rule]),
        dry_run: bool,
    ) -> Response {
        let describe = mock!(aws_sdk_rds::Client::describe_db_instances).then_output(move || {
            aws_sdk_rds::operation::describe_db_instances::DescribeDbInstancesOutput::builder()
                .set_db_instances(Some(found.clone()))
                .build()
        });
        let clusters = mock!(aws_sdk_rds::Client::describe_db_clusters).then_output(|| {
            aws_sdk_rds::operation::describe_db_clusters::DescribeDbClustersOutput::builder()
                .build()
        });
        let groups = mock!(aws_sdk_elasticache::Client::describe_replication_groups).then_output(
            || {
                aws_sdk_elasticache::operation::describe_replication_groups::DescribeReplicationGroupsOutput::builder().build()
            },
        );
        let mut rds: Vec<&Rule> = vec![&describe, &clusters];
        rds.extend_from_slice(deletes);
        let clients = Clients {
            rds: mock_client!(aws_sdk_rds, RuleMode::MatchAny, &rds),
            elasticache: mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, &[&groups]),
            backup: mock_client!(aws_sdk_backup, RuleMode::MatchAny, &[] as &[&Rule]),
            secrets: mock_client!(aws_sdk_secretsmanager, RuleMode::MatchAny, &[] as &[&Rule]),
        };
        let s3 = plain_mock_client!(aws_sdk_s3, outbox.0);
        let sns = plain_mock_client!(aws_sdk_sns, outbox.1);
        let policy = Policy::parse("version: 1\nbuckets: {backup: b-1}\n").unwrap();
        let endpoints = BTreeMap::new();
        let cx = Context {
            policy: &policy,
            clients: &clients,
            s3: &s3,
            local_endpoints: &endpoints,
            region: "us-east-1",
            store: Store {
                s3: &s3,
                bucket: "reports",
                function: crate::FUNCTION,
            },
            outbox: Outbox {
                s3: &s3,
                sns: &sns,
                bucket: "reports",
                topic_arn: "arn:aws:sns:us-east-1:123456789012:reports",
            },
        };
        run(&cx, &invocation(dry_run)).await.unwrap()
    }

    #[tokio::test]
    async fn removes_only_expired_restores_and_reports_them() {
        // Given an expired restore, a restore of a run in progress (not expired) and an
        // expired lifeboat-verify-* instance that is not restore-verification's
        let found = vec![
            instance(
                "lifeboat-verify-old00001",
                "restore-verification",
                now() - Duration::hours(1),
            ),
            instance(
                "lifeboat-verify-live0001",
                "restore-verification",
                now() + Duration::hours(5),
            ),
            instance(
                "lifeboat-verify-else0001",
                "something-else",
                now() - Duration::hours(1),
            ),
        ];
        let delete = mock!(aws_sdk_rds::Client::delete_db_instance)
            .match_requests(|r| r.db_instance_identifier() == Some("lifeboat-verify-old00001"))
            .then_output(|| {
                aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput::builder()
                    .build()
            });
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let publish = mock!(aws_sdk_sns::Client::publish).then_output(|| {
            aws_sdk_sns::operation::publish::PublishOutput::builder()
                .message_id("m-1")
                .build()
        });
        // When the janitor runs
        let r = janitor_with(found, &[&delete], (&[&put], &[&publish]), false).await;
        // Then only the expired restore is deleted, and the report says so, by email
        assert_eq!(delete.num_calls(), 1);
        let report = r.report().unwrap();
        let removed: Vec<&str> = report.actions.iter().map(|a| a.resource.as_str()).collect();
        assert_eq!(removed, ["lifeboat-verify-old00001"]);
        assert_eq!(report.actions[0].outcome, Outcome::Done);
        assert_eq!(report.headline, "removed 1 expired restore resource(s)");
        assert_eq!((put.num_calls(), publish.num_calls()), (1, 1));
        assert_eq!(r.to_json().unwrap()["done"], json!(true));
    }

    #[tokio::test]
    async fn nothing_expired_answers_without_an_email() {
        // Given only a restore of a run in progress
        let found = vec![instance(
            "lifeboat-verify-live0001",
            "restore-verification",
            now() + Duration::hours(5),
        )];
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let publish = mock!(aws_sdk_sns::Client::publish)
            .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().build());
        // When the janitor runs
        let r = janitor_with(found, &[], (&[&put], &[&publish]), false).await;
        // Then nothing is archived or emailed
        assert_eq!((put.num_calls(), publish.num_calls()), (0, 0));
        // And it answers the JSON, with nothing removed
        let v = r.to_json().unwrap();
        assert_eq!(v["outcome"], json!("finished"));
        assert_eq!(v["headline"], json!("no expired restore resources"));
        assert!(r.report().unwrap().actions.is_empty());
    }

    #[tokio::test]
    async fn a_dry_run_plans_and_deletes_nothing() {
        // Given an expired restore
        let found = vec![instance(
            "lifeboat-verify-old00001",
            "restore-verification",
            now() - Duration::hours(1),
        )];
        let put = mock!(aws_sdk_s3::Client::put_object)
            .then_output(|| aws_sdk_s3::operation::put_object::PutObjectOutput::builder().build());
        let publish = mock!(aws_sdk_sns::Client::publish)
            .then_output(|| aws_sdk_sns::operation::publish::PublishOutput::builder().build());
        let delete = mock!(aws_sdk_rds::Client::delete_db_instance).then_output(|| {
            aws_sdk_rds::operation::delete_db_instance::DeleteDbInstanceOutput::builder().build()
        });
        // When a dry run is asked for
        let r = janitor_with(found, &[&delete], (&[&put], &[&publish]), true).await;
        // Then nothing is deleted
        assert_eq!(delete.num_calls(), 0);
        // And the removal is planned, and reported
        let report = r.report().unwrap();
        assert_eq!(report.actions.len(), 1);
        assert_eq!(report.actions[0].outcome, Outcome::Planned);
        assert_eq!(
            report.headline,
            "would remove 1 expired restore resource(s)"
        );
        assert_eq!(publish.num_calls(), 1);
    }
}
