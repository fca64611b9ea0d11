//! S3 integrity sweeps (seed 002's validator): a primary bucket/prefix against its replica.
//! [`plan`] samples and compares (pure), [`execute`] lists, heads, hashes and repairs, [`report`]
//! turns each sweep's result into the report's lines (pure).

pub mod execute;
pub mod plan;
pub mod report;

use lifeboat_shared::clients::Aws;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::report::Severity;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::Result;

use crate::command::SweepCommand;

/// What the sweeps use: the policy, S3 in each sweep's regions, where the report goes.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub aws: &'a Aws,
    /// S3 in the primary region.
    pub s3: &'a aws_sdk_s3::Client,
    pub outbox: Outbox<'a>,
}

impl Context<'_> {
    fn s3_in(&self, region: Option<&str>) -> aws_sdk_s3::Client {
        match region {
            Some(r) if r != self.aws.region() => self.aws.s3_in(r),
            _ => self.s3.clone(),
        }
    }
}

/// One sweep run: every sweep in scope, then the report.
pub async fn run(app: &Context<'_>, cmd: &SweepCommand, inv: &Invocation) -> Result<Response> {
    let mut report = inv.report();
    let threshold = app.policy.thresholds.mismatch_rate_percent;
    let mut results = Vec::new();
    for sw in app
        .policy
        .verification
        .sweeps
        .iter()
        .filter(|s| cmd.only.is_empty() || cmd.only.contains(&s.name))
    {
        let sides = execute::Sides {
            source: app.s3_in(sw.source.region.as_deref()),
            replica: app.s3_in(sw.replica.region.as_deref()),
        };
        let opts = execute::Options {
            sample_rate: cmd.sample_rate.unwrap_or(sw.sample_rate),
            // A redelivered event keeps its id: the same run id and the same sample.
            seed: inv.event_key.clone(),
            repair: cmd.repair && !cmd.dry_run,
            threshold_percent: threshold,
            concurrency: sw.concurrency as usize,
        };
        match execute::run(&sides, sw, &opts).await {
            Ok(r) => {
                report::add(&mut report, sw, &r, cmd, threshold);
                results.push(r);
            }
            Err(e) => report::could_not_run(&mut report, sw, &e),
        }
    }
    if app.policy.verification.sweeps.is_empty() {
        report.finding(
            Severity::Warning,
            None,
            "the policy has no verification.sweeps: nothing to verify",
        );
    }
    report::headline(&mut report, results);
    run::deliver(&app.outbox, report).await
}
