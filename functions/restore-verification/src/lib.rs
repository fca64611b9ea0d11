//! restore-verification: proves backups restore.
//!
//! - Restores (schedule, or `{"action": "restore"}`): each due component's chosen backup (RDS
//!   instance snapshot, Aurora cluster snapshot plus one instance, ElastiCache snapshot into a
//!   replication group, AWS Backup recovery point) is restored into a tagged, private temporary
//!   resource, its data checked, the resource torn down; restore time against the RTO and the
//!   verified RPO reported. A resumable run on the shared engine: see [`restores`].
//! - AWS Backup restore testing: on a "Restore Job State Change" COMPLETED event from a
//!   restore-testing plan, the restored resource is checked and the outcome sent with
//!   PutRestoreValidationResult ([`restores::testing`]).
//! - S3 integrity sweeps (`{"action": "sweep"}`): a primary bucket/prefix against its replica,
//!   seed 002's validator ([`sweeps`]).
//! - Janitor (`{"action": "janitor"}`, hourly): removes expired temporary restore resources
//!   outside any run ([`restores::janitor`]).
//!
//! [`command`] parses every trigger into one [`command::Command`]; one `match` dispatches it.

pub mod command;
pub mod preflight;
pub mod restores;
pub mod sweeps;

use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use lifeboat_shared::clients::Aws;
use lifeboat_shared::config::Env;
use lifeboat_shared::notify::Outbox;
use lifeboat_shared::policy::Policy;
use lifeboat_shared::resumable::Store;
use lifeboat_shared::run::{self, Invocation, Response};
use lifeboat_shared::trigger::Trigger;
use lifeboat_shared::Result;
use serde_json::Value;

use crate::command::Command;

pub const FUNCTION: &str = "restore-verification";

/// Everything built once per container.
pub struct App {
    pub env: Env,
    pub policy: Policy,
    pub aws: Aws,
    pub sns: aws_sdk_sns::Client,
    pub s3: aws_sdk_s3::Client,
    pub cloud: restores::inventory::Clients,
}

impl App {
    pub async fn from_env() -> Result<App> {
        let env = Env::from_process()?;
        let aws = Aws::load().await?.for_function(FUNCTION);
        let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3()).await?;
        Ok(App::new(aws, env, policy))
    }

    pub fn new(aws: Aws, env: Env, policy: Policy) -> App {
        let aws = aws.for_function(FUNCTION);
        let conf = aws.config();
        App {
            env,
            policy,
            sns: aws.sns(),
            s3: aws.s3(),
            cloud: restores::inventory::Clients {
                rds: aws_sdk_rds::Client::new(conf),
                elasticache: aws_sdk_elasticache::Client::new(conf),
                backup: aws_sdk_backup::Client::new(conf),
                secrets: aws_sdk_secretsmanager::Client::new(conf),
            },
            aws,
        }
    }

    pub fn outbox(&self) -> Outbox<'_> {
        Outbox::new(&self.env, &self.s3, &self.sns)
    }

    /// Where restore runs keep their journals, status and lease.
    pub fn store(&self) -> Store<'_> {
        Store {
            s3: &self.s3,
            bucket: &self.env.report_bucket,
            function: FUNCTION,
        }
    }

    /// What the restore run uses.
    pub fn restores(&self) -> restores::Context<'_> {
        restores::Context {
            policy: &self.policy,
            clients: &self.cloud,
            s3: &self.s3,
            local_endpoints: &self.env.local_endpoints,
            region: self.aws.region(),
            store: self.store(),
            outbox: self.outbox(),
        }
    }

    /// What the integrity sweeps use.
    pub fn sweeps(&self) -> sweeps::Context<'_> {
        sweeps::Context {
            policy: &self.policy,
            aws: &self.aws,
            s3: &self.s3,
            outbox: self.outbox(),
        }
    }
}

#[tracing::instrument(skip_all, fields(request_id = %event.context.request_id))]
pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value> {
    let (request_id, stop_at) = run::context(&event);
    invoke(app, &event.payload, &request_id, Utc::now(), stop_at)
        .await?
        .to_json()
}

/// One invocation: the command (before any AWS call), then one dispatch.
pub async fn invoke(
    app: &App,
    payload: &Value,
    request_id: &str,
    now: DateTime<Utc>,
    stop_at: Option<std::time::Instant>,
) -> Result<Response> {
    let cmd = command::parse(payload, &app.policy)?;
    let (trigger, dry_run) = match &cmd {
        Command::Restore(c) => (c.trigger.clone(), c.dry_run),
        Command::Sweep(c) => (c.trigger.clone(), c.dry_run),
        Command::Janitor(c) => (c.trigger.clone(), c.dry_run),
        Command::Validate(j) => (Trigger::BackupJob(j.clone()), false),
        Command::Preflight(t) => (t.clone(), true),
    };
    let inv = Invocation::new(
        FUNCTION,
        app.aws.region(),
        trigger,
        dry_run,
        request_id,
        now,
        stop_at,
    );
    let result = match cmd {
        Command::Restore(c) => restores::invoke(&app.restores(), &c, &inv).await,
        Command::Sweep(c) => sweeps::run(&app.sweeps(), &c, &inv).await,
        Command::Janitor(_) => restores::janitor::run(&app.restores(), &inv).await,
        Command::Validate(job) => restores::testing::validate(&app.restores(), &job, &inv).await,
        Command::Preflight(_) => preflight(app, &inv).await,
    };
    run::or_report_failure(&app.outbox(), &inv, result).await
}

/// `{"action": "preflight"}`: the checks, then the report, delivered as a run's is.
async fn preflight(app: &App, inv: &Invocation) -> Result<Response> {
    let cx = preflight::Context {
        policy: &app.policy,
        clients: &app.cloud,
        aws: &app.aws,
        s3: &app.s3,
        report_bucket: &app.env.report_bucket,
        local_endpoints: &app.env.local_endpoints,
    };
    let checks = preflight::check(&cx, &inv.run_id).await;
    lifeboat_shared::preflight::deliver(&app.outbox(), inv, checks).await
}
