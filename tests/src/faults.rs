//! Fault injection: `scripts/fault_proxy.py` in front of an emulator, and the rules that make
//! the day unlucky (an answer lost after the call happened, an outage, throttling, resets, slow
//! answers). Point the SDK at [`FaultProxy::endpoint`] instead of the emulator's; read back what
//! reached it with [`FaultProxy::log`].
//!
//! ```ignore
//! let emu = Emulator::start();
//! let proxy = FaultProxy::start(&emu.endpoint);
//! proxy.set_rules(7, &[Rule::lost_answer("s3", "PutObject")]);
//! let config = lifeboat_tests::config_for(&proxy.endpoint, "us-east-1").await;
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use serde_json::{json, Value};

use crate::root;

/// When a fault strikes: before the request reaches the emulator (AWS never saw it), or after
/// the emulator carried it out (its answer is lost on the way back).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum When {
    #[default]
    Before,
    After,
}

/// What the client gets instead of the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 500 in the service's error shape (InternalError / InternalFailure).
    #[default]
    Error,
    /// HTTP 503 ServiceUnavailable.
    Unavailable,
    /// The service's throttling error (SlowDown, Throttling, ThrottlingException).
    Throttle,
    /// The connection is reset, no answer at all.
    Reset,
    /// The normal answer, `delay_ms` late.
    Slow,
}

/// One fault rule; the match fields left `None` match anything. See `scripts/fault_proxy.py`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub service: Option<String>,
    pub operation: Option<String>,
    /// A regex searched in the (unquoted) URL path.
    pub path: Option<String>,
    /// A regex searched in the request body (form-decoded), e.g. `DBInstanceIdentifier=orders`.
    pub body: Option<String>,
    pub method: Option<String>,
    pub region: Option<String>,
    pub when: When,
    pub fault: Fault,
    /// Probability that a matching request is faulted (seeded, so repeatable).
    pub rate: f64,
    /// Let the first `skip` matching requests through untouched.
    pub skip: u32,
    /// Fault at most this many times (`None`: unlimited).
    pub count: Option<u32>,
    /// For [`Fault::Slow`].
    pub delay_ms: u64,
    /// Overrides the HTTP status of an error answer.
    pub status: Option<u16>,
}

impl Default for Rule {
    /// Every request, faulted before it is forwarded with a 500, always.
    fn default() -> Self {
        Rule {
            service: None,
            operation: None,
            path: None,
            body: None,
            method: None,
            region: None,
            when: When::Before,
            fault: Fault::Error,
            rate: 1.0,
            skip: 0,
            count: None,
            delay_ms: 0,
            status: None,
        }
    }
}

impl When {
    /// The proxy's name for it: "before" or "after".
    pub fn as_str(self) -> &'static str {
        match self {
            When::Before => "before",
            When::After => "after",
        }
    }
}

impl Fault {
    /// The proxy's name for it: "error", "unavailable", "throttle", "reset" or "slow".
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Error => "error",
            Fault::Unavailable => "unavailable",
            Fault::Throttle => "throttle",
            Fault::Reset => "reset",
            Fault::Slow => "slow",
        }
    }
}

impl Rule {
    /// The rule as the proxy reads it (the `None` fields left out).
    pub fn to_json(&self) -> Value {
        let mut rule = json!({
            "when": self.when.as_str(),
            "fault": self.fault.as_str(),
            "rate": self.rate,
            "skip": self.skip,
            "delay_ms": self.delay_ms,
        });
        let optional = [
            ("service", self.service.clone().map(Value::from)),
            ("operation", self.operation.clone().map(Value::from)),
            ("path", self.path.clone().map(Value::from)),
            ("body", self.body.clone().map(Value::from)),
            ("method", self.method.clone().map(Value::from)),
            ("region", self.region.clone().map(Value::from)),
            ("count", self.count.map(Value::from)),
            ("status", self.status.map(Value::from)),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                rule[name] = value;
            }
        }
        rule
    }

    /// The call to `service`'s `operation` happens, and its answer is lost once (a 500 instead).
    pub fn lost_answer(service: &str, operation: &str) -> Rule {
        Rule {
            service: Some(service.to_string()),
            operation: Some(operation.to_string()),
            when: When::After,
            fault: Fault::Error,
            count: Some(1),
            ..Rule::default()
        }
    }

    /// `service` answers 503 to everything, before doing anything.
    pub fn outage(service: &str) -> Rule {
        Rule {
            service: Some(service.to_string()),
            when: When::Before,
            fault: Fault::Unavailable,
            ..Rule::default()
        }
    }

    /// Any request of any service fails with a 500 with probability `rate`, `when` given.
    pub fn random(rate: f64, when: When) -> Rule {
        Rule {
            rate,
            when,
            fault: Fault::Error,
            ..Rule::default()
        }
    }

    pub fn service(mut self, service: &str) -> Rule {
        self.service = Some(service.to_string());
        self
    }

    pub fn operation(mut self, operation: &str) -> Rule {
        self.operation = Some(operation.to_string());
        self
    }

    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_string());
        self
    }

    /// Only requests whose URL path matches this regex.
    pub fn path(mut self, regex: &str) -> Rule {
        self.path = Some(regex.to_string());
        self
    }

    /// Only requests whose (form-decoded) body matches the regex.
    pub fn body(mut self, regex: &str) -> Rule {
        self.body = Some(regex.to_string());
        self
    }

    pub fn region(mut self, region: &str) -> Rule {
        self.region = Some(region.to_string());
        self
    }

    pub fn count(mut self, n: u32) -> Rule {
        self.count = Some(n);
        self
    }

    pub fn skip(mut self, n: u32) -> Rule {
        self.skip = n;
        self
    }

    pub fn rate(mut self, rate: f64) -> Rule {
        self.rate = rate;
        self
    }

    pub fn fault(mut self, fault: Fault) -> Rule {
        self.fault = fault;
        self
    }

    pub fn when(mut self, when: When) -> Rule {
        self.when = when;
        self
    }

    pub fn delay_ms(mut self, ms: u64) -> Rule {
        self.delay_ms = ms;
        self
    }

    pub fn status(mut self, status: u16) -> Rule {
        self.status = Some(status);
        self
    }
}

