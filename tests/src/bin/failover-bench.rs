//! failover-orchestrator's figures for docs/PERFORMANCE.md, run by `scripts/bench/failover.sh`
//! (a benchmark, not a test: it measures and asserts nothing).
//!
//!   failover-bench run --out FILE [--plan demo|two|seed|barrier] [--order parallel|chained]
//!                      [--unit S] [--promote M] [--redis M] [--dns M] [--verify M]
//!                      [--loop S] [--hold-ms N]
//!       A fresh emulator world (moto on its own port, the seeded account with the DR read
//!       replica, `Scenario { failover_replica_lag: Some(30.0), .. }`), the plan written into the
//!       seeded policy, one execute run driven to its end the way the Step Functions loop drives
//!       it (invoke; while the answer is "in progress": wait --loop seconds, resume), every AWS
//!       call of the function timed and classified in-process; one JSON object into FILE.
//!   failover-bench seed STATE_DIR
//!       The same world in the emulator at AWS_ENDPOINT_URL (scripts/local-aws.sh), the function
//!       environment in STATE_DIR/env, for the release binary's runs.
//!
//! Plans (`--plan`): `demo` is region-failover of infra/policy.local.yaml as it is; the others
//! are written over it. Step RTOs are the given minutes; `--order chained` makes every step
//! depend on the one before it (seed 003's dr-failover-complete.sh: one after another).
//!   two      assess; promote-orders-db (promote-rds-replica) and restore-sessions (restore-redis)
//!   seed     seed 003's Phase 2 data tier: promote, Redis, DNS (route53-switch, after both),
//!            verify (the orders data checks on the promoted endpoint, after DNS)
//!   barrier  promote-orders-db -> orders-secret -> orders-dns, beside restore-sessions whose
//!            every DescribeReplicationGroups answer is held --hold-ms: does a slow call in one
//!            branch hold the other branch's phases back? (Only restore-sessions' wait is
//!            simulated here.)
//!
//! AWS waits, simulated (moto answers every resource `available` at once; RDS, ElastiCache and
//! Route 53 take minutes): `--unit` seconds stand for one minute. After the function's
//! PromoteReadReplica, DescribeDBInstances answers say the replica is `modifying` for
//! `--promote` units; after its CreateReplicationGroup, the new group is `creating` for
//! `--redis` units; after its ChangeResourceRecordSets, GetChange says `PENDING` for `--dns`
//! units; the verify step's GetSecretValue (the orders-db secret) is held `--verify` units, the
//! stand-in for data checks that take that long. The answers are rewritten (or held) inside the
//! function's own HTTP client, which also times every call: "time in AWS calls" below is the
//! union of the intervals during which at least one call was in flight, from handing the
//! request to the connection to holding the whole answer body.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use chrono::{DateTime, Utc};
use failover_orchestrator::plan::{self, RunState};
use lifeboat_shared::clients::Aws;
use lifeboat_shared::run::Response;
use lifeboat_tests::{failover, function_env, seed, Emulator, Scenario, DR, PRIMARY};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => match Options::parse(&args[1..]) {
            Ok(o) => run(o).await,
            Err(e) => {
                eprintln!("failover-bench run: {e}");
                ExitCode::from(2)
            }
        },
        Some("seed") => match args.get(1) {
            Some(dir) => seed_state(Path::new(dir)).await,
            None => {
                eprintln!("usage: failover-bench seed STATE_DIR");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("usage: failover-bench run --out FILE [options] | seed STATE_DIR (see the source's header)");
            ExitCode::from(2)
        }
    }
}

