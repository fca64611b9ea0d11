#!/usr/bin/env python3
"""Turns the raw files scripts/bench.sh wrote into results.json and prints the table.

Usage: summarize.py RAW_DIR RESULTS_JSON
"""
import collections
import datetime
import json
import os
import platform
import re
import subprocess
import sys

ZIP_TARGET_MB = 5
RSS_TARGET_MB = 32
SPEEDUP_TARGET = 20


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def lines(path):
    return [l for l in read(path).splitlines() if l.strip()]


def facts(raw):
    out = {}
    for line in lines(os.path.join(raw, "facts.env")):
        k, _, v = line.partition("=")
        out[k] = v
    return out


def size(path):
    try:
        return os.path.getsize(path) if path else None
    except OSError:
        return None


def cmd(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    model = ""
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": cmd("rustc", "--version"),
    }


def time_v(path):
    """Parses GNU time -v output."""
    out = {}
    for line in read(path).splitlines():
        k, _, v = line.strip().rpartition(": ")
        if k == "Maximum resident set size (kbytes)":
            out["max_rss_kb"] = int(v)
        elif k == "User time (seconds)":
            out["user_s"] = float(v)
        elif k == "System time (seconds)":
            out["sys_s"] = float(v)
        elif k == "Exit status":
            out["exit_status"] = int(v)
        elif k.startswith("Elapsed (wall clock) time"):
            parts = [float(p) for p in v.split(":")]
            secs = 0.0
            for p in parts:
                secs = secs * 60 + p
            out["wall_s"] = secs
    return out


def methods(path):
    c = collections.Counter()
    for l in lines(path):
        m = re.search(r'"(?:\x1b\[[0-9;]*m)*(GET|POST|PUT|DELETE|HEAD|PATCH|OPTIONS) ', l)
        status = re.search(r'HTTP/1\.[01](?:\x1b\[[0-9;]*m)*" (\d{3})', l)
        if m:
            c[m.group(1)] += 1
        if status and status.group(1).startswith("5"):
            c["http_5xx"] += 1
    return dict(c)


