//! The call log of SDK clients whose requests never reach the emulator: tests that answer with
//! `aws-smithy-mocks` (for what moto lacks or fakes) add a [`Recorder`] as an extra interceptor,
//! so the permission check (scripts/iam/check.mjs) sees those requests too and the grants they
//! use do not show as unused.
//!
//! With `LIFEBOAT_CALL_LOG` set to a directory (relative: to the workspace root, as
//! scripts/moto_server.py resolves it), each request a client sends is appended as one JSON line
//! to `<dir>/mocked-<pid>.jsonl`, in the line format of scripts/moto_server.py's `CallLog`, with
//! `"source": "aws-smithy-mocks"`:
//!   app       given to [`Recorder::new`] (`lifeboat-<function>`: the role that must allow it)
//!   service, region   the SigV4 credential scope of the request's Authorization header (the
//!             SDK serializes and signs a request before transmitting it, mocked or not; an
//!             unsigned request would have null here, and the check fails on it as unmapped)
//!   method, host, path (percent-decoded), query (raw), headers (x-amz-target,
//!             x-amz-copy-source, x-amz-tagging, content-type), body (query, JSON and Route 53
//!             XML bodies, first 64 KiB; never S3 object contents nor CBOR)
//!   status    200 for a mocked output, 400 for any mocked modeled error (the interceptor does
//!             not know the HTTP status AWS would give it), a mocked HTTP response's own status
//!   tags, secrets, encrypted_with   of the resources the test says the mocked world holds
//!             ([`Recorder::holds`], [`Recorder::encrypted_with`]), on the lines of the requests
//!             that name them (by ARN or by a name the test gives): `{arn: {key: value}}`,
//!             `{given: secret ARN}` for Secrets Manager requests, `{arn: KMS key ARN}`
//! One line per attempt, written once the attempt has its answer. Without `LIFEBOAT_CALL_LOG`
//! the recorder writes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::{json, Map, Value};

/// The environment variable naming the call log directory.
pub const CALL_LOG_VAR: &str = "LIFEBOAT_CALL_LOG";

/// What each line says about where its answer came from.
pub const SOURCE: &str = "aws-smithy-mocks";

const LOGGED_HEADERS: [&str; 4] = [
    "x-amz-target",
    "x-amz-copy-source",
    "x-amz-tagging",
    "content-type",
];
const BODY_LIMIT: usize = 64 * 1024;
/// The status aws-smithy-mocks' HTTP client answers with when the rule gives a modeled output
/// or error (set on the result afterwards, not in HTTP).
const MOCK_PLACEHOLDER_STATUS: u16 = 418;

/// One process writes its lines one at a time (tests run on several threads).
static WRITE: Mutex<()> = Mutex::new(());

/// A resource of the mocked world, as the test says AWS holds it.
#[derive(Debug, Clone, Default)]
struct Held {
    arn: String,
    names: BTreeSet<String>,
    tags: BTreeMap<String, String>,
    key: Option<String>,
}

/// An interceptor recording each request of the client it is added to (see the module docs).
#[derive(Clone)]
pub struct Recorder {
    app: String,
    file: Option<PathBuf>,
    world: Vec<Held>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("app", &self.app)
            .field("file", &self.file)
            .finish()
    }
}

