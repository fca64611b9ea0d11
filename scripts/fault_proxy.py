"""A fault-injecting HTTP proxy in front of the local moto emulator: a test stand-in for an
unlucky day on AWS.

The SDK clients under test are pointed at this proxy instead of at moto. Every request is
forwarded to moto verbatim (method, path and query, headers including Host and Authorization,
body; moto does not check the SigV4 signature) and moto's answer is streamed back, except when
a rule says otherwise: then the request is answered with the error AWS itself would give (a 500,
a 503, a throttle), the connection is reset, or the answer is slowed down; before moto saw the
request ("before") or after moto carried it out, with its answer lost on the way back ("after").
The fault-injection test suite drives it through `tests/src/faults.rs` (`FaultProxy`), and the
reliability script runs it by hand. Standard library only.

Usage:
    python fault_proxy.py --port PORT --upstream http://127.0.0.1:MOTOPORT
                          [--rules FILE.json] [--log FILE.jsonl] [--seed N]

    --port 0 picks a free port; the first stdout line is then `listening on http://127.0.0.1:N`
    (printed, flushed, whatever the port).

Classification (for matching and for the log):
    service, region  the SigV4 credential scope (Authorization `Credential=AKID/DATE/REGION/
                     SERVICE/aws4_request`, or a presigned URL's X-Amz-Credential); else "unknown".
    operation        query protocol: the `Action=` value (form body or query string); awsJson:
                     the X-Amz-Target after its last '.'; rpcv2Cbor: the `/service/X/operation/Op`
                     path's Op; S3 (path-style): the SDK's `x-id` query parameter, else derived
                     from method, query and headers (PutObject, CopyObject, GetObject,
                     HeadObject, DeleteObject(s), ListObjects(V2), ListObjectVersions, HeadBucket,
                     CreateBucket, Get/PutBucketVersioning, Get/PutBucketReplication,
                     Get/PutObjectTagging, GetBucketLocation, CreateMultipartUpload, UploadPart,
                     CompleteMultipartUpload, ... or "S3:<METHOD>"); anything else (restJson,
                     e.g. AWS Backup): "METHOD /path".

Rules: a JSON list (or {"seed": N, "rules": [...]}); the first matching rule that decides to
fault a request wins:
    {"service": "s3", "operation": "PutObject", "path": "regex searched in the unquoted path",
     "body": "regex searched in the request body (its first 64 KiB, form-decoded), e.g.
              DBInstanceIdentifier=orders-db for one database's query-protocol call",
     "method": "PUT", "region": "us-east-1",        # match fields: absent or null = any
     "when": "before" | "after",                    # default "before"
     "fault": "error" | "unavailable" | "throttle" | "reset" | "slow",   # default "error"
     "rate": 1.0,        # probability (random.Random seeded with --seed / the rules' seed)
     "skip": 0,          # let the first N matching requests through untouched
     "count": null,      # fault at most N times (null: unlimited)
     "delay_ms": 0,      # for "slow"
     "status": null}     # overrides the HTTP status of error / unavailable / throttle
    Matching is case-insensitive except for `path`. Counters and the random generator are reset
    whenever the rules are replaced.

    when "before": answered here, never forwarded (AWS never saw the request).
    when "after":  forwarded, moto's answer read and discarded, the fault answered instead (the
                   call happened, its answer was lost).
    fault "reset": the connection is closed with no answer (SO_LINGER 0: the client sees a
                   connection reset). "slow": delay_ms of sleep, then the normal answer (before:
                   sleep then forward; after: forward, sleep, answer).

Error shapes (as the Rust SDK parses AWS's own):
    S3 (restXml)   <Error><Code>InternalError|ServiceUnavailable|SlowDown</Code><Message/>
                   <RequestId/></Error>, application/xml, 500 / 503 / 503 (no body for HEAD).
    query          <ErrorResponse><Error><Type>Receiver|Sender</Type><Code>InternalFailure|
    (rds, sns, ...) ServiceUnavailable|Throttling</Code><Message/></Error><RequestId/>
                   </ErrorResponse>, text/xml, 500 / 503 / 400 ("Rate exceeded").
                   EC2 gets its own <Response><Errors><Error>... shape.
    awsJson        (X-Amz-Target) x-amzn-ErrorType: InternalFailure|ServiceUnavailable|
                   ThrottlingException, body {"__type": code, "message": msg}, the request's
                   application/x-amz-json-1.x, 500 / 503 / 400.
    restJson       the same header and body, application/json, 500 / 503 / 429.
    rpcv2Cbor      (smithy-protocol: rpc-v2-cbor) a CBOR map {"__type", "message"},
                   application/cbor, smithy-protocol header, 500 / 503 / 400.
    Every fault answer carries x-amzn-RequestId, x-amz-request-id, x-fault-proxy and
    Content-Length.

Control endpoint (paths under /__faults/: never forwarded, never logged):
    PUT  /__faults/rules   {"seed": 7, "rules": [...]} or a bare list: replaces the rules,
                           200 {"rules": N}; 400 with the reason when malformed.
    GET  /__faults/rules   the rules in force and the seed.
    GET  /__faults/log     the log, JSON lines (text/plain).
    POST /__faults/clear   empties the in-memory log.
    GET  /__faults/health  200 "ok".

Log: one JSON object per proxied request, in memory and (with --log) appended to the file, one
line each, flushed: {"seq", "t", "service", "region", "operation", "method", "path", "status"
(moto's or the fault's; null for a reset), "fault", "when", "forwarded", "ms", "rule"}. A request
is logged just before its answer (or reset) goes out, so a client holding an answer finds its
request in the log; "t" is when it arrived, "ms" the time until its answer started. Bodies, query
strings and Authorization headers are never logged.
"""

