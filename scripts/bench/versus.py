"""One layout's comparison for scripts/bench/sweep.sh: Lifeboat's sweep (compare: listing) against
`rclone check` and `rclone check --fast-list` on the same two buckets, process to process."""
import json
import re
import sys

out, layout = sys.argv[1], sys.argv[2]
t0, t1, q0, q1, a, t2, q2, b, t3, q3 = map(float, sys.argv[3:13])
lb = json.load(open(f"{out}/lifeboat-{layout}.json"))


def rclone(log, secs, reqs):
    text = open(log).read()
    m = re.search(r"(\d+) matching files", text)
    return {"seconds": round(secs, 3), "requests": int(reqs),
            "matching": int(m.group(1)) if m else None,
            "no_differences": "0 differences found" in text}


lb.update({"process_seconds": round(t1 - t0, 3), "requests_seen_by_emulator": int(q1 - q0),
           "objects_per_s": round(lb["objects"] / (t1 - t0), 1),
           "api_calls_per_object": round(lb["api_calls"] / max(lb["objects"], 1), 4)})
rc = rclone(f"{out}/rclone-{layout}.log", t2 - a, q2 - q1)
rf = rclone(f"{out}/rclone-fast-list-{layout}.log", t3 - b, q3 - q2)
res = {"layout": layout, "lifeboat": lb, "rclone_check": rc, "rclone_check_fast_list": rf,
       "lifeboat_vs_rclone_check": round(rc["seconds"] / lb["process_seconds"], 2),
       "lifeboat_vs_rclone_check_fast_list": round(rf["seconds"] / lb["process_seconds"], 2)}
json.dump(res, open(f"{out}/versus-{layout}.json", "w"), indent=2)
