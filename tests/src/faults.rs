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