/// One request as the proxy logged it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub seq: u64,
    pub service: String,
    pub region: String,
    pub operation: String,
    pub method: String,
    pub path: String,
    /// The status the client got (the emulator's or the fault's); `None` for a reset.
    pub status: Option<u16>,
    /// "error", "unavailable", "throttle", "reset", "slow" or `None`.
    pub fault: Option<String>,
    /// "before", "after" or `None`.
    pub when: Option<String>,
    /// Whether the emulator received the request.
    pub forwarded: bool,
    pub ms: f64,
    /// The index of the rule that faulted it.
    pub rule: Option<usize>,
}

impl Request {
    /// One line of the proxy's log; `None` if it is not one.
    pub fn from_json(line: &Value) -> Option<Request> {
        let text = |name: &str| line.get(name)?.as_str().map(str::to_string);
        let opt_text = |name: &str| match line.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => v.as_str().map(|s| Some(s.to_string())),
        };
        let opt_u64 = |name: &str| match line.get(name) {
            None | Some(Value::Null) => Some(None),
            Some(v) => v.as_u64().map(Some),
        };
        Some(Request {
            seq: line.get("seq")?.as_u64()?,
            service: text("service")?,
            region: text("region")?,
            operation: text("operation")?,
            method: text("method")?,
            path: text("path")?,
            status: opt_u64("status")?.and_then(|s| u16::try_from(s).ok()),
            fault: opt_text("fault")?,
            when: opt_text("when")?,
            forwarded: line.get("forwarded")?.as_bool()?,
            ms: line.get("ms")?.as_f64()?,
            rule: opt_u64("rule")?.and_then(|r| usize::try_from(r).ok()),
        })
    }
}

/// How many requests of `log` were faulted (slow answers included).
pub fn faults(log: &[Request]) -> usize {
    log.iter().filter(|r| r.fault.is_some()).count()
}

/// How many requests of `log` were `service`'s `operation`.
pub fn count(log: &[Request], service: &str, operation: &str) -> usize {
    log.iter()
        .filter(|r| r.service == service && r.operation == operation)
        .count()
}

