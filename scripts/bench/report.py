#!/usr/bin/env python3
"""Turns one benchmark run's raw files into a Markdown table and a JSON document.

Why it exists: scripts/bench.sh leaves, per scenario, wrk's text output (`wrk-<name>.txt`, with
--latency percentiles and the `bench-lua:` lines of scenarios.lua) and the server's peak RSS
(`rss-<name>.txt`, KiB); this script parses them, decides ok/FAILED per scenario (any non-2xx
answer, socket error, or no answer at all fails it), computes the ratio to the ceiling scenario,
and writes both reports. Exit code 1 if any scenario failed.
"""
import argparse
import json
import os
import re
import sys

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def parse_wrk(path):
    r = {"requests_per_s": None, "p50_ms": None, "p90_ms": None, "p99_ms": None, "requests": 0,
         "non2xx": 0, "socket_errors": {}, "sample": None, "wrk_output": ""}
    try:
        text = r["wrk_output"] = open(path, errors="replace").read()
    except FileNotFoundError:
        r["error"] = "no wrk output"
        return r
    for line in text.splitlines():
        line = line.strip()
        if m := re.match(r"(50|90|99)(?:\.0+)?%\s+(\S+)$", line):
            r[f"p{m.group(1)}_ms"] = ms(m.group(2))
        elif m := re.match(r"Requests/sec:\s+([\d.]+)", line):
            r["requests_per_s"] = float(m.group(1))
        elif m := re.match(r"(\d+) requests in", line):
            r["requests"] = int(m.group(1))
        elif m := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            r["non2xx"] = max(r["non2xx"], int(m.group(1)))
        elif m := re.match(r"Socket errors: (.*)", line):
            r["socket_errors"] = {k: int(v) for k, v in re.findall(r"(\w+) (\d+)", m.group(1))}
        elif m := re.match(r"bench-lua: responses=(\d+) non2xx=(\d+)", line):
            r["non2xx"] = max(r["non2xx"], int(m.group(2)))
        elif line.startswith("bench-lua: sample="):
            r["sample"] = line[len("bench-lua: sample="):]
    problems = []
    if r["non2xx"]:
        problems.append(f"{r['non2xx']} non-2xx")
    if sum(r["socket_errors"].values()):
        problems.append("socket errors " + ", ".join(f"{k} {v}" for k, v in r["socket_errors"].items() if v))
    if not r["requests"] or r["requests_per_s"] is None:
        problems.append("no answers")
    r["status"] = "FAILED: " + "; ".join(problems) if problems else "ok"
    return r


def fmt(v, spec):
    return "–" if v is None else format(v, spec)


