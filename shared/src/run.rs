//! The run envelope: what every function does around its own inventory → plan → execute,
//! written once.
//!
//! ```text
//! payload ─► Trigger ─► the function's typed Command ─► Invocation ─► (lease) ─► the run
//!         ─► Report (typed verdicts set its severity) ─► delivery (S3 JSON, SNS email, EMF)
//!         ─► Response: finished | in progress (run id) | skipped (reason)
//! ```
//!
//! A function supplies only its command parser and its run; see docs/ARCHITECTURE.md.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::journal::{Held, Lease};
use crate::notify::Outbox;
use crate::report::{Action, Outcome, Report, Severity};
use crate::trigger::Trigger;

/// One invocation, as every function's run sees it. Built once, before any AWS call.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub function: &'static str,
    /// The primary region.
    pub region: String,
    /// The Lambda request id (unique per invocation; kept by Lambda's own retries).
    pub request_id: String,
    /// Stable for a redelivered event: `<trigger time>-<hash of the event id>`.
    pub run_id: String,
    /// What the run id and any per-run sample derive from: the schedule's event id, the AWS
    /// Backup job id, else the request id.
    pub event_key: String,
    pub trigger: Trigger,
    pub now: DateTime<Utc>,
    /// When to stop starting work (the deadline less a reserve for the report).
    pub stop_at: Option<Instant>,
    pub dry_run: bool,
    /// A lease of its own beside the function's (`locks/<function>-<name>.json`): for work that
    /// must be single-flight among itself but must not hold up the function's runs.
    pub lease_name: Option<&'static str>,
}

impl Invocation {
    pub fn new(
        function: &'static str,
        region: &str,
        trigger: Trigger,
        dry_run: bool,
        request_id: &str,
        now: DateTime<Utc>,
        stop_at: Option<Instant>,
    ) -> Invocation {
        let event_key = match &trigger {
            Trigger::Schedule(s) => s.event_id.clone(),
            Trigger::BackupJob(j) => Some(j.job_id.clone()),
            _ => None,
        }
        .unwrap_or_else(|| request_id.to_string());
        let run_id = crate::run_id(trigger.event_time().unwrap_or(now), &event_key);
        Invocation {
            function,
            region: region.to_string(),
            request_id: request_id.to_string(),
            run_id,
            event_key,
            trigger,
            now,
            stop_at,
            dry_run,
            lease_name: None,
        }
    }

    /// An empty report of this invocation.
    pub fn report(&self) -> Report {
        Report::new(
            self.function,
            &self.run_id,
            &self.region,
            self.trigger.describe(),
            self.dry_run,
            self.now,
        )
    }

    /// The same invocation working on another (resumed) run.
    pub fn for_run(&self, run_id: &str) -> Invocation {
        Invocation {
            run_id: run_id.to_string(),
            ..self.clone()
        }
    }

    /// True once the invocation should stop starting work.
    pub fn out_of_time(&self) -> bool {
        self.stop_at.map(|s| Instant::now() >= s).unwrap_or(false)
    }

    /// The single-flight lease key of this function.
    pub fn lease_key(&self) -> String {
        match self.lease_name {
            Some(n) => format!("locks/{}-{n}.json", self.function),
            None => format!("locks/{}.json", self.function),
        }
    }
}

/// Time kept back from the invocation deadline to save state and deliver the report.
pub const DEADLINE_RESERVE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long an invocation may keep starting work: until the deadline less a reserve for the
/// report. A deadline that is not an epoch time in the future (some local runtime emulators send
/// the timeout itself) leaves the run unbounded rather than doing nothing.
pub fn stop_time(deadline_ms: u64, now: std::time::SystemTime) -> Option<std::time::Duration> {
    let deadline =
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(deadline_ms);
    let remaining = deadline.duration_since(now).ok()?;
    Some(remaining.saturating_sub(DEADLINE_RESERVE.min(remaining / 4)))
}