/// `scripts/fault_proxy.py` on a free loopback port in front of an upstream, stopped when
/// dropped.
pub struct FaultProxy {
    child: Child,
    pub endpoint: String,
    /// The proxy's request log (JSON lines); removed when dropped unless the thread is panicking.
    pub log_file: PathBuf,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream` (e.g. an [`crate::Emulator`]'s endpoint), with no
    /// rules, and waits until it answers.
    pub fn start(upstream: &str) -> FaultProxy {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let python = root().join(".tools/moto/bin/python");
        let python = if python.exists() {
            python
        } else {
            PathBuf::from("python3")
        };
        let log_file = std::env::temp_dir().join(format!(
            "lifeboat-fault-proxy-{}-{}.jsonl",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_file(&log_file);
        let mut child = Command::new(&python)
            .arg(root().join("scripts/fault_proxy.py"))
            .args(["--port", "0", "--upstream", upstream, "--log"])
            .arg(&log_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", python.display()));
        let limit = Duration::from_secs(60);
        // The first stdout line names the port: `listening on http://127.0.0.1:N`.
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(stdout).read_line(&mut line);
                let _ = tx.send(line);
            });
        }
        let line = rx.recv_timeout(limit).unwrap_or_default();
        let endpoint = match line.trim().strip_prefix("listening on ") {
            Some(url) => url.to_string(),
            None => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "scripts/fault_proxy.py did not start within {limit:?} (exit: {status:?}, \
                     first line: {line:?})"
                );
            }
        };
        let proxy = FaultProxy {
            child,
            endpoint,
            log_file,
        };
        let start = Instant::now();
        loop {
            if let Ok((200, body)) = proxy.try_control("GET", "/__faults/health", "") {
                if body.trim() == "ok" {
                    return proxy;
                }
            }
            assert!(
                start.elapsed() < limit,
                "the fault proxy at {} did not answer /__faults/health within {limit:?}",
                proxy.endpoint
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Replaces the rules (their counters and the random generator, seeded with `seed`, restart).
    pub fn set_rules(&self, seed: u64, rules: &[Rule]) {
        let rules: Vec<Value> = rules.iter().map(Rule::to_json).collect();
        let body = json!({ "seed": seed, "rules": rules }).to_string();
        self.control("PUT", "/__faults/rules", &body);
    }

    /// No faults any more.
    pub fn clear_rules(&self) {
        self.control("PUT", "/__faults/rules", r#"{"rules": []}"#);
    }

    /// Every request proxied since the start (or the last [`FaultProxy::clear_log`]), in order.
    pub fn log(&self) -> Vec<Request> {
        let body = self.control("GET", "/__faults/log", "");
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .ok()
                    .and_then(|v| Request::from_json(&v))
                    .unwrap_or_else(|| panic!("not a fault proxy log line: {l:?}"))
            })
            .collect()
    }

    pub fn clear_log(&self) {
        self.control("POST", "/__faults/clear", "");
    }

    /// One control request; panics unless it answers 200. The body of the answer.
    fn control(&self, method: &str, path: &str, body: &str) -> String {
        match self.try_control(method, path, body) {
            Ok((200, text)) => text,
            Ok((status, text)) => panic!("fault proxy {method} {path}: HTTP {status}: {text}"),
            Err(e) => panic!("fault proxy {method} {path}: {e}"),
        }
    }

    /// A plain HTTP/1.0 request to the control endpoint: (status, body).
    fn try_control(&self, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let request = format!(
            "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(request.as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head:?}")))?;
        Ok((status, body.to_string()))
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log_file);
        }
    }
}

/// AWS's own answer where moto's to a repeated write differs, in front of the fault proxy: the
/// SDK's retry of a write whose answer the proxy lost gets what AWS would answer it.
///
/// - `PromoteReadReplica` of an instance already promoted: AWS answers 400
///   `InvalidDBInstanceState` "DB Instance is not a read replica." (the code and message
///   ansible's amazon.aws `rds.py` treats as "already promoted"); moto promotes again, 200.
/// - `CreateDBInstanceReadReplica` of an id already created: AWS answers 400
///   `DBInstanceAlreadyExists`; moto silently replaces the instance, 200.
///
/// What counts as done is what went through this client and reached moto: its own 2xx answer,
/// or a fault proxy answer marked `…/after` (the call happened, its answer was lost). Everything
/// else is passed through unchanged. It is the SDK's HTTP client: plain HTTP/1.0 to a loopback
/// endpoint (the proxy), one connection a request, in-memory bodies only (every request the
/// functions make has one). Its own answers never reach the proxy, so they are not in its log:
/// [`AsAws::answered`] lists them.
#[derive(Debug, Clone, Default)]
pub struct AsAws {
    state: std::sync::Arc<std::sync::Mutex<AsAwsState>>,
}

#[derive(Debug, Default)]
struct AsAwsState {
    /// (region, instance id) promoted through this client.
    promoted: std::collections::BTreeSet<(String, String)>,
    /// (region, instance id) created as a read replica through this client.
    created: std::collections::BTreeSet<(String, String)>,
    answered: Vec<String>,
}

impl AsAws {
    pub fn new() -> AsAws {
        AsAws::default()
    }

    /// `config` with this as its HTTP client.
    pub fn config(&self, config: &aws_config::SdkConfig) -> aws_config::SdkConfig {
        config.to_builder().http_client(self.clone()).build()
    }

