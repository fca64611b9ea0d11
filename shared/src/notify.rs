//! Delivers a finished report: JSON archived in S3 under a predictable key, the email through
//! SNS, and EMF metrics on stdout. When the archive cannot be written (the bucket is down) the
//! email still goes out and says so; when the email cannot be sent, the error is returned.

use aws_sdk_s3::primitives::ByteStream;

use crate::error::{Error, Result};
use crate::report::{Report, Severity};

/// `reports/<function>/<yyyy>/<mm>/<dd>/<run_id>.json`: a retried trigger with the same run id
/// overwrites its own report instead of adding one.
pub fn report_key(report: &Report) -> String {
    format!(
        "reports/{}/{}/{}{}.json",
        report.function,
        report.started_at.format("%Y/%m/%d"),
        report.run_id,
        if report.dry_run { "-dry-run" } else { "" }
    )
}

pub struct Outbox<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub sns: &'a aws_sdk_sns::Client,
    pub bucket: &'a str,
    pub topic_arn: &'a str,
}

impl<'a> Outbox<'a> {
    /// The report bucket and topic the environment names, with the clients of the primary
    /// region.
    pub fn new(
        env: &'a crate::config::Env,
        s3: &'a aws_sdk_s3::Client,
        sns: &'a aws_sdk_sns::Client,
    ) -> Outbox<'a> {
        Outbox {
            s3,
            sns,
            bucket: &env.report_bucket,
            topic_arn: &env.report_topic_arn,
        }
    }

    /// True when an earlier attempt of the same run already archived a FAILED report with the
    /// same headline (a retried invocation failing the same way): its email went out then. A
    /// report that cannot be read counts as not sent — better twice than never.
    pub async fn already_failed(&self, report: &Report) -> bool {
        match crate::journal::read_json::<Report>(self.s3, self.bucket, &report_key(report)).await {
            Ok(Some((earlier, _))) => {
                earlier.status == crate::report::Status::Failed
                    && earlier.headline == report.headline
            }
            _ => false,
        }
    }

    /// Archives, emails and emits metrics. Returns the message id of the email.
    pub async fn deliver(&self, report: &mut Report) -> Result<String> {
        let key = report_key(report);
        report.archive_uri = Some(format!("s3://{}/{key}", self.bucket));
        let body = serde_json::to_vec_pretty(report)
            .map_err(|e| Error::Internal(format!("report JSON: {e}")))?;
        let archived = self
            .s3
            .put_object()
            .bucket(self.bucket)
            .key(&key)
            .content_type("application/json")
            .body(ByteStream::from(body))
            .send()
            .await;
        if let Err(e) = archived {
            let e = Error::aws("PutObject", Some(&key), &e);
            tracing::error!(error = %e, "report archive failed; the email goes out without it");
            report.archive_uri = None;
            report.finding(
                Severity::Warning,
                Some(self.bucket),
                format!("this report could not be archived in S3: {e}"),
            );
            report.finish(report.finished_at);
        }
        let sent = self
            .sns
            .publish()
            .topic_arn(self.topic_arn)
            .subject(report.subject())
            .message(report.render_text())
            .send()
            .await
            .map_err(|e| Error::aws("Publish", Some(self.topic_arn), &e))?;
        crate::metrics::emit(report);
        Ok(sent.message_id.unwrap_or_default())
    }
}