// --- options ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Options {
    out: PathBuf,
    plan: String,
    chained: bool,
    /// Seconds that stand for one minute of AWS waiting.
    unit: f64,
    promote: u32,
    redis: u32,
    dns: u32,
    verify: u32,
    /// Seconds between an "in progress" answer and the next resume (the loop's Wait).
    loop_s: f64,
    /// The barrier plan: every DescribeReplicationGroups answer of the restored group held.
    hold_ms: u64,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            out: PathBuf::new(),
            plan: "demo".into(),
            chained: false,
            unit: 0.0,
            promote: 10,
            redis: 5,
            dns: 2,
            verify: 3,
            loop_s: 1.0,
            hold_ms: 0,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} takes a value"))?;
            let num = |v: &str| {
                v.parse::<f64>()
                    .map_err(|_| format!("{flag}: a number, got {v:?}"))
            };
            let whole = |v: &str| {
                v.parse::<u32>()
                    .map_err(|_| format!("{flag}: whole minutes, got {v:?}"))
            };
            match flag.as_str() {
                "--out" => o.out = PathBuf::from(value),
                "--plan" => match value.as_str() {
                    "demo" | "two" | "seed" | "barrier" => o.plan = value.clone(),
                    _ => return Err(format!("--plan: demo, two, seed or barrier, got {value:?}")),
                },
                "--order" => match value.as_str() {
                    "parallel" => o.chained = false,
                    "chained" => o.chained = true,
                    _ => return Err(format!("--order: parallel or chained, got {value:?}")),
                },
                "--unit" => o.unit = num(value)?,
                "--promote" => o.promote = whole(value)?,
                "--redis" => o.redis = whole(value)?,
                "--dns" => o.dns = whole(value)?,
                "--verify" => o.verify = whole(value)?,
                "--loop" => o.loop_s = num(value)?,
                "--hold-ms" => o.hold_ms = num(value)? as u64,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if o.out.as_os_str().is_empty() {
            return Err("--out FILE is required".into());
        }
        if o.plan == "demo" && o.chained {
            return Err("--order chained is for the written plans (two, seed, barrier)".into());
        }
        for m in [o.promote, o.redis, o.dns, o.verify] {
            if m == 0 {
                return Err("step RTOs are whole minutes above zero".into());
            }
        }
        Ok(o)
    }

    /// The simulated waits (seconds) of this run.
    fn sim(&self) -> Sim {
        let w = |m: u32| f64::from(m) * self.unit;
        let mut sim = Sim::default();
        if self.unit > 0.0 && self.plan == "barrier" {
            // Only the held branch waits: the other branch's phases are what is measured.
            sim.redis = Some((REDIS_TARGET.to_string(), w(self.redis)));
        } else if self.unit > 0.0 {
            sim.promote = Some((failover::REPLICA.to_string(), w(self.promote)));
            sim.redis = Some((REDIS_TARGET.to_string(), w(self.redis)));
            sim.dns = w(self.dns);
            if self.plan == "seed" {
                sim.holds.push(Hold {
                    op: "GetSecretValue".into(),
                    needle: "lifeboat/orders-db".into(),
                    seconds: w(self.verify),
                });
            }
        }
        if self.plan == "barrier" && self.hold_ms > 0 {
            sim.holds.push(Hold {
                op: "DescribeReplicationGroups".into(),
                needle: format!("ReplicationGroupId={REDIS_TARGET}"),
                seconds: self.hold_ms as f64 / 1000.0,
            });
        }
        sim
    }
}

// --- the function's HTTP client: every call timed, classified, and (simulations) rewritten ---

/// The group restore-sessions creates, and the DR stand-in of the source group's snapshots.
const REDIS_TARGET: &str = "ecommerce-redis-dr";
const REDIS_SOURCE: &str = "ecommerce-redis-cluster";
const REDIS_SNAPSHOT: &str = "lifeboat-ecommerce-redis-cluster-dr";

#[derive(Debug, Clone, Default)]
struct Sim {
    /// (replica, seconds `modifying` after PromoteReadReplica)
    promote: Option<(String, f64)>,
    /// (group, seconds `creating` after CreateReplicationGroup)
    redis: Option<(String, f64)>,
    /// Seconds a Route 53 change stays PENDING.
    dns: f64,
    holds: Vec<Hold>,
}

#[derive(Debug, Clone)]
struct Hold {
    op: String,
    /// Found in the request body.
    needle: String,
    seconds: f64,
}

#[derive(Debug, Clone)]
struct Call {
    service: String,
    region: String,
    op: String,
    /// Seconds since the epoch.
    start: f64,
    end: f64,
    held: f64,
    status: u16,
    rewritten: bool,
}

#[derive(Debug, Default)]
struct Rec {
    calls: Vec<Call>,
    sim: Sim,
    /// When each simulated wait started (`rds:<id>`, `redis:<id>`, `dns:<change id>`).
    started: BTreeMap<String, f64>,
}

#[derive(Debug, Default)]
struct Recorder(Mutex<Rec>);

impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, Rec> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn hold(&self, w: &What) -> f64 {
        self.lock()
            .sim
            .holds
            .iter()
            .find(|h| h.op == w.op && w.text.contains(&h.needle))
            .map(|h| h.seconds)
            .unwrap_or(0.0)
    }

    /// A request that starts a simulated wait.
    fn requested(&self, w: &What, at: f64) {
        let key = match w.op.as_str() {
            "PromoteReadReplica" => w
                .params
                .get("DBInstanceIdentifier")
                .map(|id| format!("rds:{id}")),
            "CreateReplicationGroup" => w
                .params
                .get("ReplicationGroupId")
                .map(|id| format!("redis:{id}")),
            _ => None,
        };
        if let Some(k) = key {
            self.lock().started.entry(k).or_insert(at);
        }
    }

    /// The answer as the simulation has it at `at`: (body, rewritten).
    fn rewrite(&self, w: &What, body: Vec<u8>, at: f64) -> (Vec<u8>, bool) {
        let mut g = self.lock();
        let text = String::from_utf8_lossy(&body).to_string();
        let until = |g: &Rec, key: &str, secs: f64| {
            g.started.get(key).map(|t0| at < t0 + secs).unwrap_or(false)
        };
        let out = match (w.service.as_str(), w.op.as_str()) {
            ("rds", "DescribeDBInstances") => match g.sim.promote.clone() {
                Some((id, secs)) if until(&g, &format!("rds:{id}"), secs) => in_element(
                    &text,
                    "DBInstance",
                    &format!("<DBInstanceIdentifier>{id}</DBInstanceIdentifier>"),
                    "<DBInstanceStatus>available</DBInstanceStatus>",
                    "<DBInstanceStatus>modifying</DBInstanceStatus>",
                ),
                _ => None,
            },
            ("elasticache", "DescribeReplicationGroups") => match g.sim.redis.clone() {
                Some((id, secs)) if until(&g, &format!("redis:{id}"), secs) => in_element(
                    &text,
                    "ReplicationGroup",
                    &format!("<ReplicationGroupId>{id}</ReplicationGroupId>"),
                    "<Status>available</Status>",
                    "<Status>creating</Status>",
                ),
                _ => None,
            },
            ("route53", "ChangeResourceRecordSets") => {
                if let Some(id) = between(&text, "<Id>", "</Id>") {
                    let id = id.trim_start_matches("/change/").to_string();
                    g.started.entry(format!("dns:{id}")).or_insert(at);
                }
                None
            }
            ("route53", "GetChange") => {
                let id = w.path.rsplit('/').next().unwrap_or_default().to_string();
                let secs = g.sim.dns;
                if until(&g, &format!("dns:{id}"), secs) && text.contains("<Status>INSYNC</Status>")
                {
                    Some(text.replace("<Status>INSYNC</Status>", "<Status>PENDING</Status>"))
                } else {
                    None
                }
            }
            _ => None,
        };
        match out {
            Some(t) => (t.into_bytes(), true),
            None => (body, false),
        }
    }

    fn push(&self, c: Call) {
        self.lock().calls.push(c);
    }

    fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    fn started(&self) -> BTreeMap<String, f64> {
        self.lock().started.clone()
    }
}

/// `text` with `from` replaced by `to` inside each `<tag>` element that holds `marker`; None
/// when nothing changed.
fn in_element(text: &str, tag: &str, marker: &str, from: &str, to: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    let mut changed = false;
    while let Some(i) = rest.find(&open) {
        let (head, tail) = rest.split_at(i);
        out.push_str(head);
        let end = tail
            .find(&close)
            .map(|j| j + close.len())
            .unwrap_or(tail.len());
        let (elem, after) = tail.split_at(end);
        if elem.contains(marker) && elem.contains(from) {
            out.push_str(&elem.replace(from, to));
            changed = true;
        } else {
            out.push_str(elem);
        }
        rest = after;
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn between<'a>(text: &'a str, a: &str, b: &str) -> Option<&'a str> {
    let i = text.find(a)? + a.len();
    let j = text[i..].find(b)? + i;
    Some(&text[i..j])
}

