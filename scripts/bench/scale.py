#!/usr/bin/env python3
"""Measures how list pages grow with the data (scripts/bench.sh --scale).

Why it exists: a list page should cost the same whatever the tenant holds (issue 17). With wrk the
numbers would mix queueing into the page's own cost, so this asks one request at a time: for both
lists (GET /secret-groups and POST /secrets, limit 100) at offset 0 and at 90 % of the total, it
times --samples requests after --warmup unmeasured ones and records the p50 and p90 in
milliseconds. Standard library only.

  scale.py probe --url URL --label L --out FILE   appends one JSON line per (list, offset) to FILE
  scale.py report FILE                            prints the Markdown table, growth factors
                                                  between the first and the last label
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

LISTS = {
    # name: (method, path template, body template)
    "list-groups": ("GET", "/api/svc/v1/secret-groups?limit=100&offset={offset}", None),
    "list-secrets": ("POST", "/api/svc/v1/secrets", {"limit": 100, "offset": "{offset}"}),
}


def request(conn, headers, method, path, body):
    data = None if body is None else json.dumps(body).encode()
    conn.request(method, path, body=data, headers=headers)
    r = conn.getresponse()
    payload = r.read()
    if r.status != 200:
        raise RuntimeError(f"{method} {path} -> {r.status}: {payload[:300]!r}")
    return json.loads(payload)


def probe(a):
    u = urllib.parse.urlsplit(a.url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=120)
    headers = {"Authorization": f"Bearer {os.environ[a.token_env]}", "Content-Type": "application/json"}
    rows = []
    for name, (method, path, body) in LISTS.items():
        first = request(conn, headers, method, path.format(offset=0),
                        None if body is None else {**body, "offset": 0})
        total = first["pagination"]["total"]
        for where, offset in (("offset 0", 0), ("offset 90%", total * 9 // 10)):
            p = path.format(offset=offset)
            b = None if body is None else {**body, "offset": offset}
            for _ in range(a.warmup):
                request(conn, headers, method, p, b)
            times = []
            for _ in range(a.samples):
                t = time.perf_counter()
                request(conn, headers, method, p, b)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            rows.append({"label": a.label, "list": name, "where": where, "offset": offset, "total": total,
                         "p50_ms": round(statistics.median(times), 2),
                         "p90_ms": round(times[int(len(times) * 0.9) - 1], 2)})
            print(f"    {a.label}: {name} {where} (offset {offset} of {total}): "
                  f"p50 {rows[-1]['p50_ms']} ms, p90 {rows[-1]['p90_ms']} ms", file=sys.stderr)
    with open(a.out, "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def report(a):
    rows = [json.loads(line) for line in open(a.file)]
    labels = list(dict.fromkeys(r["label"] for r in rows))
    by = {(r["label"], r["list"], r["where"]): r for r in rows}
    head = " | ".join(f"p50 ms at {lbl}" for lbl in labels)
    out = [f"| list | page | {head} | growth |", "|---|---|" + "---:|" * (len(labels) + 1)]
    for name in LISTS:
        for where in ("offset 0", "offset 90%"):
            cells = [by.get((lbl, name, where)) for lbl in labels]
            p50 = [c["p50_ms"] if c else None for c in cells]
            growth = f"{p50[-1] / p50[0]:.2f}×" if p50[0] and p50[-1] else "–"
            out.append(f"| {name} | {where} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in p50)
                       + f" | {growth} |")
    sys.stdout.write("\n".join(out) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("probe")
    pr.add_argument("--url", required=True)
    pr.add_argument("--token-env", default="BENCH_TOKEN")
    pr.add_argument("--label", required=True)
    pr.add_argument("--out", required=True)
    pr.add_argument("--samples", type=int, default=30)
    pr.add_argument("--warmup", type=int, default=3)
    rp = sub.add_parser("report")
    rp.add_argument("file")
    a = p.parse_args()
    probe(a) if a.cmd == "probe" else report(a)


if __name__ == "__main__":
    main()
