"""Test stand-in: translates Smithy rpcv2Cbor requests into the awsJson 1.0 protocol moto speaks.

Why: the Rust SDK's CloudWatch client (aws-sdk-cloudwatch 1.x) speaks only the Smithy rpcv2Cbor
protocol (`POST /service/GraniteServiceVersion20100801/operation/<Op>`, header
`smithy-protocol: rpc-v2-cbor`, CBOR bodies). moto 5.2.5 does not speak it: it answers those
requests with 404. This is NOT part of moto and NOT what AWS runs; it exists only so the tests,
the demo and the benchmark can call CloudWatch against the local emulator. scripts/moto_server.py
installs it around moto's WSGI application.

What it does, for a POST whose path ends in `/service/<Service>/operation/<Operation>` and that
carries `smithy-protocol: rpc-v2-cbor`, when <Service> is one of SERVICES (today only CloudWatch,
`GraniteServiceVersion20100801`):
  1. decodes the CBOR body (gzip-decompressed first if `Content-Encoding: gzip`, the SDK's request
     compression for large PutMetricData calls) against the operation's input shape of botocore's
     own service model, with botocore's CBOR parser (timestamps: CBOR tag 1, epoch seconds);
  2. re-serialises the parameters with botocore's awsJson 1.0 serializer (the service model lists
     `json` among its protocols, and moto 5.2.5 serves CloudWatch in it: `POST /`,
     `X-Amz-Target: GraniteServiceVersion20100801.<Operation>`) and calls moto in-process with
     that request, keeping the caller's other headers (Authorization, so moto keeps finding the
     service, region and account);
  3. parses moto's answer with botocore's JSON parser against the operation's output shape and
     re-encodes it in CBOR with botocore's rpcv2Cbor serializer (timestamps as tag 1 with integer
     or float epoch seconds, doubles as 64-bit floats), `Content-Type: application/cbor`,
     `smithy-protocol: rpc-v2-cbor`, moto's status;
  4. errors from moto come back as the CBOR body `{"__type": <code>, "message": <message>}` with
     moto's status, the `smithy-protocol` header, and moto's `x-amzn-query-error` header when it
     sends one (CloudWatch is awsQueryCompatible), so the SDK sees moto's real error code.
Everything else (other paths, requests without the header, other services) reaches moto untouched.

Strict where AWS is (so a test that seeds a series where AWS never publishes it fails there, not
silently later): a PutMetricData of an S3 replication metric (namespace `AWS/S3`:
`ReplicationLatency`, `OperationsPendingReplication`, `BytesPendingReplication` — published by S3
in the destination bucket's region — or `OperationsFailedReplication` — in the source bucket's)
sent to another region than the bucket's, for a bucket moto knows, is refused with
`InvalidParameterValue` (400) naming the region it belongs in. Buckets moto does not have are let
through (a series without a bucket behind it proves nothing about regions).

A second stand-in lives here, installed when the translator is built (scripts/moto_server.py builds
it in front of moto): S3 GetBucketReplication answering each rule's `Filter` as it was put. moto
5.2.5 stores the whole configuration but answers every rule with `Filter: {Prefix: ""}` — a rule
limited to a prefix, or to objects carrying tags (`Filter.Tag`, `Filter.And.Tags`), reads back as
covering the whole bucket, which S3 never does. The stand-in answers the stored filter (or the
legacy top-level `Prefix`), the stored `DeleteMarkerReplication`, and the rest as moto does; the
configuration itself is moto's. Replication itself stays the tests' and scripts/replicate.py's
(moto replicates nothing), which honour the same filters.

Limits:
  - only the services in SERVICES; an unknown operation of such a service gets a CBOR
    `UnknownOperationException` (404) without reaching moto;
  - what moto does not implement or implements partially stays so: the answers are moto's,
    translated (e.g. moto's GetMetricData ignores the namespace once dimensions are given, has no
    real metric math, and returns period starts counted from StartTime, not aligned to the period;
    its ListMetrics lists a metric with two or more dimensions once per datapoint put, not once);
  - error codes are moto's: the SDK takes the code from moto's `x-amzn-query-error` header (the
    awsQuery code, e.g. `ValidationError`), the CBOR `__type` carries moto's JSON code;
  - event streams, `Content-Encoding` other than gzip, and CBOR tags other than 1 are not
    supported (CloudWatch uses none of them);
  - members moto returns but the model does not know are dropped; values are passed through
    botocore's parsers, so a moto answer botocore cannot parse becomes an `InternalFailure` (500);
  - request signatures are not checked (moto does not check them either by default);
  - blocking and in-process: one translation per request thread, no streaming.
"""
import gzip
import io
import json
import re
from typing import Any, Callable, Iterable

from botocore import parsers, serialize
from botocore.session import get_session

# Smithy service name (the path segment) -> botocore service name.
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}

_PATH = re.compile(r"/service/([^/]+)/operation/([^/?]+)$")
_CBOR = "application/cbor"