def fmt_ratio(v):
    return "–" if v is None else f"{v:.3f}" if v >= 0.1 else f"{v:.2g}"


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--scenarios", required=True, help="comma-separated, in the order they ran")
    p.add_argument("--meta", required=True, help="JSON file with the run's metadata")
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    a = p.parse_args()

    meta = json.load(open(a.meta))
    seed_path = os.path.join(a.data_dir, "seed.json")
    if os.path.exists(seed_path):
        meta["seed"] = json.load(open(seed_path))
    hwm = os.path.join(a.data_dir, "vmhwm.txt")
    if os.path.exists(hwm) and open(hwm).read().strip():
        meta["server_vmhwm_mib"] = round(int(open(hwm).read()) / 1024, 1)

    pgbench = os.path.join(a.data_dir, "pgbench.txt")
    if os.path.exists(pgbench):
        m = re.search(r"^tps = ([\d.]+)", open(pgbench, errors="replace").read(), re.M)
        meta["pgbench_tps"] = float(m.group(1)) if m else None

    results = []
    for name in a.scenarios.split(","):
        r = {"scenario": name, **parse_wrk(os.path.join(a.data_dir, f"wrk-{name}.txt"))}
        try:
            kib = int(open(os.path.join(a.data_dir, f"rss-{name}.txt")).read())
        except (FileNotFoundError, ValueError):
            kib = 0
        r["peak_rss_mib"] = round(kib / 1024, 1) if kib else None
        results.append(r)
    ceiling = next((r["requests_per_s"] for r in results if r["scenario"] == "ceiling"), None)
    for r in results:  # a failed scenario gets no ratio: failing fast is not being fast
        ok = r["status"] == "ok" and r["requests_per_s"] is not None
        r["ratio_to_ceiling"] = float(f"{r['requests_per_s'] / ceiling:.4g}") if ceiling and ok else None

    # The audit trail's cost: get-secret (audit on) as a share of the same run with it off.
    by_name = {r["scenario"]: r for r in results}
    on, off = by_name.get("get-secret"), by_name.get("get-secret-audit-off")
    audit_ratio = None
    if on and off and on["status"] == "ok" and off["status"] == "ok" and off["requests_per_s"]:
        audit_ratio = float(f"{on['requests_per_s'] / off['requests_per_s']:.4g}")
    meta["audit_on_to_off"] = audit_ratio

    s = meta.get("seed", {})
    built = f"binary {meta['server_bin']} (tree at " if meta.get("server_bin") else ""
    md = [f"Benchmark {built}`{meta['git_sha']}`{' (dirty)' if meta.get('git_dirty') else ''}{')' if built else ''} on "
          f"**{meta['backend']}**, {meta['date']}: {s.get('groups', '?')} groups × "
          f"{s.get('secrets_per_group', '?')} secrets × {s.get('versions', '?')} versions "
          f"(+{s.get('update_groups', '?')} update groups; seeded in {s.get('seconds', '?')} s), "
          f"wrk -t {meta['wrk']['threads']} -c {meta['wrk']['connections']} -d {meta['wrk']['duration']}, "
          f"{meta['nproc']} CPUs.", "",
          "| scenario | req/s | p50 ms | p99 ms | peak RSS MiB | ratio to ceiling | status |",
          "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        rps = fmt(r["requests_per_s"], ",.0f")
        if r["status"] != "ok" and r["requests_per_s"] is not None:
            rps = f"~~{rps}~~"
        md.append(f"| {r['scenario']} | {rps} | {fmt(r['p50_ms'], '.2f')} | "
                  f"{fmt(r['p99_ms'], '.2f')} | {fmt(r['peak_rss_mib'], '.1f')} | "
                  f"{fmt_ratio(r['ratio_to_ceiling'])} | {r['status']} |")
    md.append("")
    peaks = [r["peak_rss_mib"] for r in results if r["peak_rss_mib"] is not None]
    md.append(f"Server VmHWM at the end (seeding included): {meta.get('server_vmhwm_mib', '–')} MiB; "
              f"largest sampled VmRSS: {fmt(max(peaks, default=None), '.1f')} MiB. Server log: "
              f"{meta.get('server_log_warnings', '?')} WARN and {meta.get('server_log_errors', '?')} ERROR lines.")
    if "pgbench_tps" in meta:
        tps = meta["pgbench_tps"]
        get = next((r for r in results if r["scenario"] == "get-secret" and r["status"] == "ok"), None)
        ratio = get["requests_per_s"] / tps if get and tps else None
        meta["get_secret_to_pgbench"] = None if ratio is None else round(ratio, 3)
        md.append(f"\nPostgreSQL's own point selects (`pgbench -S -M prepared -c {meta['wrk']['connections']} "
                  f"-j {meta['wrk']['threads']}`, scale 1, same run): {fmt(tps, ',.0f')} tps; "
                  f"get-secret / pgbench = **{fmt_ratio(ratio)}**.")
    if audit_ratio is not None:
        md.append(f"\nget-secret with the audit trail on: {audit_ratio:.0%} of its throughput with "
                  f"SG_AUDIT=off (target: at least 70 %).")
    for r in results:
        if r["sample"]:
            md.append(f"\n`{r['scenario']}` first failing answer: `{r['sample']}`")
    text = "\n".join(md) + "\n"

    os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({**meta, "scenarios": results}, f, indent=2)
    with open(a.markdown, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 1 if any(r["status"] != "ok" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
