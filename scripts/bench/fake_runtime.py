#!/usr/bin/env python3
"""A minimal stand-in for the AWS Lambda Runtime API, on loopback, for scripts/bench.sh.

It spawns the function binary itself (so the spawn time is known exactly) with
AWS_LAMBDA_RUNTIME_API pointing at itself, and records when the runtime first asks for an
event (GET /2018-06-01/runtime/invocation/next).

  fake_runtime.py coldstart --runs N --out FILE -- CMD...
      N cold starts: spawn CMD, time spawn -> first GET /next ("ready for the first event"),
      read the process's VmRSS/VmHWM at that moment, kill it. Writes a JSON summary.

  fake_runtime.py invoke --event JSON --out FILE [--response FILE] [--timeout S] -- CMD...
      Spawn CMD (e.g. /usr/bin/time -v -o F BINARY), serve the event on the first GET /next,
      take the POST .../response (or .../error), then answer every later GET /next by closing
      the connection, which makes lambda_runtime return an error and the process exit, so a
      wrapping /usr/bin/time can report. Bounded by --timeout: the process tree is killed then.

The environment of CMD is this script's environment plus AWS_LAMBDA_RUNTIME_API and the
variables lambda_runtime requires (AWS_LAMBDA_FUNCTION_NAME, _MEMORY_SIZE, _VERSION), unless
already set.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NEXT = "/2018-06-01/runtime/invocation/next"


class State:
    def __init__(self, event: bytes | None):
        self.event = event
        self.lock = threading.Lock()
        self.ready = threading.Event()  # first GET /next seen
        self.done = threading.Event()  # response or error posted
        self.t_first_next = None
        self.t_event_sent = None
        self.t_result = None
        self.result_kind = None
        self.result_body = b""
        self.request_id = None
        self.next_calls = 0
        self.init_error = None


def make_handler(state: State):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            if self.path != NEXT:
                self.send_error(404)
                return
            now = time.monotonic()
            with state.lock:
                state.next_calls += 1
                first = state.t_first_next is None
                if first:
                    state.t_first_next = now
            state.ready.set()
            if not first or state.event is None:
                # No further events: close without answering, so the runtime loop ends.
                if state.event is None and first:
                    # coldstart mode: hold the request open; the driver kills the process.
                    state.done.wait(timeout=30)
                self.close_connection = True
                return
            rid = str(uuid.uuid4())
            state.request_id = rid
            deadline_ms = int(time.time() * 1000) + 900_000
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(deadline_ms))
            self.send_header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:lifeboat-snapshot-export",
            )
            self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
            self.send_header("Content-Length", str(len(state.event)))
            self.end_headers()
            self.wfile.write(state.event)
            self.wfile.flush()
            state.t_event_sent = time.monotonic()

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if self.path.endswith("/response") or self.path.endswith("/error"):
                state.t_result = time.monotonic()
                state.result_kind = "error" if self.path.endswith("/error") else "response"
                if self.path.endswith("/init/error"):
                    state.result_kind = "init-error"
                state.result_body = body
                state.done.set()
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def serve(state: State):
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    return server


def child_env(port: int) -> dict:
    env = dict(os.environ)
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    env.setdefault("AWS_LAMBDA_FUNCTION_NAME", "lifeboat-snapshot-export")
    env.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    env.setdefault("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    env.setdefault("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
    env.setdefault("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/lifeboat-snapshot-export")
    return env


def proc_status(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])  # kB
    except OSError:
        pass
    return out


def descendants(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                for c in f.read().split():
                    out.append(int(c))
                    out.extend(descendants(int(c)))
    except OSError:
        pass
    return out


def kill_tree(proc: subprocess.Popen):
    for pid in reversed(descendants(proc.pid)):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.kill()
    except OSError:
        pass
    proc.wait()


def pct(values, p):
    s = sorted(values)
    if not s:
        return None
    k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))  # nearest rank
    return s[k]


def coldstart(args, cmd):
    runs = []
    stderr_tail = ""
    for i in range(args.runs):
        state = State(None)
        server = serve(state)
        port = server.server_address[1]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=child_env(port), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ok = state.ready.wait(timeout=args.timeout)
        mem = proc_status(proc.pid) if ok else {}
        state.done.set()
        kill_tree(proc)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        server.shutdown()
        server.server_close()
        if not ok:
            sys.stderr.write(f"run {i}: no GET /next within {args.timeout}s; stderr:\n{err[-2000:]}\n")
            sys.exit(1)
        stderr_tail = err[-2000:]
        runs.append({"ready_ms": (state.t_first_next - t0) * 1000, "rss_kb": mem.get("VmRSS"), "hwm_kb": mem.get("VmHWM")})
    ms = [r["ready_ms"] for r in runs]
    summary = {
        "runs": len(runs),
        "ready_ms_median": statistics.median(ms),
        "ready_ms_p90": pct(ms, 90),
        "ready_ms_min": min(ms),
        "ready_ms_max": max(ms),
        "rss_at_ready_kb_median": statistics.median([r["rss_kb"] for r in runs if r["rss_kb"]] or [0]),
        "samples": runs,
        "stderr_last_run": stderr_tail,
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=2)
    print(f"cold start: median {summary['ready_ms_median']:.1f} ms, p90 {summary['ready_ms_p90']:.1f} ms over {len(runs)} runs")


def invoke(args, cmd):
    state = State(args.event.encode())
    server = serve(state)
    port = server.server_address[1]
    t0 = time.monotonic()
    stderr_file = open(args.stderr, "wb") if args.stderr else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=child_env(port), stdout=subprocess.DEVNULL, stderr=stderr_file)
    finished = state.done.wait(timeout=args.timeout)
    exited_by_itself = True
    try:
        proc.wait(timeout=30 if finished else 1)
    except subprocess.TimeoutExpired:
        exited_by_itself = False
        kill_tree(proc)
    t_exit = time.monotonic()
    server.shutdown()
    server.server_close()
    out = {
        "finished": finished,
        "result_kind": state.result_kind,
        "exit_code": proc.returncode,
        "exited_by_itself": exited_by_itself,
        "ready_ms": (state.t_first_next - t0) * 1000 if state.t_first_next else None,
        "handle_s": (state.t_result - state.t_event_sent) if (state.t_result and state.t_event_sent) else None,
        "process_s": t_exit - t0,
        "next_calls": state.next_calls,
    }
    if args.response:
        with open(args.response, "wb") as f:
            f.write(state.result_body)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    if not finished:
        sys.stderr.write(f"the function did not answer within {args.timeout}s\n")
        sys.exit(1)
    print(f"invocation: {state.result_kind} after {out['handle_s']:.2f} s (process {out['process_s']:.2f} s)")


def main():
    argv = sys.argv[1:]
    if "--" not in argv:
        sys.exit(__doc__)
    i = argv.index("--")
    opts, cmd = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["coldstart", "invoke"])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--event", default='{"action":"run"}')
    p.add_argument("--out", required=True)
    p.add_argument("--response")
    p.add_argument("--stderr")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args(opts)
    if not cmd:
        sys.exit("no command after --")
    if args.mode == "coldstart":
        coldstart(args, cmd)
    else:
        invoke(args, cmd)


if __name__ == "__main__":
    main()