/// The request id and the stop time of a Lambda event.
pub fn context(event: &LambdaEvent<Value>) -> (String, Option<Instant>) {
    let stop_at = stop_time(event.context.deadline, std::time::SystemTime::now())
        .map(|left| Instant::now() + left);
    tracing::info!(
        deadline_ms = event.context.deadline,
        bounded = stop_at.is_some(),
        "invocation time"
    );
    (event.context.request_id.clone(), stop_at)
}

/// What an invocation answers. The Step Functions loop of a resumable run reads `done` and
/// `run_id`; every answer carries both.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The run finished and reported (or a dry run reported its plan).
    Finished(Box<Report>),
    /// A resumable run has more to do: invoke again with this run id.
    InProgress { run_id: String, progress: Value },
    /// Nothing was done, and why (e.g. another run holds the lease, nothing to validate),
    /// with the invocation's own undelivered account where it has one.
    Skipped {
        run_id: Option<String>,
        reason: String,
        report: Option<Box<Report>>,
    },
}

impl Response {
    pub fn finished(report: Report) -> Response {
        Response::Finished(Box::new(report))
    }

    pub fn done(&self) -> bool {
        !matches!(self, Response::InProgress { .. })
    }

    /// Nothing done, with a reason.
    pub fn skipped(run_id: Option<String>, reason: impl Into<String>) -> Response {
        Response::Skipped {
            run_id,
            reason: reason.into(),
            report: None,
        }
    }

    /// The report: the finished run's, or a skipped invocation's own account.
    pub fn report(&self) -> Option<&Report> {
        match self {
            Response::Finished(r) => Some(r),
            Response::Skipped { report, .. } => report.as_deref(),
            Response::InProgress { .. } => None,
        }
    }

    /// The JSON answer: `{"outcome": "finished", "done": true, <report fields incl. run_id>}`,
    /// `{"outcome": "in_progress", "done": false, "run_id": ..., <progress fields>}` or
    /// `{"outcome": "skipped", "done": true, "run_id": ..., "note": <reason>}`.
    pub fn to_json(&self) -> Result<Value> {
        let mut out = match self {
            Response::Finished(r) => to_value(r)?,
            Response::InProgress { run_id, progress } => {
                let mut m = match progress {
                    Value::Object(m) => m.clone(),
                    Value::Null => serde_json::Map::new(),
                    other => [("progress".to_string(), other.clone())]
                        .into_iter()
                        .collect(),
                };
                m.insert("run_id".into(), Value::from(run_id.as_str()));
                Value::Object(m)
            }
            Response::Skipped {
                run_id,
                reason,
                report,
            } => {
                let mut v = match report {
                    Some(r) => to_value(r)?,
                    None => json!({}),
                };
                if let Value::Object(m) = &mut v {
                    m.insert("run_id".into(), json!(run_id));
                    m.insert("note".into(), Value::from(reason.as_str()));
                }
                v
            }
        };
        let outcome = match self {
            Response::Finished(_) => "finished",
            Response::InProgress { .. } => "in_progress",
            Response::Skipped { .. } => "skipped",
        };
        if let Value::Object(m) = &mut out {
            m.insert("outcome".into(), Value::from(outcome));
            m.insert("done".into(), Value::Bool(self.done()));
        }
        Ok(out)
    }
}

fn to_value<T: Serialize>(v: &T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::Internal(e.to_string()))
}

/// Finishes a report (status from findings, outcomes and verdicts), delivers it and answers.
pub async fn deliver(outbox: &Outbox<'_>, mut report: Report) -> Result<Response> {
    report.finish(Utc::now());
    outbox.deliver(&mut report).await?;
    tracing::info!(status = ?report.status, headline = %report.headline, "run reported");
    Ok(Response::finished(report))
}

/// A run with nothing worth an email (a monitoring run where no state changed): finished, its
/// EMF metrics emitted and a log line, neither archived nor emailed.
pub fn deliver_quietly(mut report: Report) -> Response {
    report.finish(Utc::now());
    crate::metrics::emit(&report);
    tracing::info!(status = ?report.status, headline = %report.headline, "nothing changed: no email");
    Response::finished(report)
}