impl Recorder {
    /// Records the requests of `app` (e.g. `lifeboat-failover-orchestrator`) to
    /// `$LIFEBOAT_CALL_LOG/mocked-<pid>.jsonl`, or nowhere without that variable.
    pub fn new(app: &str) -> Recorder {
        let dir = std::env::var_os(CALL_LOG_VAR)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let d = PathBuf::from(d);
                if d.is_absolute() {
                    d
                } else {
                    workspace_root().join(d)
                }
            });
        Recorder::to(dir.as_deref(), app)
    }

    /// Records to `<dir>/mocked-<pid>.jsonl` (nowhere with `None`).
    pub fn to(dir: Option<&Path>, app: &str) -> Recorder {
        Recorder {
            app: app.to_string(),
            file: dir.map(|d| d.join(format!("mocked-{}.jsonl", std::process::id()))),
            world: Vec::new(),
        }
    }

    /// The file lines go to, if any.
    pub fn file(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The mocked world holds `arn` with these tags; requests may name it by its ARN or by any
    /// of `names` (a secret's name, an instance identifier).
    pub fn holds(mut self, arn: &str, names: &[&str], tags: &[(&str, &str)]) -> Recorder {
        let h = self.held(arn);
        h.names.extend(names.iter().map(|n| n.to_string()));
        h.tags
            .extend(tags.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        self
    }

    /// The mocked world's `arn` (a snapshot, an instance) is encrypted with the KMS key
    /// `key_arn`: a request restoring or replicating it makes AWS use that key on the caller's
    /// behalf.
    pub fn encrypted_with(mut self, arn: &str, key_arn: &str) -> Recorder {
        self.held(arn).key = Some(key_arn.to_string());
        self
    }

    fn held(&mut self, arn: &str) -> &mut Held {
        let i = match self.world.iter().position(|h| h.arn == arn) {
            Some(i) => i,
            None => {
                self.world.push(Held {
                    arn: arn.to_string(),
                    ..Held::default()
                });
                self.world.len() - 1
            }
        };
        &mut self.world[i]
    }

    /// The line of one signed request, without its status.
    fn line(&self, request: &aws_smithy_runtime_api::http::Request) -> Value {
        let uri = request.uri();
        let (host, path, query) = split_uri(uri);
        let headers = request.headers();
        let scope = headers.get("authorization").and_then(credential_scope);
        let (region, service) = match &scope {
            Some((r, s)) => (Value::from(r.as_str()), Value::from(s.as_str())),
            None => (Value::Null, Value::Null),
        };
        let mut logged = Map::new();
        for h in LOGGED_HEADERS {
            if let Some(v) = headers.get(h) {
                logged.insert(h.to_string(), Value::from(v));
            }
        }
        let ctype = headers.get("content-type").unwrap_or_default();
        let service_name = scope.as_ref().map(|(_, s)| s.as_str()).unwrap_or_default();
        let textual = ctype.contains("x-www-form-urlencoded")
            || ctype.contains("json")
            || service_name == "route53";
        let body = match request.body().bytes() {
            Some(b) if textual && service_name != "s3" => {
                Value::from(String::from_utf8_lossy(&b[..b.len().min(BODY_LIMIT)]).into_owned())
            }
            _ => Value::Null,
        };
        let path = percent_decode(path, false);
        let mut entry = json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default(),
            "source": SOURCE,
            "app": self.app,
            "service": service,
            "region": region,
            "method": request.method(),
            "host": host,
            "path": path,
            "query": query,
            "headers": logged,
            "body": body,
        });
        // The mocked world's resources this request names.
        let named = named_values(&path, query, body.as_str(), ctype);
        let (mut tags, mut secrets, mut keys) = (Map::new(), Map::new(), Map::new());
        for h in &self.world {
            let given: Vec<&String> = std::iter::once(&h.arn)
                .chain(h.names.iter())
                .filter(|n| named.contains(n.as_str()))
                .collect();
            if given.is_empty() {
                continue;
            }
            tags.insert(h.arn.clone(), json!(h.tags));
            if service_name == "secretsmanager" {
                for g in given {
                    secrets.insert(g.clone(), Value::from(h.arn.as_str()));
                }
            }
            if let Some(k) = &h.key {
                keys.insert(h.arn.clone(), Value::from(k.as_str()));
            }
        }
        for (field, map) in [
            ("tags", tags),
            ("secrets", secrets),
            ("encrypted_with", keys),
        ] {
            if !map.is_empty() {
                entry[field] = Value::Object(map);
            }
        }
        entry
    }

    fn write(&self, file: &Path, entry: &Value) -> Result<(), BoxError> {
        let mut line = serde_json::to_string(entry)?;
        line.push('\n');
        let _one_at_a_time = WRITE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("{CALL_LOG_VAR}: cannot create {}: {e}", dir.display()))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(line.as_bytes()))
            .map_err(|e| format!("{CALL_LOG_VAR}: cannot append to {}: {e}", file.display()))?;
        Ok(())
    }
}