/// What a request is: SigV4 service and region, operation, and its body as text.
#[derive(Debug, Clone, Default)]
struct What {
    service: String,
    region: String,
    op: String,
    path: String,
    text: String,
    params: BTreeMap<String, String>,
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

fn classify(req: &HttpRequest) -> What {
    let mut w = What::default();
    if let Some(auth) = req.headers().get("authorization") {
        if let Some(cred) = auth.split("Credential=").nth(1) {
            let parts: Vec<&str> = cred.split(['/', ',']).collect();
            w.region = parts.get(2).unwrap_or(&"").to_string();
            w.service = parts.get(3).unwrap_or(&"").to_string();
        }
    }
    let uri = req.uri();
    let after_host = uri.splitn(4, '/').nth(3).unwrap_or_default();
    let (path, query) = after_host.split_once('?').unwrap_or((after_host, ""));
    w.path = format!("/{path}");
    let body = req.body().bytes().unwrap_or_default();
    w.text = String::from_utf8_lossy(&body[..body.len().min(16 * 1024)]).to_string();
    if w.text.starts_with("Action=") || w.text.contains("&Action=") {
        for kv in w.text.split('&') {
            if let Some((k, v)) = kv.split_once('=') {
                w.params.insert(percent_decode(k), percent_decode(v));
            }
        }
    }
    let query: BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let method = req.method().to_string();
    w.op = if let Some(t) = req.headers().get("x-amz-target") {
        t.rsplit('.').next().unwrap_or(t).to_string()
    } else if let Some(a) = w.params.get("Action") {
        a.clone()
    } else if let Some((_, op)) = w.path.split_once("/operation/") {
        op.to_string()
    } else if w.service == "s3" {
        // The store's objects by their first key segment: runs/ (journals), state/ (status),
        // locks/ (the lease), reports/ (archived reports).
        let key_top = w
            .path
            .trim_start_matches('/')
            .split('/')
            .nth(1)
            .unwrap_or("");
        let op = match (query.get("x-id"), query.get("list-type"), method.as_str()) {
            (Some(x), _, _) => x.to_string(),
            (None, Some(_), _) => "ListObjectsV2".into(),
            (None, None, "HEAD") => "HeadObject".into(),
            (None, None, m) => format!("S3:{m}"),
        };
        format!("{op} {key_top}/")
    } else if w.service == "route53" {
        let p = w.path.as_str();
        match method.as_str() {
            "POST" if p.contains("/rrset") => "ChangeResourceRecordSets".into(),
            "GET" if p.contains("/rrset") => "ListResourceRecordSets".into(),
            "GET" if p.contains("/change/") => "GetChange".into(),
            "GET" if p.contains("/healthcheck/") => "GetHealthCheckStatus".into(),
            "GET" if p.contains("/hostedzone/") => "GetHostedZone".into(),
            m => format!("{m} {p}"),
        }
    } else {
        format!("{method} {}", w.path)
    };
    w
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[derive(Debug, Clone)]
struct Timed {
    inner: SharedHttpConnector,
    rec: Arc<Recorder>,
}

impl HttpConnector for Timed {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let rec = self.rec.clone();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            let what = classify(&request);
            let start = now();
            let held = rec.hold(&what);
            rec.requested(&what, start);
            let answer = inner.call(request).await;
            // Held after AWS answered (the request body sent): a request body the connection
            // has not read for seconds trips the SDK's stalled-stream protection.
            if held > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(held)).await;
            }
            let (answer, status, rewritten) = match answer {
                Ok(mut resp) => {
                    // The whole body inside the timed interval (the SDK reads it at once anyway).
                    let body = ByteStream::new(resp.take_body())
                        .collect()
                        .await
                        .map_err(|e| ConnectorError::io(e.into()))?
                        .to_vec();
                    let (body, rewritten) = rec.rewrite(&what, body, now());
                    if rewritten {
                        resp.headers_mut()
                            .insert("content-length", body.len().to_string());
                    }
                    *resp.body_mut() = SdkBody::from(body);
                    let status = resp.status().as_u16();
                    (Ok(resp), status, rewritten)
                }
                Err(e) => (Err(e), 0, false),
            };
            rec.push(Call {
                service: what.service,
                region: what.region,
                op: what.op,
                start,
                end: now(),
                held,
                status,
                rewritten,
            });
            answer
        })
    }
}

#[derive(Debug, Clone)]
struct Instrumented {
    inner: SharedHttpClient,
    rec: Arc<Recorder>,
}

impl HttpClient for Instrumented {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Timed {
            inner: self.inner.http_connector(settings, components),
            rec: self.rec.clone(),
        })
    }
}

/// The function's SDK configuration as `Aws::load` builds it (retries, timeouts), pointed at the
/// emulator, through the instrumented client (the SDK's default hyper/rustls client inside).
async fn function_config(endpoint: &str, rec: Arc<Recorder>) -> SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .read_timeout(Duration::from_secs(20))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(90))
                .build(),
        )
        .endpoint_url(endpoint)
        .region(Region::new(PRIMARY))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "failover-bench",
        ))
        .http_client(Instrumented { inner, rec })
        .load()
        .await
}

// --- worlds and plans --------------------------------------------------------------------------

fn dr_config(primary: &SdkConfig) -> SdkConfig {
    primary.to_builder().region(Region::new(DR)).build()
}

/// A snapshot of the sessions group in the DR region for restore-redis to restore (ElastiCache
/// has no cross-region snapshot copy; seed 003's script restores "the latest snapshot" there):
/// a stand-in group of the source's name in the DR region, and its snapshot.
async fn seed_dr_cache_snapshot(primary: &SdkConfig) {
    let ec = aws_sdk_elasticache::Client::new(&dr_config(primary));
    ec.create_replication_group()
        .replication_group_id(REDIS_SOURCE)
        .replication_group_description("stand-in: the sessions group's snapshots in the DR region")
        .engine("redis")
        .cache_node_type("cache.r6g.large")
        .num_cache_clusters(1)
        .send()
        .await
        .expect("DR stand-in replication group");
    ec.create_snapshot()
        .snapshot_name(REDIS_SNAPSHOT)
        .replication_group_id(REDIS_SOURCE)
        .send()
        .await
        .expect("DR cache snapshot");
}

struct StepSpec {
    name: &'static str,
    body: String,
    deps: Vec<&'static str>,
}