/// A run that could not start or finish (the lease, the journal or the inventory failed with an
/// AWS error) still says so: a FAILED report naming the error is emailed (the email goes out even
/// when the report bucket is what failed), and the error is returned, so Lambda counts it. A
/// retry of the same run failing the same way is not emailed again (see
/// [`Outbox::already_failed`]).
pub async fn or_report_failure(
    outbox: &Outbox<'_>,
    inv: &Invocation,
    result: Result<Response>,
) -> Result<Response> {
    let err = match result {
        Ok(r) => return Ok(r),
        Err(e) => e,
    };
    let mut report = inv.report();
    report.headline = format!(
        "could not {}: {}",
        if inv.dry_run { "plan" } else { "run" },
        crate::trigger::bounded(&err.to_string(), 60)
    );
    let mut action = Action::new(
        "run",
        inv.function,
        "the run stopped before it could finish; nothing after this point was done",
    );
    action.outcome = Outcome::Failed;
    action.error = Some(err.to_string());
    report.actions.push(action);
    report.finish(Utc::now());
    if outbox.already_failed(&report).await {
        // The retries of one trigger (Lambda's, the Step Functions loop's) failing the same way
        // send one email, not one per attempt.
        tracing::error!(run_error = %err, run_id = %inv.run_id, "failed again as an earlier attempt of this run did; that attempt's email stands");
        crate::metrics::emit(&report);
        return Err(err);
    }
    if let Err(e) = outbox.deliver(&mut report).await {
        tracing::error!(error = %e, run_error = %err, "the failure report could not be sent either");
    }
    Err(err)
}

/// Runs `work` holding the function's single-flight lease, or answers what holds it.
/// A dry run takes no lease (it changes nothing).
pub async fn single_flight<T, F, Fut>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    inv: &Invocation,
    owner: &str,
    ttl: Duration,
    work: F,
) -> Result<std::result::Result<T, Held>>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    if inv.dry_run {
        return work().await.map(Ok);
    }
    let lease = match Lease::acquire(
        s3,
        bucket,
        &inv.lease_key(),
        owner,
        &inv.request_id,
        ttl,
        inv.now,
    )
    .await?
    {
        Ok(l) => l,
        Err(held) => {
            tracing::info!(holder = %held.0.owner, "lease held by another run; nothing done");
            return Ok(Err(held));
        }
    };
    let result = work().await;
    if let Err(e) = lease.release(s3).await {
        tracing::warn!(error = %e, "could not release the run lease; it expires by itself");
    }
    result.map(Ok)
}

/// Where a finished run leaves its answer: `reports/<function>/runs/<run id>.json`, under the
/// function's own report prefix (the archive's grants cover it).
pub fn answered_key(function: &str, run_id: &str) -> String {
    format!("reports/{function}/runs/{run_id}.json")
}

/// What a finished run leaves for later deliveries of its event: the invocation that finished
/// it and its report, as that invocation answered.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Answered {
    pub run_id: String,
    /// The request id of the invocation that finished the run: a write whose answer was lost
    /// is recognised as its own by this.
    pub token: String,
    pub report: Report,
}

/// The answer a run finished with, if one is recorded. A read that fails is logged and taken as
/// "not recorded": the run is idempotent, so the worst case is a second email, never a lost one.
async fn answered(s3: &aws_sdk_s3::Client, bucket: &str, inv: &Invocation) -> Option<Answered> {
    let key = answered_key(inv.function, &inv.run_id);
    match crate::journal::read_json::<Answered>(s3, bucket, &key).await {
        Ok(found) => found.map(|(a, _)| a),
        Err(e) => {
            tracing::warn!(error = %e, key, "could not read whether this run already finished; running it");
            None
        }
    }
}