import argparse
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, unquote_plus, urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
CHUNK = 64 * 1024
WHENS = ("before", "after")
FAULTS = ("error", "unavailable", "throttle", "reset", "slow")
MATCH_FIELDS = ("service", "operation", "path", "method", "region", "body")
RULE_FIELDS = set(MATCH_FIELDS) | {"when", "fault", "rate", "skip", "count", "delay_ms", "status"}
CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


# --- Rules -------------------------------------------------------------------------------------


class RuleError(ValueError):
    pass


class Rule:
    def __init__(self, index, spec):
        if not isinstance(spec, dict):
            raise RuleError(f"rule {index}: expected an object, got {type(spec).__name__}")
        unknown = sorted(set(spec) - RULE_FIELDS)
        if unknown:
            raise RuleError(f"rule {index}: unknown field(s) {', '.join(unknown)}")
        self.spec = dict(spec)
        for field in MATCH_FIELDS:
            value = spec.get(field)
            if value is not None and not isinstance(value, str):
                raise RuleError(f"rule {index}: {field} must be a string or null")
        self.service = _lower(spec.get("service"))
        self.operation = _lower(spec.get("operation"))
        self.method = _lower(spec.get("method"))
        self.region = _lower(spec.get("region"))
        self.body = None
        if spec.get("body") is not None:
            try:
                self.body = re.compile(spec["body"])
            except re.error as e:
                raise RuleError(f"rule {index}: body is not a valid regex: {e}") from None
        self.path = None
        if spec.get("path") is not None:
            try:
                self.path = re.compile(spec["path"])
            except re.error as e:
                raise RuleError(f"rule {index}: path is not a valid regex: {e}") from None
        self.when = spec.get("when") or "before"
        if self.when not in WHENS:
            raise RuleError(f"rule {index}: when must be one of {', '.join(WHENS)}")
        self.fault = spec.get("fault") or "error"
        if self.fault not in FAULTS:
            raise RuleError(f"rule {index}: fault must be one of {', '.join(FAULTS)}")
        self.rate = _number(index, spec, "rate", 1.0, float)
        if not 0.0 <= self.rate <= 1.0:
            raise RuleError(f"rule {index}: rate must be between 0 and 1")
        self.skip = _number(index, spec, "skip", 0, int)
        self.count = _number(index, spec, "count", None, int)
        self.delay_ms = _number(index, spec, "delay_ms", 0, int)
        self.status = _number(index, spec, "status", None, int)
        if self.status is not None and not 100 <= self.status <= 599:
            raise RuleError(f"rule {index}: status must be an HTTP status (100-599)")
        self.matched = 0
        self.faulted = 0

    def matches(self, req):
        return (
            (self.service is None or self.service == req.service.lower())
            and (self.operation is None or self.operation == req.operation.lower())
            and (self.method is None or self.method == req.method.lower())
            and (self.region is None or self.region == req.region.lower())
            and (self.path is None or self.path.search(req.path) is not None)
            and (self.body is None or self.body.search(req.body_text) is not None)
        )