class CborTranslator:
    """WSGI middleware: rpcv2Cbor in front of `app` (moto's DomainDispatcherApplication)."""

    def __init__(self, app: Callable) -> None:
        self.app = app
        self._models: dict[str, Any] = {}
        install_replication_filter_stand_in()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        match = _PATH.search(environ.get("PATH_INFO", ""))
        if (
            match is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("HTTP_SMITHY_PROTOCOL", "").strip().lower() != "rpc-v2-cbor"
            or match.group(1) not in SERVICES
        ):
            return self.app(environ, start_response)
        service, operation = match.groups()
        try:
            status, headers, body = self._translate(environ, SERVICES[service], operation)
        except _Failure as failure:
            status, headers, body = _error(failure.status, failure.code, failure.message)
        except Exception as exc:  # a stand-in bug must not look like a moto answer
            status, headers, body = _error(500, "InternalFailure", f"cbor stand-in: {exc!r}")
        headers.append(("Content-Length", str(len(body))))
        start_response(_status_line(status), headers)
        return [body]

    # -- translation -------------------------------------------------------------------------

    def _model(self, service: str) -> Any:
        if service not in self._models:
            self._models[service] = get_session().get_service_model(service)
        return self._models[service]

    def _translate(self, environ: dict, service: str, operation: str):
        model = self._model(service)
        if operation not in model.operation_names:
            raise _Failure(
                404, "UnknownOperationException", f"{operation} is not an operation of {service}"
            )
        op = model.operation_model(operation)

        raw = _read_body(environ)
        if "gzip" in environ.get("HTTP_CONTENT_ENCODING", "").lower():
            raw = gzip.decompress(raw)
        params = {}
        if raw and op.input_shape is not None:
            try:
                params = parsers.RpcV2CBORParser().parse(
                    {"body": raw, "headers": {}, "status_code": 200}, op.input_shape
                )
            except Exception as exc:
                raise _Failure(
                    400, "SerializationException", f"cannot decode the CBOR request: {exc}"
                )
            params.pop("ResponseMetadata", None)

        if service == "cloudwatch" and operation == "PutMetricData":
            _refuse_misplaced_replication_metrics(environ, params)
        serializer = serialize.create_serializer("json", include_validation=False)
        request = serializer.serialize_to_request(params, op)
        status, moto_headers, moto_body = self._call_moto(environ, request)
        lower = {k.lower(): v for k, v in moto_headers}
        passed = [
            (k, lower[k]) for k in ("x-amzn-requestid", "x-amzn-query-error") if k in lower
        ]
        if status >= 300:
            code, message = _moto_error(status, moto_body)
            s, h, b = _error(status, code, message)
            return s, h + passed, b

        if op.output_shape is None:
            return status, _cbor_headers() + passed, b""
        parsed = parsers.create_parser("json").parse(
            {"body": moto_body, "headers": lower, "status_code": status}, op.output_shape
        )
        parsed.pop("ResponseMetadata", None)
        body = bytearray()
        serialize.RpcV2CBORSerializer()._serialize_data_item(body, parsed, op.output_shape)
        return status, _cbor_headers() + passed, bytes(body)

    def _call_moto(self, environ: dict, request: dict):
        dropped = (
            "HTTP_SMITHY_PROTOCOL",
            "HTTP_CONTENT_ENCODING",
            "HTTP_ACCEPT",
            "CONTENT_TYPE",
            "CONTENT_LENGTH",
        )
        inner = {k: v for k, v in environ.items() if k not in dropped}
        body = request["body"]
        if isinstance(body, str):
            body = body.encode("utf-8")
        inner["PATH_INFO"] = "/"
        inner["QUERY_STRING"] = ""
        for key in ("REQUEST_URI", "RAW_URI"):
            if key in inner:
                inner[key] = "/"
        inner["CONTENT_TYPE"] = request["headers"]["Content-Type"]
        inner["CONTENT_LENGTH"] = str(len(body))
        inner["HTTP_X_AMZ_TARGET"] = request["headers"]["X-Amz-Target"]
        inner["wsgi.input"] = io.BytesIO(body)

        captured: dict = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Callable:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = list(headers)
            return lambda data: None

        result = self.app(inner, capture)
        try:
            answer = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return captured["status"], captured["headers"], answer


# S3 replication metric -> the dimension naming the bucket whose region AWS publishes it in.
_REPLICATION_METRIC_SIDE = {
    "ReplicationLatency": "DestinationBucket",
    "OperationsPendingReplication": "DestinationBucket",
    "BytesPendingReplication": "DestinationBucket",
    "OperationsFailedReplication": "SourceBucket",
}
_CREDENTIAL_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/")


def _bucket_region(name: str) -> str | None:
    """The region moto holds bucket `name` in (any account), or None when it has no such bucket."""
    try:
        from moto.s3.models import s3_backends

        for account in list(s3_backends.keys()):
            for backend in s3_backends[account].values():
                bucket = backend.buckets.get(name)
                if bucket is not None:
                    return bucket.region_name
    except Exception:  # moto's internals moved: be lenient, as before this check
        return None
    return None