/// The failover section for `o.plan` (None: the seeded demo plan stays).
fn plan_yaml(o: &Options, zone_id: &str) -> Option<String> {
    let assess = StepSpec {
        name: "assess",
        body: "kind: assess, rto: 1m".into(),
        deps: vec![],
    };
    let promote = StepSpec {
        name: "promote-orders-db",
        body: format!(
            "kind: promote-rds-replica, rto: {}m, params: {{replica: {}, primary: {}}}",
            o.promote,
            failover::REPLICA,
            failover::PRIMARY_DB
        ),
        deps: vec![],
    };
    let redis = StepSpec {
        name: "restore-sessions",
        body: format!(
            "kind: restore-redis, rto: {}m, params: {{target: {REDIS_TARGET}, source_group: {REDIS_SOURCE}, node_type: cache.r6g.large}}",
            o.redis
        ),
        deps: vec![],
    };
    let dns = |deps: Vec<&'static str>| {
        StepSpec {
        name: "orders-dns",
        body: format!(
            "kind: route53-switch, rto: {}m, params: {{hosted_zone_id: \"{zone_id}\", records: [{{name: {}, type: CNAME, ttl: 60, endpoint_from: promote-orders-db}}]}}",
            o.dns,
            failover::RECORD
        ),
        deps,
    }
    };
    let steps = match o.plan.as_str() {
        "two" => vec![assess, promote, redis],
        "seed" => vec![
            assess,
            promote,
            redis,
            dns(vec!["promote-orders-db", "restore-sessions"]),
            StepSpec {
                name: "verify-orders",
                body: format!("kind: verify, rto: {}m, params: {{component: orders-db, endpoint_from: promote-orders-db}}", o.verify),
                deps: vec!["orders-dns"],
            },
        ],
        "barrier" => vec![
            assess,
            promote,
            StepSpec {
                name: "orders-secret",
                body: format!(
                    "kind: update-secret, rto: 2m, params: {{secret: {}, endpoint_from: promote-orders-db}}",
                    failover::APP_SECRET
                ),
                deps: vec!["promote-orders-db"],
            },
            dns(vec!["orders-secret"]),
            redis,
        ],
        _ => return None,
    };
    let mut y = format!(
        "failover:\n  plans:\n    - name: {}\n      primary_region: {PRIMARY}\n      dr_region: {DR}\n      rto: 1h\n      rpo: 15m\n      steps:\n",
        plan_name(o)
    );
    for (i, s) in steps.iter().enumerate() {
        let deps: Vec<&str> = match (o.chained, i) {
            (_, 0) => vec![],
            (true, _) => vec![steps[i - 1].name],
            (false, _) => s.deps.clone(),
        };
        let deps = if deps.is_empty() {
            String::new()
        } else {
            format!(", depends_on: [{}]", deps.join(", "))
        };
        y.push_str(&format!(
            "        - {{name: {}, {}{deps}}}\n",
            s.name, s.body
        ));
    }
    Some(y)
}

fn plan_name(o: &Options) -> String {
    match o.plan.as_str() {
        "demo" => "region-failover".into(),
        p => format!("{p}-{}", if o.chained { "chained" } else { "parallel" }),
    }
}

struct Bench {
    emu: Emulator,
    world: lifeboat_tests::World,
    dir: PathBuf,
    /// The harness's own client configuration (not timed, not rewritten).
    plain: SdkConfig,
}

async fn world(o: &Options) -> Bench {
    let emu = Emulator::start();
    let dir = std::env::temp_dir().join(format!(
        "lifeboat-failover-bench-{}",
        emu.endpoint.rsplit(':').next().unwrap_or("0")
    ));
    let scenario = Scenario {
        failover_replica_lag: Some(30.0),
        ..Scenario::default()
    };
    let world = seed(&emu, &scenario, &dir).await;
    let plain = emu.config(PRIMARY).await;
    if o.plan != "demo" {
        // Every written plan restores the sessions cache.
        seed_dr_cache_snapshot(&plain).await;
        let text = std::fs::read_to_string(&world.policy_path).expect("read the seeded policy");
        let at = text
            .find("\nfailover:\n")
            .expect("the seeded policy has a failover section");
        let section = plan_yaml(o, &world.zone_id).expect("a written plan");
        std::fs::write(&world.policy_path, format!("{}{section}", &text[..=at]))
            .expect("write the policy");
    }
    Bench {
        emu,
        world,
        dir,
        plain,
    }
}

// --- one run -----------------------------------------------------------------------------------

struct Invocation {
    start: f64,
    end: f64,
    kind: &'static str,
}