/// The line of the attempt in flight, kept from transmit until its answer.
#[derive(Debug, Clone)]
struct Pending(Value);

impl Storable for Pending {
    type Storer = StoreReplace<Pending>;
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "LifeboatCallLogRecorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.file.is_some() {
            let line = self.line(context.request());
            cfg.interceptor_state().store_put(Pending(line));
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (Some(file), Some(Pending(line))) = (&self.file, cfg.load::<Pending>().cloned()) else {
            return Ok(());
        };
        cfg.interceptor_state().unset::<Pending>();
        let http = context.response().map(|r| r.status().as_u16());
        let status = match (http, context.output_or_error()) {
            (Some(s), _) if s != MOCK_PLACEHOLDER_STATUS => Some(s),
            (_, Some(Ok(_))) => Some(200),
            (_, Some(Err(_))) => Some(400),
            (_, None) => None,
        };
        let mut line = line;
        line["status"] = status.map(Value::from).unwrap_or(Value::Null);
        self.write(file, &line)
    }
}

/// The workspace root: the nearest directory up from here that holds Cargo.lock (tests run in
/// their crate's directory), else the current directory.
fn workspace_root() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    here.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
        .unwrap_or(here)
}

/// (host, path, query) of an absolute or origin-form URI.
fn split_uri(uri: &str) -> (&str, &str, &str) {
    let rest = uri.split_once("://").map(|(_, r)| r).unwrap_or(uri);
    let (host, target) = match rest.find('/') {
        Some(i) if uri.contains("://") => (&rest[..i], &rest[i..]),
        None if uri.contains("://") => (rest, "/"),
        _ => ("", rest),
    };
    let host = host.split_once('?').map(|(h, _)| h).unwrap_or(host);
    match target.split_once('?') {
        Some((p, q)) => (host, p, q),
        None => (host, target, ""),
    }
}

/// (region, service) of a SigV4 Authorization header's credential scope.
fn credential_scope(auth: &str) -> Option<(String, String)> {
    let scope = auth.split("Credential=").nth(1)?;
    let scope = scope.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    match parts.as_slice() {
        [_, _, region, service, "aws4_request"] => Some((region.to_string(), service.to_string())),
        _ => None,
    }
}

/// `%XX` decoded (and `+` as a space in form data); invalid escapes are kept as they are.
fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 3 <= bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' if plus_as_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every value a request names: its path segments, query and form values, JSON strings.
fn named_values(path: &str, query: &str, body: Option<&str>, ctype: &str) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let mut form = |text: &str| {
        for pair in text.split('&') {
            if let Some((_, v)) = pair.split_once('=') {
                out.insert(percent_decode(v, true));
            }
        }
    };
    form(query);
    match body {
        Some(b) if ctype.contains("x-www-form-urlencoded") => form(b),
        Some(b) if ctype.contains("json") => {
            if let Ok(doc) = serde_json::from_str::<Value>(b) {
                json_strings(&doc, &mut out);
            }
        }
        _ => {}
    }
    out
}