    /// What it answered in AWS's place: `"PromoteReadReplica us-west-2 ecommerce-prod-db-replica:
    /// InvalidDBInstanceState"`, in order.
    pub fn answered(&self) -> Vec<String> {
        self.lock().answered.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AsAwsState> {
        // A panic elsewhere while holding it leaves the sets consistent (each update is one
        // insert or remove).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl HttpClient for AsAws {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// The form fields of a query-protocol body (`Action=…&DBInstanceIdentifier=…`), decoded.
fn form_fields(body: &[u8]) -> std::collections::BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                    match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        Some(b) => {
                            out.push(b);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The region and service of a SigV4-signed request's credential scope.
fn credential_scope(request: &HttpRequest) -> Option<(String, String)> {
    let auth = request.headers().get("authorization")?;
    let scope = auth.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    let mut parts = scope.split('/').skip(2);
    Some((parts.next()?.to_string(), parts.next()?.to_string()))
}

/// An awsQuery error answer, as RDS gives it.
fn query_error(status: u16, code: &str, message: &str) -> Result<HttpResponse, ConnectorError> {
    let body = format!(
        "<ErrorResponse xmlns=\"http://rds.amazonaws.com/doc/2014-10-31/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>as-aws-0000</RequestId>\
         </ErrorResponse>"
    );
    let status = aws_smithy_runtime_api::http::StatusCode::try_from(status)
        .map_err(|e| ConnectorError::other(Box::new(e), None))?;
    let mut r = HttpResponse::new(status, aws_smithy_types::body::SdkBody::from(body));
    r.headers_mut().insert("content-type", "text/xml");
    r.headers_mut().insert("x-amzn-requestid", "as-aws-0000");
    Ok(r)
}

/// An HTTP answer: status, headers, body.
type Answer = (u16, Vec<(String, String)>, Vec<u8>);

/// One request over a fresh connection (HTTP/1.0: the answer ends when the connection closes).
fn exchange(
    uri: &str,
    method: &str,
    headers: &[(String, String)],
    body: &[u8],
    timeout: Duration,
) -> std::io::Result<Answer> {
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let rest = uri.strip_prefix("http://").ok_or_else(|| {
        bad(format!(
            "AsAws speaks plain HTTP to a loopback endpoint, not {uri}"
        ))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = TcpStream::connect(authority)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {authority}\r\n"));
    }
    for (k, v) in headers {
        let lower = k.to_ascii_lowercase();
        if matches!(
            lower.as_str(),
            "content-length" | "transfer-encoding" | "connection" | "keep-alive"
        ) {
            continue;
        }
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let end = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("an answer without a complete head".into()))?;
    let head = String::from_utf8_lossy(&out[..end]).into_owned();
    let mut body = out[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("not an HTTP status line: {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    if method == "HEAD" {
        body.clear();
    } else if let Some(n) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        body.truncate(n);
    }
    Ok((status, headers, body))
}

impl HttpConnector for AsAws {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let Some(body) = request.body().bytes().map(<[u8]>::to_vec) else {
            return HttpConnectorFuture::ready(Err(ConnectorError::other(
                "AsAws sends in-memory request bodies only; this one streams".into(),
                None,
            )));
        };
        let (region, service) = credential_scope(&request).unwrap_or_default();
        let fields = if service == "rds" {
            form_fields(&body)
        } else {
            Default::default()
        };
        let action = fields.get("Action").cloned().unwrap_or_default();
        let key = (
            region.clone(),
            fields
                .get("DBInstanceIdentifier")
                .cloned()
                .unwrap_or_default(),
        );
        {
            let mut st = self.lock();
            let refusal = match action.as_str() {
                "PromoteReadReplica" if st.promoted.contains(&key) => Some((
                    "InvalidDBInstanceState",
                    "DB Instance is not a read replica.",
                )),
                "CreateDBInstanceReadReplica" if st.created.contains(&key) => {
                    Some(("DBInstanceAlreadyExists", "DB instance already exists"))
                }
                _ => None,
            };
            if let Some((code, message)) = refusal {
                st.answered
                    .push(format!("{action} {region} {}: {code}", key.1));
                return HttpConnectorFuture::ready(query_error(400, code, message));
            }
        }
        let uri = request.uri().to_string();
        let method = request.method().to_string();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let me = self.clone();
        HttpConnectorFuture::new(async move {
            let sent = tokio::task::spawn_blocking(move || {
                exchange(&uri, &method, &headers, &body, Duration::from_secs(60))
            })
            .await
            .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let (status, headers, data) = sent.map_err(|e| ConnectorError::io(Box::new(e)))?;
            let happened = (200..300).contains(&status)
                || headers
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case("x-fault-proxy") && v.ends_with("/after"));
            if happened {
                let mut st = me.lock();
                match action.as_str() {
                    "PromoteReadReplica" => {
                        st.promoted.insert(key);
                    }
                    "CreateDBInstanceReadReplica" => {
                        st.created.insert(key);
                    }
                    "DeleteDBInstance" => {
                        st.created.remove(&key);
                        st.promoted.remove(&key);
                    }
                    _ => {}
                }
            }
            let status = aws_smithy_runtime_api::http::StatusCode::try_from(status)
                .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            let mut r = HttpResponse::new(status, aws_smithy_types::body::SdkBody::from(data));
            for (k, v) in headers {
                r.headers_mut()
                    .try_append(k, v)
                    .map_err(|e| ConnectorError::other(Box::new(e), None))?;
            }
            Ok(r)
        })
    }
}
