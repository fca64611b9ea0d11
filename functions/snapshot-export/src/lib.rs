//! snapshot-export: manual snapshots per schedule period, DR-region copies, exports to S3, a
//! manifest beside each backup, and retention that deletes only with proof of a safe copy.
//!
//! [`command`] → the envelope ([`lifeboat_shared::run`]) → [`execute::work`]: [`inventory`]
//! (reads) → [`plan`] (pure) → the phases of [`execute`] (writes) → [`report`] (pure).

pub mod command;
pub mod execute;
pub mod inventory;
pub mod plan;
pub mod preflight;
pub mod report;

use chrono::{DateTime, Duration, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::{Error, Result};
use serde_json::Value;

use crate::plan::Scope;

pub const FUNCTION: &str = "snapshot-export";

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub clients: inventory::Clients,
    /// The backup target's readers (`buckets.target_parameter`): SSM, and S3 in the DR region.
    pub targets: inventory::TargetClients,
    pub sns: aws_sdk_sns::Client,
    pub report_s3: aws_sdk_s3::Client,
    /// The configuration the clients were built from (preflight's KMS clients).
    pub aws: Aws,
    /// Whether fingerprints are taken (`LIFEBOAT_FINGERPRINTS`: unset or `on`, or
    /// `off: <reason>` when the function has no VPC configuration to reach the databases).
    pub fingerprints: plan::Fingerprints,
}

impl App {
    /// Reads the environment and the policy, and builds the clients. Any error names the
    /// variable or policy field.
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?.for_function(FUNCTION);
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        App::new(&aws, env, policy)
    }

    pub fn new(aws: &Aws, env: Env, policy: Policy) -> Result<App> {
        let aws = &aws.for_function(FUNCTION);
        let dr_region = policy.dr.as_ref().map(|d| d.region.clone());
        if dr_region.as_deref() == Some(aws.region()) {
            return Err(Error::policy(
                "dr.region",
                format!(
                    "a region other than the primary {} (copies must leave it)",
                    aws.region()
                ),
            ));
        }
        let targets = inventory::TargetClients {
            ssm: aws_sdk_ssm::Client::new(aws.config()),
            s3_dr: dr_region.as_deref().map(|r| aws.s3_in(r)),
        };
        let clients = inventory::Clients {
            rds: aws_sdk_rds::Client::new(aws.config()),
            rds_dr: dr_region
                .as_deref()
                .map(|r| aws_sdk_rds::Client::new(&aws.config_in(r))),
            elasticache: aws_sdk_elasticache::Client::new(aws.config()),
            s3: aws.s3(),
            secrets: aws_sdk_secretsmanager::Client::new(aws.config()),
            primary_region: aws.region().to_string(),
            dr_region,
        };
        let fingerprints =
            plan::Fingerprints::parse(std::env::var(plan::FINGERPRINTS_VAR).ok().as_deref())
                .map_err(|e| Error::env(plan::FINGERPRINTS_VAR, e))?;
        Ok(App {
            env,
            policy,
            fingerprints,
            sns: aws.sns(),
            report_s3: aws.s3(),
            clients,
            targets,
            aws: aws.clone(),
        })
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox::new(&self.env, &self.report_s3, &self.sns)
    }
}

/// The Lambda handler.
#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let (request_id, stop_at) = run::context(&event);
    run(app, &event.payload, &request_id, Utc::now(), stop_at)
        .await?
        .to_json()
}

/// One invocation: the command (before any AWS call), then the run and its delivery under the
/// single-flight lease, once per run id ([`run::once`]): a redelivered event answers from the
/// first run's report, and one arriving while it runs finds the lease held; neither does work
/// or sends email.
pub async fn run(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Response> {
    let cmd = command::parse(payload)?;
    let inv = Invocation::new(
        FUNCTION,
        &app.clients.primary_region,
        cmd.trigger,
        cmd.dry_run,
        request_id,
        now,
        stop_at,
    );
    if cmd.preflight {
        return preflight(app, &inv).await;
    }
    let scope = Scope {
        primary_region: app.clients.primary_region.clone(),
        dr_region: app.clients.dr_region.clone(),
        only: cmd.only,
        period_time: inv.trigger.event_time().unwrap_or(now),
        run_id: inv.run_id.clone(),
    };
    tracing::info!(run_id = %inv.run_id, dry_run = inv.dry_run, trigger = %inv.trigger.describe(), "run starts");
    let outbox = app.outbox();
    let result = run::once(
        &app.report_s3,
        &app.env.report_bucket,
        &inv,
        Duration::minutes(16),
        // Boxed: the walk's future is deep, and the runtime's layout query has a depth limit.
        || {
            Box::pin(async {
                let mut report = inv.report();
                execute::work(
                    &app.clients,
                    &app.targets,
                    &app.policy,
                    &app.env.local_endpoints,
                    &app.fingerprints,
                    &scope,
                    &inv,
                    &mut report,
                )
                .await;
                report::summarize(&mut report);
                run::deliver(&outbox, report).await
            })
        },
    )
    .await;
    run::or_report_failure(&outbox, &inv, result).await
}

/// `{"action": "preflight"}`: the checks, then the report, delivered as a run's is.
async fn preflight(app: &App, inv: &Invocation) -> Result<Response> {
    let cx = preflight::Context {
        policy: &app.policy,
        clients: &app.clients,
        aws: &app.aws,
        report_s3: &app.report_s3,
        report_bucket: &app.env.report_bucket,
        local_endpoints: &app.env.local_endpoints,
        fingerprints: &app.fingerprints,
    };
    let checks = preflight::check(&cx, &inv.run_id).await;
    let outbox = app.outbox();
    let result = lifeboat_shared::preflight::deliver(&outbox, inv, checks).await;
    run::or_report_failure(&outbox, inv, result).await
}