/// Records the answer of a finished run, created once (`If-None-Match: *`). A retry whose first
/// attempt succeeded with its answer lost gets 412 and finds its own token there: done. Another
/// invocation's answer there (two invocations ran the same run, e.g. after a lease expired) is
/// logged; the first answer stands.
async fn record_answer(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    inv: &Invocation,
    report: &Report,
) -> Result<()> {
    let key = answered_key(inv.function, &inv.run_id);
    let body = Answered {
        run_id: inv.run_id.clone(),
        token: inv.request_id.clone(),
        report: report.clone(),
    };
    let bytes = serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?;
    let put = s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .if_none_match("*")
        .content_type("application/json")
        .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
        .send()
        .await;
    let Err(e) = put else { return Ok(()) };
    let (code, _) = crate::error::aws_error_parts(&e);
    if !crate::aws::errors::precondition_failed(&code) {
        return Err(Error::aws("PutObject", Some(&key), &e));
    }
    match crate::journal::read_json::<Answered>(s3, bucket, &key).await? {
        Some((stored, _)) if stored.token == inv.request_id => Ok(()),
        Some((stored, _)) => {
            tracing::warn!(key, other = %stored.token, "another invocation finished this run too; its answer stands");
            Ok(())
        }
        None => Err(Error::Internal(format!(
            "s3://{bucket}/{key}: refused as existing, then not found"
        ))),
    }
}

/// A later delivery of a finished run's event: nothing done, nothing sent; the answer is the
/// first run's report.
fn answer_again(inv: &Invocation, first: Answered) -> Response {
    tracing::info!(run_id = %inv.run_id, first = %first.token, "a redelivered event: answered from the run's first result; nothing done, nothing sent");
    Response::Skipped {
        run_id: Some(inv.run_id.clone()),
        reason: format!(
            "already done: run {} finished in invocation {}; this is its report (nothing done, nothing sent)",
            inv.run_id, first.token
        ),
        report: Some(Box::new(first.report)),
    }
}

/// A run done once per run id, whatever the number of deliveries of its event (EventBridge
/// delivers at least once; Lambda retries keep the request id): `work` (the run and its
/// delivery) runs under [`single_flight`]; a finished answer is recorded under
/// [`answered_key`] before the lease is released, and every later delivery of the same run
/// answers from it, silently (no work, no email, no metrics). A delivery arriving while the run
/// is in progress finds the lease held by its own run and does nothing, silently too. A run that
/// fails records nothing: its retry runs again.
///
/// Dry runs are not recorded: a dry run changes nothing and takes no lease, so a repeated one
/// plans again and reports again (its report is archived under its own `-dry-run` key).
pub async fn once<F, Fut>(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    inv: &Invocation,
    ttl: Duration,
    work: F,
) -> Result<Response>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Response>>,
{
    if inv.dry_run {
        return work().await;
    }
    // Cheap and outside the lease: most redeliveries come after the run finished.
    if let Some(first) = answered(s3, bucket, inv).await {
        return Ok(answer_again(inv, first));
    }
    let worked = single_flight(s3, bucket, inv, &inv.run_id, ttl, || async {
        // Again under the lease: the run may have finished between the look and the lease.
        if let Some(first) = answered(s3, bucket, inv).await {
            return Ok(answer_again(inv, first));
        }
        let response = work().await?;
        if let Response::Finished(report) = &response {
            if let Err(e) = record_answer(s3, bucket, inv, report).await {
                tracing::warn!(error = %e, "the run's answer could not be recorded: a redelivery of its event would run it again");
            }
        }
        Ok(response)
    })
    .await?;
    Ok(match worked {
        Ok(response) => response,
        Err(held) if held.0.owner == inv.run_id => {
            tracing::info!(run_id = %inv.run_id, "this run is in progress in another invocation; nothing done");
            Response::skipped(
                Some(inv.run_id.clone()),
                format!(
                    "run {} is in progress in another invocation (a repeated delivery of its event); nothing done, nothing sent",
                    inv.run_id
                ),
            )
        }
        Err(held) => {
            let report = held_report(inv, &held);
            Response::Skipped {
                run_id: Some(inv.run_id.clone()),
                reason: report.headline.clone(),
                report: Some(Box::new(report)),
            }
        }
    })
}