fn union(mut iv: Vec<(f64, f64)>) -> f64 {
    iv.retain(|(a, b)| b > a);
    iv.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut total = 0.0;
    let mut cur: Option<(f64, f64)> = None;
    for (a, b) in iv {
        cur = match cur {
            Some((ca, cb)) if a <= cb => Some((ca, cb.max(b))),
            Some((ca, cb)) => {
                total += cb - ca;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    if let Some((a, b)) = cur {
        total += b - a;
    }
    total
}

/// The union of `calls`' intervals clipped to [lo, hi].
fn in_calls(calls: &[&Call], lo: f64, hi: f64) -> f64 {
    union(
        calls
            .iter()
            .map(|c| (c.start.max(lo), c.end.min(hi)))
            .collect(),
    )
}

fn ts(t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| t.timestamp_micros() as f64 / 1e6)
}

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn run(o: Options) -> ExitCode {
    let bench = world(&o).await;
    let rec = Arc::new(Recorder::default());
    rec.lock().sim = o.sim();
    let config = function_config(&bench.emu.endpoint, rec.clone()).await;
    let aws = Aws::from_config(config).expect("AWS clients");
    let env = lifeboat_tests::env_for(&bench.world);
    let policy = lifeboat_shared::load_policy(&env.policy, &aws.s3())
        .await
        .expect("the policy loads");
    let name = plan_name(&o);
    let Some(plan_def) = policy.failover.plan(&name).cloned() else {
        eprintln!("plan {name} is not in the policy");
        return ExitCode::FAILURE;
    };
    let app = failover_orchestrator::App::new(aws, env, policy);

    // The run, driven as the Step Functions loop drives it.
    let mut invocations = Vec::new();
    let event = json!({"action": "execute", "plan": name, "confirm": name});
    let t0 = now();
    let mut i = 0;
    let mut run_id = String::new();
    let last = loop {
        let ev = if i == 0 {
            event.clone()
        } else {
            json!({"action": "resume", "run_id": run_id})
        };
        let start = now();
        let r =
            failover_orchestrator::invoke(&app, &ev, &format!("bench-{i}"), Utc::now(), None).await;
        let end = now();
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                eprintln!("invocation {i} ({ev}): {e}");
                return ExitCode::FAILURE;
            }
        };
        invocations.push(Invocation {
            start,
            end,
            kind: if i == 0 { "execute" } else { "resume" },
        });
        i += 1;
        match &r {
            Response::InProgress { run_id: id, .. } => run_id = id.clone(),
            _ => break r,
        }
        if i >= 2000 || now() - t0 > 1800.0 {
            eprintln!("the run did not finish within 2,000 invocations or 30 minutes");
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_secs_f64(o.loop_s)).await;
    };
    let driver_s = now() - t0;
    let report = match &last {
        Response::Finished(r) => r.as_ref().clone(),
        other => {
            eprintln!("the run ended without a report: {other:?}");
            return ExitCode::FAILURE;
        }
    };
    if run_id.is_empty() {
        run_id = report.run_id.clone();
    }
    let journal = failover::journal_json(
        &bench.plain,
        &bench.world.report_bucket,
        &lifeboat_shared::resumable::journal_key(failover_orchestrator::FUNCTION, &run_id),
    )
    .await;
    let state: RunState =
        serde_json::from_value(journal.clone()).expect("the journal reads as the run's state");
    let calls = rec.calls();
    let out = analyse(
        &o,
        &plan_def,
        &state,
        &journal,
        &report,
        &calls,
        &invocations,
        driver_s,
        &rec.started(),
    );
    let text = serde_json::to_string_pretty(&out).expect("JSON");
    if let Err(e) = std::fs::write(&o.out, text) {
        eprintln!("cannot write {}: {e}", o.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!("[failover-bench] {}: {}", name, report.headline);
    bench.world.drop_databases().await;
    let _ = std::fs::remove_dir_all(&bench.dir);
    ExitCode::SUCCESS
}

/// Engine bookkeeping: the store (journal, status, lease, archived report) and the emails.
fn engine_call(c: &Call) -> bool {
    c.service == "sns"
        || (c.service == "s3"
            && ["runs/", "state/", "locks/", "reports/"]
                .iter()
                .any(|k| c.op.ends_with(k)))
}

#[allow(clippy::too_many_arguments)]
fn analyse(
    o: &Options,
    plan_def: &lifeboat_shared::policy::failover::Plan,
    state: &RunState,
    journal: &Value,
    report: &lifeboat_shared::report::Report,
    calls: &[Call],
    invocations: &[Invocation],
    driver_s: f64,
    started: &BTreeMap<String, f64>,
) -> Value {
    let all: Vec<&Call> = calls.iter().collect();
    let engine: Vec<&Call> = calls.iter().filter(|c| engine_call(c)).collect();
    let steps_aws: Vec<&Call> = calls.iter().filter(|c| !engine_call(c)).collect();
    let mut inv_out = Vec::new();
    let (mut wall, mut aws, mut eng, mut stp) = (0.0, 0.0, 0.0, 0.0);
    for v in invocations {
        let w = v.end - v.start;
        let a = in_calls(&all, v.start, v.end);
        let e = in_calls(&engine, v.start, v.end);
        let s = in_calls(&steps_aws, v.start, v.end);
        wall += w;
        aws += a;
        eng += e;
        stp += s;
        let n = calls
            .iter()
            .filter(|c| c.start >= v.start && c.end <= v.end)
            .count();
        inv_out.push(json!({"kind": v.kind, "wall_s": r3(w), "aws_s": r3(a), "outside_aws_s": r3(w - a), "calls": n}));
    }
    // A resume that finds every step still waiting: the loop's per-poll cost.
    let resumes: Vec<&Value> = inv_out.iter().skip(1).collect();
    let median = |k: &str| {
        let mut xs: Vec<f64> = resumes.iter().filter_map(|v| v[k].as_f64()).collect();
        xs.sort_by(f64::total_cmp);
        xs.get(xs.len() / 2).copied()
    };
    let resume_median =
        json!({"wall_s": median("wall_s"), "aws_s": median("aws_s"), "calls": median("calls")});
    // The verify step's data checks run outside AWS calls (SQL on the new endpoint).
    let mut data_checks = 0.0;
    for s in state.steps.iter().filter(|s| {
        matches!(
            s.action,
            lifeboat_shared::policy::failover::Action::Verify(_)
        )
    }) {
        if let (Some(a), Some(b)) = (ts(s.started_at), ts(s.ended_at)) {
            data_checks += (b - a) - in_calls(&all, a, b);
        }
    }
    let outside = wall - aws;
    // Steps: measured spans (ms), the simulated wait each had, polls.
    let mut steps = Vec::new();
    let mut ms: BTreeMap<String, i64> = BTreeMap::new();
    for s in &state.steps {
        let span = match (ts(s.started_at), ts(s.ended_at)) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        ms.insert(
            s.name.clone(),
            span.map(|x| (x * 1000.0).round() as i64).unwrap_or(0),
        );
        let wait = match s.action.kind() {
            "promote-rds-replica" => o.sim().promote.map(|p| p.1),
            "restore-redis" => o.sim().redis.map(|p| p.1),
            "route53-switch" => Some(o.sim().dns),
            "verify" => o
                .sim()
                .holds
                .iter()
                .find(|h| h.op == "GetSecretValue")
                .map(|h| h.seconds),
            _ => None,
        }
        .filter(|w| *w > 0.0);
        steps.push(json!({
            "name": s.name,
            "kind": s.action.kind(),
            "depends_on": s.depends_on,
            "rto_s": s.rto_seconds,
            "phase": s.phase,
            "started": ts(s.started_at),
            "ended": ts(s.ended_at),
            "seconds": span.map(r3),
            "simulated_wait_s": wait,
            "polls": s.memo.get("polls"),
            "detail": s.detail,
            "error": s.error,
        }));
    }
    let graph: Vec<(String, Vec<String>)> = state
        .steps
        .iter()
        .map(|s| (s.name.clone(), s.depends_on.clone()))
        .collect();
    let (crit_ms, crit_path) = plan::critical_path(&graph, |n| ms.get(n).copied().unwrap_or(0));
    let first = state
        .steps
        .iter()
        .filter_map(|s| ts(s.started_at))
        .fold(f64::INFINITY, f64::min);
    let last = state
        .steps
        .iter()
        .filter_map(|s| ts(s.ended_at))
        .fold(f64::NEG_INFINITY, f64::max);
    let (fn_len, fn_path, fn_wall) = plan::achieved_rto(state);
    let (exp, exp_path) = plan::expected_rto(plan_def);
    // Calls by kind.
    let mut by_op: BTreeMap<String, (u32, f64)> = BTreeMap::new();
    for c in calls {
        let e = by_op
            .entry(format!("{} {}", c.service, c.op))
            .or_insert((0, 0.0));
        e.0 += 1;
        e.1 += c.end - c.start;
    }
    let by_op: serde_json::Map<String, Value> = by_op
        .into_iter()
        .map(|(k, (n, s))| (k, json!({"n": n, "s": r3(s)})))
        .collect();
    // Rounds: the journal is saved after each round (and once when planned, once per
    // invocation before the rounds, once when finished).
    let mut by_region: BTreeMap<String, u32> = BTreeMap::new();
    for c in calls {
        *by_region
            .entry(if c.region.is_empty() {
                "global".into()
            } else {
                c.region.clone()
            })
            .or_insert(0) += 1;
    }
    let journal_puts = calls
        .iter()
        .filter(|c| c.service == "s3" && c.op == "PutObject runs/")
        .count();
    // The barrier probe: branch A (promote -> secret -> dns) against the held branch.
    let branch_a = match (state.step("promote-orders-db"), state.step("orders-dns")) {
        (Some(p), Some(d)) if o.plan == "barrier" => match (ts(p.started_at), ts(d.ended_at)) {
            (Some(a), Some(b)) => {
                let held: Vec<&Call> = calls
                    .iter()
                    .filter(|c| c.held > 0.0 && c.start < b && c.end > a)
                    .collect();
                let puts = calls
                    .iter()
                    .filter(|c| c.op == "PutObject runs/" && c.start >= a && c.end <= b)
                    .count();
                let polls = calls
                    .iter()
                    .filter(|c| c.op == "DescribeReplicationGroups" && c.start >= a && c.end <= b)
                    .count();
                json!({"span_s": r3(b - a), "held_calls_during": held.len(),
                       "held_s_during": r3(in_calls(&held, a, b)), "journal_saves_during": puts,
                       "other_branch_polls_during": polls})
            }
            _ => Value::Null,
        },
        _ => Value::Null,
    };
    let measurement = |n: &str| {
        report
            .measurements
            .iter()
            .find(|m| m.name == n)
            .map(|m| m.value)
    };
    json!({
        "plan": plan_def.name,
        "shape": o.plan,
        "order": if o.chained { "chained" } else { "parallel" },
        "unit_s": o.unit,
        "loop_s": o.loop_s,
        "hold_ms": o.hold_ms,
        "headline": report.headline,
        "status": report.status,
        "expected_rto_s": exp,
        "expected_path": exp_path,
        "sequential_rto_s": plan::sequential_rto(plan_def),
        "invocations": inv_out,
        "invocation_count": invocations.len(),
        "resume_median": resume_median,
        "invocations_wall_s": r3(wall),
        "aws_s": r3(aws),
        "engine_aws_s": r3(eng),
        "step_aws_s": r3(stp),
        "outside_aws_s": r3(outside),
        "data_checks_s": r3(data_checks),
        "in_process_s": r3(outside - data_checks),
        "driver_s": r3(driver_s),
        "acting_wall_s": if first.is_finite() && last.is_finite() { Value::from(r3(last - first)) } else { Value::Null },
        "critical_path_s": r3(crit_ms as f64 / 1000.0),
        "critical_path": crit_path,
        "function_achieved_rto": {"critical_path_s": fn_len, "path": fn_path, "wall_s": fn_wall},
        "report_achieved_rto_s": measurement("AchievedRtoSeconds"),
        "steps": steps,
        "calls": calls.len(),
        "engine_calls": engine.len(),
        "step_calls": steps_aws.len(),
        "rewritten_answers": calls.iter().filter(|c| c.rewritten).count(),
        "held_calls": calls.iter().filter(|c| c.held > 0.0).count(),
        "failed_calls": calls
            .iter()
            .filter(|c| c.status >= 400 || c.status == 0)
            .map(|c| format!("{} {} {}", c.service, c.op, c.status))
            .collect::<Vec<_>>(),
        "findings": report.findings.iter().map(|f| format!("{:?}: {}", f.severity, f.message)).collect::<Vec<_>>(),
        "by_op": by_op,
        "by_region": by_region,
        "journal_saves": journal_puts,
        "journal_bytes": journal.to_string().len(),
        "waits_started": started,
        "branch_a": branch_a,
    })
}

// --- the release binary's world ----------------------------------------------------------------

async fn seed_state(dir: &Path) -> ExitCode {
    let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") else {
        eprintln!("AWS_ENDPOINT_URL is not set: start the emulator with scripts/local-aws.sh");
        return ExitCode::from(2);
    };
    let clock = std::env::var("LIFEBOAT_EMULATOR_CLOCK_FILE").unwrap_or_default();
    let emu = Emulator::attach(&endpoint, Path::new(&clock));
    let scenario = Scenario {
        failover_replica_lag: Some(30.0),
        ..Scenario::default()
    };
    let world = seed(&emu, &scenario, dir).await;
    let mut env = String::new();
    for (k, v) in function_env(&endpoint, &world) {
        env.push_str(&format!("{k}=\"{v}\"\n"));
    }
    env.push_str(&format!(
        "LIFEBOAT_BENCH_ORDERS_DB={}\n",
        world.orders_database
    ));
    env.push_str(&format!(
        "LIFEBOAT_BENCH_CATALOG_DB={}\n",
        world.catalog_database
    ));
    if let Err(e) = std::fs::write(dir.join("env"), env) {
        eprintln!("cannot write {}: {e}", dir.join("env").display());
        return ExitCode::FAILURE;
    }
    println!(
        "seeded the failover world (DR replica {} with 30 s of ReplicaLag) into {endpoint}",
        failover::REPLICA
    );
    ExitCode::SUCCESS
}