def _lower(value):
    return value.lower() if isinstance(value, str) else None


def _number(index, spec, field, default, kind):
    value = spec.get(field)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RuleError(f"rule {index}: {field} must be a number")
    if kind is int:
        if value != int(value) or value < 0:
            raise RuleError(f"rule {index}: {field} must be a non-negative integer")
        return int(value)
    return float(value)


class RuleSet:
    """The rules in force, their counters and the random generator, behind one lock."""

    def __init__(self, seed):
        self.lock = threading.Lock()
        self.seed = seed
        self.rules = []
        self.rng = random.Random(seed)

    def replace(self, doc, default_seed):
        """Validates `doc` ({"seed", "rules"} or a list) and puts it in force; RuleError if bad."""
        seed = default_seed
        if isinstance(doc, dict):
            unknown = sorted(set(doc) - {"seed", "rules"})
            if unknown:
                raise RuleError(f"unknown field(s) {', '.join(unknown)}")
            if doc.get("seed") is not None:
                seed = doc["seed"]
                if isinstance(seed, bool) or not isinstance(seed, int):
                    raise RuleError("seed must be an integer")
            specs = doc.get("rules", [])
        else:
            specs = doc
        if not isinstance(specs, list):
            raise RuleError("rules must be a list")
        rules = [Rule(i, spec) for i, spec in enumerate(specs)]
        with self.lock:
            self.rules = rules
            self.seed = seed
            self.rng = random.Random(seed)
        return len(rules)

    def describe(self):
        with self.lock:
            return {"seed": self.seed, "rules": [r.spec for r in self.rules]}

    def decide(self, req):
        """(index, rule) of the first rule that faults this request, or (None, None)."""
        with self.lock:
            for index, rule in enumerate(self.rules):
                if not rule.matches(req):
                    continue
                rule.matched += 1
                if rule.matched <= rule.skip:
                    continue
                if rule.count is not None and rule.faulted >= rule.count:
                    continue
                if rule.rate < 1.0 and not self.rng.random() < rule.rate:
                    continue
                rule.faulted += 1
                return index, rule
        return None, None


# --- The log -----------------------------------------------------------------------------------


class Log:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0
        self.file = open(path, "a", encoding="utf-8") if path else None

    def append(self, entry):
        with self.lock:
            self.seq += 1
            entry = {"seq": self.seq, **entry}
            self.entries.append(entry)
            if self.file:
                self.file.write(json.dumps(entry) + "\n")
                self.file.flush()

    def lines(self):
        with self.lock:
            return "".join(json.dumps(e) + "\n" for e in self.entries)

    def clear(self):
        with self.lock:
            n = len(self.entries)
            self.entries = []
            return n


# --- Classification ----------------------------------------------------------------------------


class Classified:
    def __init__(self, service, region, operation, method, path, protocol):
        self.service = service
        self.region = region
        self.operation = operation
        self.method = method
        self.path = path
        self.protocol = protocol  # s3 | query | ec2 | json | restjson | cbor
        self.body_text = ""  # for "body" rules: the first 64 KiB, form-decoded