def _refuse_misplaced_replication_metrics(environ: dict, params: dict) -> None:
    if params.get("Namespace") != "AWS/S3":
        return
    match = _CREDENTIAL_REGION.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return
    region = match.group(1)
    for datum in params.get("MetricData", []):
        side = _REPLICATION_METRIC_SIDE.get(datum.get("MetricName", ""))
        if side is None:
            continue
        dims = {d.get("Name"): d.get("Value") for d in datum.get("Dimensions", [])}
        bucket = dims.get(side)
        home = _bucket_region(bucket) if bucket else None
        if home is not None and home != region:
            which = "destination" if side == "DestinationBucket" else "source"
            raise _Failure(
                400,
                "InvalidParameterValue",
                f"cbor stand-in: AWS publishes {datum['MetricName']} in the {which} bucket's "
                f"region ({bucket} is in {home}), not in {region}",
            )


class _Failure(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _read_body(environ: dict) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("wsgi.input_terminated"):
        return stream.read()
    return b""


def _moto_error(status: int, body: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        text = body.decode("utf-8", "replace").strip()
        return ("InternalFailure" if status >= 500 else str(status)), text[:500]
    code = str(doc.get("__type") or doc.get("code") or doc.get("Code") or status)
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    return code, str(doc.get("message") or doc.get("Message") or "")


def _cbor_headers() -> list:
    return [("Content-Type", _CBOR), ("smithy-protocol", "rpc-v2-cbor")]


def _error(status: int, code: str, message: str):
    return status, _cbor_headers(), _encode({"__type": code, "message": message})


def _status_line(status: int) -> str:
    from http.client import responses

    return f"{status} {responses.get(status, 'Unknown')}"


def _encode(value: Any) -> bytes:
    """Minimal model-free CBOR encoder for error bodies (text maps)."""
    out = bytearray()

    def head(major: int, n: int) -> None:
        if n < 24:
            out.append(major << 5 | n)
        elif n < 1 << 8:
            out.extend(bytes([major << 5 | 24]) + n.to_bytes(1, "big"))
        elif n < 1 << 16:
            out.extend(bytes([major << 5 | 25]) + n.to_bytes(2, "big"))
        elif n < 1 << 32:
            out.extend(bytes([major << 5 | 26]) + n.to_bytes(4, "big"))
        else:
            out.extend(bytes([major << 5 | 27]) + n.to_bytes(8, "big"))

    def item(v: Any) -> None:
        if isinstance(v, str):
            data = v.encode("utf-8")
            head(3, len(data))
            out.extend(data)
        elif isinstance(v, dict):
            head(5, len(v))
            for k, x in v.items():
                item(k)
                item(x)
        else:
            raise TypeError(f"cannot encode {type(v).__name__}")

    item(value)
    return bytes(out)


# -- S3 GetBucketReplication: the rules' filters as they were put -------------------------------


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _filter_out(stored: Any) -> dict:
    """A rule's stored `Filter` (xmltodict's reading of the PUT body) in botocore's shape."""
    if not isinstance(stored, dict):
        return {"Prefix": ""}
    if "And" in stored:
        inner = stored["And"] or {}
        out: dict = {}
        if "Prefix" in inner:
            out["Prefix"] = inner["Prefix"] or ""
        tags = [
            {"Key": t.get("Key") or "", "Value": t.get("Value") or ""}
            for t in _as_list(inner.get("Tag"))
        ]
        if tags:
            out["Tags"] = tags
        return {"And": out}
    if "Tag" in stored:
        t = stored["Tag"] or {}
        return {"Tag": {"Key": t.get("Key") or "", "Value": t.get("Value") or ""}}
    return {"Prefix": stored.get("Prefix") or ""}


def install_replication_filter_stand_in() -> None:
    """Replaces moto's GetBucketReplication handler (idempotent; see the module docs)."""
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import ReplicationConfigurationNotFoundError
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_bucket_replication, "_lifeboat_stand_in", False):
        return

    def get_bucket_replication(self):
        self.data["Action"] = "GetBucketReplication"
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
        rules = []
        for rule in _as_list(replication.get("Rule")):
            out = {
                "ID": rule["ID"],
                "Priority": rule["Priority"],
                "Status": rule["Status"],
                "DeleteMarkerReplication": rule.get("DeleteMarkerReplication")
                or {"Status": "Disabled"},
                "Destination": rule["Destination"],
            }
            if "Filter" in rule:
                out["Filter"] = _filter_out(rule["Filter"])
            elif "Prefix" in rule:
                out["Prefix"] = rule["Prefix"] or ""
            else:
                out["Filter"] = {"Prefix": ""}
            rules.append(out)
        return self.serialized(
            ActionResult(
                {"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}
            )
        )

    get_bucket_replication._lifeboat_stand_in = True  # type: ignore[attr-defined]
    S3Response.get_bucket_replication = get_bucket_replication