def main():
    raw, dest = sys.argv[1], sys.argv[2]
    f = facts(raw)
    tick = int(f.get("CLK_TCK", "100"))
    cold = json.loads(read(os.path.join(raw, "coldstart.json"), "{}") or "{}")
    cold.pop("stderr_last_run", None)
    invoke = json.loads(read(os.path.join(raw, "lifeboat-invoke.json"), "{}") or "{}")
    report = json.loads(read(os.path.join(raw, "lifeboat-report.json"), "{}") or "{}")
    lb_time = time_v(os.path.join(raw, "lifeboat.time"))
    # The invocation's answer is the report, or an error; the report archived in S3 is the same
    # document and exists even when the invocation failed after archiving it.
    error = None if "measurements" in report else report
    if error is not None:
        for d, _, files in os.walk(os.path.join(raw, "archived-reports")):
            for name in sorted(files):
                if name.endswith(".json") and "dry-run" not in name:
                    report = json.loads(read(os.path.join(d, name), "{}") or "{}")

    # --- job A: the runbook shell loop
    wall, user, sys_, rss = (read(os.path.join(raw, "runbook.time")).split() + [None] * 4)[:4]
    out_lines = lines(os.path.join(raw, "runbook.out"))
    a_before = set(lines(os.path.join(raw, "a-before-primary.txt")))
    a_after = set(lines(os.path.join(raw, "a-after-primary.txt")))
    a_deleted = sorted(a_before - a_after)
    a_listed = [s for s in a_before if s.startswith("lifeboat-")]
    a_requests = int(f.get("A_REQUESTS", 0))
    runbook = {
        "wall_s": float(wall) if wall else None,
        "cpu_s": (float(user) + float(sys_)) if user else None,
        "requests": a_requests,
        "requests_by_method": methods(os.path.join(raw, "a-requests.log")),
        "snapshots_listed": len(a_listed),
        "snapshots_examined": sum(1 for l in out_lines if l.startswith(("DELETED", "WARNING", "ERROR"))),
        "deleted_primary": len(a_deleted),
        "skipped_no_proof": sum(1 for l in out_lines if l.startswith("WARNING")),
        "errors": sum(1 for l in out_lines if l.startswith("ERROR")),
        "calls_per_snapshot": round(a_requests / len(a_listed), 2) if a_listed else None,
        "emulator_cpu_s": int(f.get("A_MOTO_CPU_TICKS", 0)) / tick,
        "retention_days": int(f.get("RETENTION_DAYS", 7)),
        "seed_s": float(f["SEED_A_S"]) if "SEED_A_S" in f else None,
    }

    # --- job B: Lifeboat
    b_before = set(lines(os.path.join(raw, "b-before-primary.txt")))
    b_after = set(lines(os.path.join(raw, "b-after-primary.txt")))
    b_dr_before = set(lines(os.path.join(raw, "b-before-dr.txt")))
    b_dr_after = set(lines(os.path.join(raw, "b-after-dr.txt")))
    b_deleted = sorted(b_before - b_after)
    metrics = {m["name"]: m["value"] for m in report.get("measurements", [])}
    actions = collections.Counter(f'{a["kind"]}:{a["outcome"]}' for a in report.get("actions", []))
    done = collections.Counter(a["kind"] for a in report.get("actions", []) if a["outcome"] in ("done", "already_done"))
    b_requests = int(f.get("B_REQUESTS", 0))
    seen = int(metrics.get("SnapshotsSeen", 0))
    # Requests that change something: one per action, two per settled manifest (PUT + tag).
    settled_manifests = sum(
        1 for a in report.get("actions", [])
        if a["kind"] == "write-manifest" and a["outcome"] == "done" and "final" in a.get("reason", "")
    )
    write_calls = sum(done.values()) + settled_manifests
    lease_and_report = 4  # lease PUT (+ read), release DELETE, report PUT, SNS publish: approx.
    lifeboat = {
        "handle_s": invoke.get("handle_s"),
        "process_wall_s": lb_time.get("wall_s"),
        "cpu_s": round(lb_time.get("user_s", 0) + lb_time.get("sys_s", 0), 3) if lb_time else None,
        "max_rss_kb": lb_time.get("max_rss_kb"),
        "result": invoke.get("result_kind"),
        "error": error,
        "report_source": "archived in S3" if error is not None else "invocation response",
        "headline": report.get("headline"),
        "status": report.get("status"),
        "requests": b_requests,
        "requests_by_method": methods(os.path.join(raw, "b-requests.log")),
        "snapshots_seen": seen,
        "calls_per_snapshot": round(b_requests / seen, 2) if seen else None,
        "deleted_primary": len(b_deleted),
        "deleted_dr": len(b_dr_before - b_dr_after),
        "created_primary": len(b_after - b_before),
        "actions": dict(sorted(actions.items())),
        "settled_manifests": settled_manifests,
        "write_requests_estimate": write_calls,
        "read_requests_estimate": max(0, b_requests - write_calls - lease_and_report),
        "metrics": metrics,
        "emulator_cpu_s": int(f.get("B_MOTO_CPU_TICKS", 0)) / tick,
        "seed_s": float(f["SEED_B_S"]) if "SEED_B_S" in f else None,
        "findings": [x.get("message") for x in report.get("findings", [])][:20],
    }

    same = sorted(set(a_deleted) & set(b_deleted))
    comparison = {
        "deleted_by_both": len(same),
        "deleted_only_by_runbook": sorted(set(a_deleted) - set(b_deleted)),
        "deleted_only_by_lifeboat": sorted(set(b_deleted) - set(a_deleted)),
        "speedup": round(runbook["wall_s"] / lifeboat["handle_s"], 1) if runbook["wall_s"] and lifeboat["handle_s"] else None,
        "speedup_process": round(runbook["wall_s"] / lifeboat["process_wall_s"], 1) if runbook["wall_s"] and lifeboat["process_wall_s"] else None,
    }

    arm64_zip = size(f.get("ARM64_ZIP"))
    x86_zip = size(f.get("X86_ZIP"))
    sizes = {
        "arm64_zip_bytes": arm64_zip,
        "arm64_binary_bytes": size(f.get("ARM64_BIN")),
        "arm64_build_s": float(f["ARM64_BUILD_S"]) if "ARM64_BUILD_S" in f else None,
        "x86_64_zip_bytes": x86_zip,
        "x86_64_binary_bytes": size(f.get("X86_BIN")),
    }
    deploy_zip = arm64_zip or x86_zip
    rss_mb = (lifeboat["max_rss_kb"] or 0) / 1024
    targets = {
        "zip_le_5MB": {"value_mb": round(deploy_zip / 1e6, 2) if deploy_zip else None,
                       "arch": "arm64" if arm64_zip else "x86_64",
                       "met": bool(deploy_zip and deploy_zip <= ZIP_TARGET_MB * 1e6)},
        "peak_rss_le_32MB": {"value_mb": round(rss_mb, 1), "met": bool(lifeboat["max_rss_kb"]) and rss_mb <= RSS_TARGET_MB},
        "speedup_ge_20x": {"value": comparison["speedup"], "met": bool(comparison["speedup"] and comparison["speedup"] >= SPEEDUP_TARGET)},
    }

    results = {
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "history_days": int(f.get("HISTORY_DAYS", 0)),
        "git_commit": f.get("GIT_COMMIT"),
        "machine": machine(),
        "sizes": sizes,
        "cold_start": cold,
        "lifeboat": lifeboat,
        "runbook": runbook,
        "comparison": comparison,
        "targets": targets,
    }
    with open(dest, "w") as fh:
        json.dump(results, fh, indent=2)

    def mb(b):
        return f"{b / 1e6:.2f} MB" if b else "n/a"

    def yes(m):
        return "met" if m else "NOT met"

    rows = [
        ("Release zip, arm64 (deployed)", mb(arm64_zip), "<= 5 MB", yes(targets["zip_le_5MB"]["met"]) if arm64_zip else "n/a"),
        ("Release zip, x86_64", mb(x86_zip), "", "" if arm64_zip else yes(targets["zip_le_5MB"]["met"])),
        ("Start -> ready for 1st event, median / p90", f'{cold.get("ready_ms_median", 0):.1f} / {cold.get("ready_ms_p90", 0):.1f} ms ({cold.get("runs")} runs)', "", ""),
        ("Peak RSS, real run", f"{rss_mb:.1f} MB", "<= 32 MB", yes(targets["peak_rss_le_32MB"]["met"])),
        ("Lifeboat invocation result", "response (report)" if error is None else
         f'ERROR ...{str(error.get("errorMessage", error))[-45:]}', "", ""),
        ("Lifeboat run: event -> response", f'{lifeboat["handle_s"]:.2f} s' if lifeboat["handle_s"] else "n/a", "", ""),
        ("Runbook shell loop: wall", f'{runbook["wall_s"]:.1f} s' if runbook["wall_s"] else "n/a", "", ""),
        ("Speed-up (shell loop / Lifeboat)", f'{comparison["speedup"]}x', ">= 20x", yes(targets["speedup_ge_20x"]["met"])),
        ("API calls, Lifeboat (all work)", f'{b_requests} ({lifeboat["calls_per_snapshot"]}/snapshot, {seen} seen)', "", ""),
        ("API calls, shell loop", f'{a_requests} ({runbook["calls_per_snapshot"]}/snapshot, {len(a_listed)} listed)', "", ""),
        ("Primary snapshots deleted: Lifeboat / loop / both", f'{len(b_deleted)} / {len(a_deleted)} / {len(same)}', "", ""),
        ("Lifeboat also: DR copies deleted, created", f'{lifeboat["deleted_dr"]}, {lifeboat["created_primary"]}', "", ""),
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    print(f"Lifeboat benchmark, {results['history_days']} days of history, {results['machine']['nproc']} x {results['machine']['cpu_model']}")
    for r in rows:
        print("  " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip())
    print(f"\n  raw results: {dest}")


if __name__ == "__main__":
    main()