def classify(method, target, headers, body):
    split = urlsplit(target)
    raw_path = split.path or "/"
    path = unquote(raw_path)
    query = parse_qs(split.query, keep_blank_values=True)

    service, region = "unknown", "unknown"
    scope = None
    m = CREDENTIAL.search(headers.get("Authorization") or "")
    if m:
        scope = m.group(1)
    elif "X-Amz-Credential" in query:
        scope = query["X-Amz-Credential"][0]
    if scope:
        parts = scope.split("/")
        if len(parts) >= 5:
            region, service = parts[-3], parts[-2]

    if (headers.get("smithy-protocol") or "").lower() == "rpc-v2-cbor":
        segments = raw_path.strip("/").split("/")
        op = segments[-1] if len(segments) >= 4 and segments[-2] == "operation" else path
        return Classified(service, region, unquote(op), method, path, "cbor")
    target_header = headers.get("X-Amz-Target")
    if target_header:
        return Classified(service, region, target_header.rsplit(".", 1)[-1], method, path, "json")
    if service in ("s3", "s3express"):
        return Classified(service, region, s3_operation(method, path, query, headers), method, path, "s3")
    action = query.get("Action", [None])[0]
    content_type = (headers.get("Content-Type") or "").lower()
    if action is None and body and "x-www-form-urlencoded" in content_type:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            form = {}
        action = form.get("Action", [None])[0]
    if action:
        return Classified(service, region, action, method, path, "ec2" if service == "ec2" else "query")
    return Classified(service, region, f"{method} {path}", method, path, "restjson")


def s3_operation(method, path, query, headers):
    if query.get("x-id"):
        return query["x-id"][0]
    segments = path.lstrip("/").split("/", 1)
    bucket = segments[0]
    key = segments[1] if len(segments) > 1 else ""
    has = query.__contains__
    copy = "x-amz-copy-source" in {k.lower() for k in headers.keys()}
    if not bucket:
        return "ListBuckets" if method == "GET" else f"S3:{method}"
    if not key:
        sub = {
            "PUT": [("versioning", "PutBucketVersioning"), ("replication", "PutBucketReplication"),
                    ("tagging", "PutBucketTagging"), ("policy", "PutBucketPolicy"),
                    ("encryption", "PutBucketEncryption"), ("lifecycle", "PutBucketLifecycleConfiguration")],
            "GET": [("versioning", "GetBucketVersioning"), ("replication", "GetBucketReplication"),
                    ("location", "GetBucketLocation"), ("versions", "ListObjectVersions"),
                    ("uploads", "ListMultipartUploads"), ("tagging", "GetBucketTagging"),
                    ("policy", "GetBucketPolicy"), ("encryption", "GetBucketEncryption"),
                    ("lifecycle", "GetBucketLifecycleConfiguration")],
            "DELETE": [("replication", "DeleteBucketReplication"), ("tagging", "DeleteBucketTagging"),
                       ("policy", "DeleteBucketPolicy")],
            "POST": [("delete", "DeleteObjects")],
        }
        for param, op in sub.get(method, []):
            if has(param):
                return op
        if method == "GET":
            return "ListObjectsV2" if query.get("list-type", [""])[0] == "2" else "ListObjects"
        return {"PUT": "CreateBucket", "HEAD": "HeadBucket", "DELETE": "DeleteBucket"}.get(
            method, f"S3:{method}"
        )
    if method == "PUT":
        if has("tagging"):
            return "PutObjectTagging"
        if has("uploadId") and has("partNumber"):
            return "UploadPartCopy" if copy else "UploadPart"
        return "CopyObject" if copy else "PutObject"
    if method == "GET":
        if has("tagging"):
            return "GetObjectTagging"
        return "ListParts" if has("uploadId") else "GetObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "DELETE":
        if has("tagging"):
            return "DeleteObjectTagging"
        return "AbortMultipartUpload" if has("uploadId") else "DeleteObject"
    if method == "POST":
        if has("uploads"):
            return "CreateMultipartUpload"
        if has("uploadId"):
            return "CompleteMultipartUpload"
        if has("restore"):
            return "RestoreObject"
    return f"S3:{method}"


# --- Error shapes ------------------------------------------------------------------------------