/// The report of a trigger that found another run holding the lease: said, not silent.
pub fn held_report(inv: &Invocation, held: &Held) -> Report {
    let mut report = inv.report();
    report.headline = format!(
        "skipped: run {} holds the lease since {}",
        held.0.owner,
        held.0.acquired_at.format("%H:%M:%S UTC")
    );
    report.finding(
        Severity::Info,
        None,
        format!(
            "another run ({}) is in progress until at most {}; this trigger did nothing",
            held.0.owner,
            held.0.expires_at.to_rfc3339()
        ),
    );
    report.finish(Utc::now());
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Decision, Status, Verdict};
    use serde_json::json;
    use std::time::Duration as StdDuration;
    use std::time::SystemTime;

    fn schedule() -> Trigger {
        Trigger::parse(&json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-21T03:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/lifeboat"], "detail": {}
        }))
        .unwrap()
    }

    #[test]
    fn given_a_redelivered_schedule_when_invoked_twice_then_one_run_id() {
        let now = Utc::now();
        let a = Invocation::new("f", "us-east-1", schedule(), false, "req-1", now, None);
        let b = Invocation::new("f", "us-east-1", schedule(), false, "req-2", now, None);
        assert_eq!(
            a.run_id, b.run_id,
            "the event id, not the request, names the run"
        );
        assert!(a.run_id.starts_with("20261121T030000Z-"));
        let manual = Trigger::parse(&json!({"action": "run"})).unwrap();
        let m = Invocation::new("f", "us-east-1", manual, false, "req-3", now, None);
        assert_eq!(m.event_key, "req-3");
        assert_eq!(m.lease_key(), "locks/f.json");
    }

    mod answers {
        use super::*;
        use aws_sdk_s3::operation::get_object::GetObjectOutput;
        use aws_sdk_s3::operation::put_object::PutObjectError;
        use aws_sdk_s3::primitives::ByteStream;
        use aws_smithy_mocks::{mock, mock_client};
        use aws_smithy_types::error::ErrorMetadata;

        fn precondition_failed() -> PutObjectError {
            PutObjectError::generic(
                ErrorMetadata::builder()
                    .code("PreconditionFailed")
                    .message("At least one of the pre-conditions you specified did not hold")
                    .build(),
            )
        }

        fn stored(inv: &Invocation, token: &str) -> impl Fn() -> GetObjectOutput {
            let body = serde_json::to_vec(&Answered {
                run_id: inv.run_id.clone(),
                token: token.to_string(),
                report: inv.report(),
            })
            .unwrap();
            move || {
                GetObjectOutput::builder()
                    .body(ByteStream::from(body.clone()))
                    .e_tag("\"e1\"")
                    .build()
            }
        }

        #[tokio::test]
        async fn given_the_answer_write_succeeded_with_its_reply_lost_then_the_retry_recognises_its_own(
        ) {
            // Given a run whose answer record was stored, the reply lost: the retry gets 412
            // and the stored record carries this invocation's token
            let inv = Invocation::new(
                "f",
                "us-east-1",
                schedule(),
                false,
                "req-1",
                Utc::now(),
                None,
            );
            let key = answered_key("f", &inv.run_id);
            let put = mock!(aws_sdk_s3::Client::put_object)
                .match_requests(move |r| r.if_none_match() == Some("*") && r.key() == Some(&key))
                .then_error(precondition_failed);
            let get = mock!(aws_sdk_s3::Client::get_object).then_output(stored(&inv, "req-1"));
            let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
            // When the answer is recorded
            let done = record_answer(&s3, "b", &inv, &inv.report()).await;
            // Then it is done, not an error, and not written twice
            assert!(done.is_ok(), "{done:?}");
            assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
        }

        #[tokio::test]
        async fn given_another_invocations_answer_then_it_stands_and_is_answered_again() {
            // Given the record of another invocation of the same run
            let inv = Invocation::new(
                "f",
                "us-east-1",
                schedule(),
                false,
                "req-2",
                Utc::now(),
                None,
            );
            let put = mock!(aws_sdk_s3::Client::put_object).then_error(precondition_failed);
            let get = mock!(aws_sdk_s3::Client::get_object)
                .sequence()
                .output(stored(&inv, "req-1"))
                .repeatedly()
                .build();
            let s3 = mock_client!(aws_sdk_s3, [&put, &get]);
            // When this one records its own
            assert!(record_answer(&s3, "b", &inv, &inv.report()).await.is_ok());
            // Then a later delivery answers from the first, naming the same run
            let first = answered(&s3, "b", &inv).await.expect("recorded");
            assert_eq!(first.token, "req-1");
            let again = answer_again(&inv, first).to_json().unwrap();
            assert_eq!(
                (&again["outcome"], &again["run_id"]),
                (&json!("skipped"), &json!(inv.run_id))
            );
            assert!(again["note"].as_str().unwrap().starts_with("already done"));
        }

        #[tokio::test]
        async fn given_a_dry_run_then_once_reads_and_writes_nothing() {
            // Given an S3 that answers nothing
            let s3 = mock_client!(aws_sdk_s3, []);
            let inv = Invocation::new(
                "f",
                "us-east-1",
                schedule(),
                true,
                "req-1",
                Utc::now(),
                None,
            );
            // When a dry run goes through `once`
            let r = once(&s3, "b", &inv, Duration::minutes(1), || async {
                Ok(Response::skipped(None, "planned"))
            })
            .await;
            // Then its work ran, with no lease and no answer record
            assert!(r.is_ok(), "{r:?}");
        }
    }

    #[test]
    fn deadline_keeps_a_reserve_for_the_report() {
        let now = SystemTime::UNIX_EPOCH + StdDuration::from_secs(1_800_000_000);
        let in_15_min = 1_800_000_000_000 + 900_000;
        assert_eq!(stop_time(in_15_min, now), Some(StdDuration::from_secs(870)));
        assert_eq!(
            stop_time(1_800_000_000_000 + 20_000, now),
            Some(StdDuration::from_secs(15)),
            "a quarter of a short invocation"
        );
        assert_eq!(
            stop_time(600_000, now),
            None,
            "a bare timeout is not a deadline"
        );
    }

    #[test]
    fn given_a_report_with_only_the_failed_run_when_finished_then_failed() {
        let inv = Invocation::new("f", "us-east-1", schedule(), false, "r", Utc::now(), None);
        let mut report = inv.report();
        let mut a = Action::new("run", "f", "stopped");
        a.outcome = Outcome::Failed;
        report.actions.push(a);
        report.finish(report.started_at);
        assert_eq!(report.status, Status::Failed);
    }

    #[test]
    fn every_response_says_done_and_run_id() {
        let inv = Invocation::new("f", "us-east-1", schedule(), false, "r", Utc::now(), None);
        let mut report = inv.report();
        report
            .decisions
            .push(Decision::new("x", Verdict::Fail, "bad"));
        report.finish(report.started_at);
        assert_eq!(report.status, Status::Critical);
        let fin = Response::finished(report).to_json().unwrap();
        assert_eq!(
            (&fin["outcome"], &fin["done"], &fin["run_id"]),
            (&json!("finished"), &json!(true), &json!(inv.run_id))
        );
        let wip = Response::InProgress {
            run_id: "r1".into(),
            progress: json!([]),
        }
        .to_json()
        .unwrap();
        assert_eq!(
            (&wip["done"], &wip["run_id"]),
            (&json!(false), &json!("r1"))
        );
        let wip = Response::InProgress {
            run_id: "r1".into(),
            progress: json!({"jobs": [1]}),
        }
        .to_json()
        .unwrap();
        assert_eq!(
            wip["jobs"],
            json!([1]),
            "progress fields sit at the top, for the loop"
        );
        let skip = Response::skipped(None, "held").to_json().unwrap();
        assert_eq!(
            (&skip["outcome"], &skip["done"], &skip["note"]),
            (&json!("skipped"), &json!(true), &json!("held"))
        );
    }
}