fn json_strings(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use aws_sdk_rds::operation::describe_db_instances::{
        DescribeDBInstancesError, DescribeDbInstancesOutput,
    };
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "lifeboat-call-log-{name}-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lines(rec: &Recorder) -> Vec<Value> {
        std::fs::read_to_string(rec.file().unwrap())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_mocked_query_request_is_logged_signed_with_its_region_body_and_answer() {
        // Given: an RDS client in us-west-2 answered by aws-smithy-mocks, with the recorder
        let dir = scratch("rds");
        let rec = Recorder::to(Some(&dir), "lifeboat-failover-orchestrator");
        let found = mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("orders"))
            .then_output(|| DescribeDbInstancesOutput::builder().build());
        let missing = mock!(aws_sdk_rds::Client::describe_db_instances)
            .match_requests(|r| r.db_instance_identifier() == Some("gone"))
            .then_error(|| {
                DescribeDBInstancesError::generic(
                    ErrorMetadata::builder().code("DBInstanceNotFound").build(),
                )
            });
        let rds = mock_client!(aws_sdk_rds, RuleMode::MatchAny, &[&found, &missing], |c| c
            .region(aws_sdk_rds::config::Region::new("us-west-2"))
            .interceptor(rec.clone()));
        // When
        rds.describe_db_instances()
            .db_instance_identifier("orders")
            .send()
            .await
            .unwrap();
        rds.describe_db_instances()
            .db_instance_identifier("gone")
            .send()
            .await
            .unwrap_err();
        // Then: one line each, in moto_server.py's format, marked as mocked
        let l = lines(&rec);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!(l[0]["source"], "aws-smithy-mocks");
        assert_eq!(l[0]["app"], "lifeboat-failover-orchestrator");
        assert_eq!(l[0]["service"], "rds", "from the SigV4 scope: {l:?}");
        assert_eq!(l[0]["region"], "us-west-2");
        assert_eq!(l[0]["method"], "POST");
        assert_eq!(l[0]["host"], "rds.us-west-2.amazonaws.com");
        assert_eq!(l[0]["path"], "/");
        let body = l[0]["body"].as_str().unwrap();
        assert!(body.contains("Action=DescribeDBInstances"), "{body}");
        assert!(body.contains("DBInstanceIdentifier=orders"), "{body}");
        assert!(l[0]["headers"]["content-type"]
            .as_str()
            .unwrap()
            .contains("x-www-form-urlencoded"));
        assert_eq!(l[0]["status"], 200);
        assert_eq!(l[1]["status"], 400, "a mocked error: {:?}", l[1]);
        assert!(l[0].get("tags").is_none(), "nothing declared: {:?}", l[0]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn the_mocked_worlds_tags_go_only_on_the_requests_that_name_the_resource() {
        let dir = scratch("ssm");
        let arn = "arn:aws:ssm:us-east-1:123456789012:parameter/lifeboat/backup-target";
        let rec = Recorder::to(Some(&dir), "lifeboat-snapshot-export")
            .holds(arn, &["/lifeboat/backup-target"], &[("env", "prod")])
            .encrypted_with(arn, "arn:aws:kms:us-east-1:123456789012:key/k");
        let get = mock!(aws_sdk_ssm::Client::get_parameter)
            .then_output(|| GetParameterOutput::builder().build());
        let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, &[&get], |c| c
            .interceptor(rec.clone()));
        for name in ["/lifeboat/backup-target", "/other"] {
            ssm.get_parameter().name(name).send().await.unwrap();
        }
        let l = lines(&rec);
        assert_eq!(l.len(), 2);
        assert_eq!(l[0]["service"], "ssm");
        assert_eq!(l[0]["region"], "us-east-1");
        assert_eq!(
            l[0]["headers"]["x-amz-target"], "AmazonSSM.GetParameter",
            "{l:?}"
        );
        assert_eq!(l[0]["tags"][arn]["env"], "prod", "{:?}", l[0]);
        assert_eq!(
            l[0]["encrypted_with"][arn],
            "arn:aws:kms:us-east-1:123456789012:key/k"
        );
        assert!(l[0].get("secrets").is_none(), "not Secrets Manager");
        assert!(l[1].get("tags").is_none(), "{:?}", l[1]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn without_a_directory_nothing_is_written() {
        assert!(Recorder::to(None, "lifeboat-x").file().is_none());
    }

    #[test]
    fn uris_scopes_and_escapes_are_read_as_moto_reads_them() {
        assert_eq!(
            split_uri("https://route53.amazonaws.com/2013-04-01/healthcheck/hc%2F1/status?a=b"),
            (
                "route53.amazonaws.com",
                "/2013-04-01/healthcheck/hc%2F1/status",
                "a=b"
            )
        );
        assert_eq!(split_uri("https://h"), ("h", "/", ""));
        assert_eq!(
            credential_scope("AWS4-HMAC-SHA256 Credential=AKID/20090213/us-west-2/rds/aws4_request, SignedHeaders=host, Signature=x"),
            Some(("us-west-2".into(), "rds".into()))
        );
        assert_eq!(credential_scope("Bearer x"), None);
        assert_eq!(percent_decode("a%2Fb+c%zz%4", true), "a/b c%zz%4");
        assert_eq!(percent_decode("a+b", false), "a+b");
    }
}