# fault -> (S3 code, S3 message, S3 status), (query type, code, message, status), (json code, status)
S3_ERRORS = {
    "error": ("InternalError", "We encountered an internal error. Please try again.", 500),
    "unavailable": ("ServiceUnavailable", "Please reduce your request rate.", 503),
    "throttle": ("SlowDown", "Please reduce your request rate.", 503),
}
QUERY_ERRORS = {
    "error": ("Receiver", "InternalFailure",
              "The request processing has failed because of an unknown error, exception or failure.", 500),
    "unavailable": ("Receiver", "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.", 503),
    "throttle": ("Sender", "Throttling", "Rate exceeded", 400),
}
EC2_ERRORS = {
    "error": ("InternalError", "An internal error has occurred.", 500),
    "unavailable": ("Unavailable", "The server is overloaded and can't handle the request.", 503),
    "throttle": ("RequestLimitExceeded", "Request limit exceeded.", 503),
}
JSON_ERRORS = {
    "error": ("InternalFailure",
              "The request processing has failed because of an unknown error, exception or failure.", 500),
    "unavailable": ("ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503),
    "throttle": ("ThrottlingException", "Rate exceeded", 400),
}


def cbor_text(s):
    data = s.encode("utf-8")
    return cbor_head(3, len(data)) + data


def cbor_head(major, n):
    if n < 24:
        return bytes([(major << 5) | n])
    if n < 0x100:
        return bytes([(major << 5) | 24, n])
    if n < 0x10000:
        return bytes([(major << 5) | 25]) + struct.pack(">H", n)
    return bytes([(major << 5) | 26]) + struct.pack(">I", n)


def cbor_text_map(pairs):
    out = cbor_head(5, len(pairs))
    for k, v in pairs:
        out += cbor_text(k) + cbor_text(v)
    return out


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def error_response(req, fault, status_override, request_headers):
    """(status, headers, body) of the AWS error for `fault` in the request's protocol."""
    request_id = str(uuid.uuid4())
    headers = [
        ("x-amzn-RequestId", request_id),
        ("x-amz-request-id", request_id),
    ]
    if req.protocol == "s3":
        code, message, status = S3_ERRORS[fault]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{uuid.uuid4().hex}</HostId></Error>"
        ).encode()
        headers += [("x-amz-id-2", uuid.uuid4().hex), ("Content-Type", "application/xml")]
    elif req.protocol == "ec2":
        code, message, status = EC2_ERRORS[fault]
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{xml_escape(message)}</Message>"
            f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    elif req.protocol == "query":
        kind, code, message, status = QUERY_ERRORS[fault]
        body = (
            f'<ErrorResponse xmlns="https://{req.service}.amazonaws.com/doc/">'
            f"<Error><Type>{kind}</Type><Code>{code}</Code><Message>{xml_escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
    else:
        code, message, status = JSON_ERRORS[fault]
        if req.protocol == "restjson" and fault == "throttle":
            status = 429
        headers.append(("x-amzn-ErrorType", code))
        if req.protocol == "cbor":
            body = cbor_text_map([("__type", code), ("message", message)])
            headers += [("smithy-protocol", "rpc-v2-cbor"), ("Content-Type", "application/cbor")]
        else:
            body = json.dumps({"__type": code, "message": message}).encode()
            content_type = "application/json"
            if req.protocol == "json":
                sent = request_headers.get("Content-Type") or ""
                content_type = sent if sent.startswith("application/x-amz-json") else "application/x-amz-json-1.1"
            headers.append(("Content-Type", content_type))
    return (status_override or status), headers, body


# --- The proxy ---------------------------------------------------------------------------------


class UpstreamError(Exception):
    pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fault-proxy"
    # Set on the class by main().
    upstream = None  # (host, port)
    rules = None  # RuleSet
    log = None  # Log
    default_seed = 0

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, format, *args):  # noqa: A002  (quiet: the JSON log says it all)
        pass

    def do_any(self):
        self.entry = None  # the log entry of the request being proxied, until committed
        try:
            body = self.read_body()
        except (ValueError, OSError) as e:
            self.close_connection = True
            self.answer(400, [("Content-Type", "text/plain")], f"bad request body: {e}\n".encode())
            return
        if self.path.startswith("/__faults/") or self.path == "/__faults":
            self.control(body)
        else:
            self.proxy(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do_any

    # -- request and response plumbing --

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ValueError("connection closed inside a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, up to the empty line
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                parts.append(self.read_exactly(size))
                self.rfile.readline(65537)  # the CRLF after the chunk
            return b"".join(parts)
        length = self.headers.get("Content-Length")
        if length:
            return self.read_exactly(int(length))
        return b""

    def read_exactly(self, n):
        data = self.rfile.read(n)
        if len(data) != n:
            raise ValueError(f"body ended after {len(data)} of {n} bytes")
        return data

    def head_bytes(self, status, headers):
        reason = self.responses.get(status, ("Unknown",))[0]
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def answer(self, status, headers, body):
        """A complete answer with Content-Length (no body bytes for HEAD)."""
        headers = [h for h in headers if h[0].lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        payload = b"" if self.command == "HEAD" else body
        self.commit(status)
        self.wfile.write(self.head_bytes(status, headers) + payload)
        self.wfile.flush()

    def reset(self):
        """Closes the client connection with an RST and no answer."""
        self.close_connection = True
        self.commit(None)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    # -- control endpoint --

    def control(self, body):
        path = urlsplit(self.path).path.rstrip("/")
        method = self.command
        text = [("Content-Type", "text/plain; charset=utf-8")]
        js = [("Content-Type", "application/json")]
        if path == "/__faults/rules" and method in ("PUT", "POST"):
            try:
                doc = json.loads(body.decode("utf-8") or "null")
                n = self.rules.replace(doc, self.default_seed)
            except (ValueError, RuleError) as e:
                self.answer(400, text, f"bad rules: {e}\n".encode())
                return
            self.answer(200, js, json.dumps({"rules": n}).encode())
        elif path == "/__faults/rules" and method == "GET":
            self.answer(200, js, json.dumps(self.rules.describe()).encode())
        elif path == "/__faults/log" and method == "GET":
            self.answer(200, text, self.log.lines().encode())
        elif path == "/__faults/clear" and method in ("POST", "PUT", "DELETE"):
            self.answer(200, js, json.dumps({"cleared": self.log.clear()}).encode())
        elif path == "/__faults/health" and method in ("GET", "HEAD"):
            self.answer(200, text, b"ok")
        else:
            self.answer(404, text, f"no control endpoint {method} {path}\n".encode())

    # -- proxying --

    def proxy(self, body):
        start = time.monotonic()
        req = classify(self.command, self.path, self.headers, body)
        req.body_text = unquote_plus(body[:65536].decode("utf-8", "replace"))
        index, rule = self.rules.decide(req)
        fault = rule.fault if rule else None
        when = rule.when if rule else None
        self.started = start
        self.entry = {
            "t": time.time(),
            "service": req.service,
            "region": req.region,
            "operation": req.operation,
            "method": req.method,
            "path": req.path,
            "status": None,
            "fault": fault,
            "when": when,
            "forwarded": False,
            "ms": 0.0,
            "rule": index,
        }
        self.forwarded = False
        try:
            self.serve(req, body, rule)
        finally:
            self.commit(None)  # when no answer went out (the client went away)

    def commit(self, status):
        """Logs the request being answered, once, just before its answer goes out: a client that
        has its answer finds the request in the log."""
        entry, self.entry = self.entry, None
        if entry is None:
            return
        entry["status"] = status
        entry["forwarded"] = self.forwarded
        entry["ms"] = round((time.monotonic() - self.started) * 1000.0, 3)
        self.log.append(entry)

    def serve(self, req, body, rule):
        """Answers the request as `rule` (or no rule) says; the status answered, None for reset."""
        if rule is not None and rule.when == "before":
            if rule.fault == "slow":
                time.sleep(rule.delay_ms / 1000.0)
                return self.forward(body, stream=True)
            return self.inject(req, rule)
        if rule is None:
            return self.forward(body, stream=True)
        # when "after": the call happens, its answer is held back.
        if rule.fault == "slow":
            status, headers, data = self.forward(body, stream=False)
            time.sleep(rule.delay_ms / 1000.0)
            if status is not None:
                self.answer_upstream(status, headers, data)
            return status
        self.forward(body, stream=False)
        return self.inject(req, rule)

    def inject(self, req, rule):
        if rule.fault == "reset":
            self.reset()
            return None
        status, headers, body = error_response(req, rule.fault, rule.status, self.headers)
        headers.append(("x-fault-proxy", f"{rule.fault}/{rule.when}"))
        self.answer(status, headers, body)
        return status

    def forward(self, body, stream):
        """Sends the request upstream. stream=True: copies the answer to the client and returns its
        status; stream=False: returns (status, headers, body) unsent. 502 when moto is down."""
        host, port = self.upstream
        conn = http.client.HTTPConnection(host, port, timeout=600)
        try:
            try:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                connection_tokens = {
                    t.strip().lower() for t in (self.headers.get("Connection") or "").split(",")
                }
                for name, value in self.headers.items():
                    lower = name.lower()
                    if lower in HOP_BY_HOP or lower in connection_tokens or lower in ("content-length", "expect"):
                        continue
                    conn.putheader(name, value)
                if body or self.command in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body if body else None)
                self.forwarded = True
                resp = conn.getresponse()
            except (OSError, http.client.HTTPException) as e:
                message = f"fault_proxy: upstream {host}:{port} failed: {e}\n".encode()
                if stream:
                    self.answer(502, [("Content-Type", "text/plain")], message)
                    return 502
                return 502, [("Content-Type", "text/plain")], message
            headers = [
                (k, v)
                for k, v in resp.getheaders()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            ]
            length = resp.getheader("Content-Length")
            if not stream:
                data = resp.read()
                if length is not None and self.command == "HEAD":
                    headers.append(("Content-Length", length))
                return resp.status, headers, data
            self.stream_back(resp, headers, length)
            return resp.status
        finally:
            conn.close()

    def answer_upstream(self, status, headers, data):
        if self.command == "HEAD" and any(k.lower() == "content-length" for k, _ in headers):
            self.commit(status)
            self.wfile.write(self.head_bytes(status, headers))
            self.wfile.flush()
            return
        self.answer(status, headers, data)

    def stream_back(self, resp, headers, length):
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        if no_body:
            if length is not None:
                headers.append(("Content-Length", length))
            self.commit(resp.status)
            self.wfile.write(self.head_bytes(resp.status, headers))
            self.wfile.flush()
            return
        if length is not None:
            headers.append(("Content-Length", length))
            first = resp.read(CHUNK)
            self.commit(resp.status)
            self.wfile.write(self.head_bytes(resp.status, headers) + first)
            while True:
                data = resp.read(CHUNK)
                if not data:
                    break
                self.wfile.write(data)
            self.wfile.flush()
            return
        # No length from upstream: chunked to an HTTP/1.1 client, until close to an HTTP/1.0 one.
        chunked = self.request_version == "HTTP/1.1"
        if chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        else:
            self.close_connection = True
        self.commit(resp.status)
        self.wfile.write(self.head_bytes(resp.status, headers))
        while True:
            data = resp.read1(CHUNK) if hasattr(resp, "read1") else resp.read(CHUNK)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that went away mid-answer is not news; anything else is.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fault-injecting proxy in front of moto.")
    parser.add_argument("--port", type=int, required=True, help="listening port (0: pick one)")
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:5000")
    parser.add_argument("--rules", help="JSON rules file (a list or {seed, rules})")
    parser.add_argument("--log", help="append the request log here (JSON lines)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for rates (default 0)")
    args = parser.parse_args(argv)

    upstream = urlsplit(args.upstream)
    if upstream.scheme != "http" or not upstream.hostname:
        parser.error("--upstream must be http://HOST:PORT")
    Handler.upstream = (upstream.hostname, upstream.port or 80)
    Handler.default_seed = args.seed
    Handler.rules = RuleSet(args.seed)
    if args.rules:
        with open(args.rules, encoding="utf-8") as f:
            try:
                Handler.rules.replace(json.load(f), args.seed)
            except (ValueError, RuleError) as e:
                parser.error(f"{args.rules}: {e}")
    Handler.log = Log(args.log)

    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
