#!/usr/bin/env python3
"""Seeds a running secret-groups server with benchmark data (called by scripts/bench.sh).

Why it exists: the benchmark must measure reads and writes against realistic data — many groups,
each secret with several versions — and wrk's Lua scripts need the ids of what was created.
Standard library only: http.client for keep-alive connections, concurrent.futures for threads.

It creates N groups `g-000001`… with M secrets `K01`… each (version 1), then sends V-1 PUTs per
group that change every value (versions 2..V). It also creates U extra groups `upd-0001`… for the
update-group scenario, so that scenario never touches the groups the read scenarios use.

Writes into --data-dir:
  secret_ids.txt     one secret id per line (a shuffled sample of at most 100,000) for get-secret
  update_groups.txt  `<group id> <key> <key>…` per line, for update-group
  seed.json          counts and timing
"""
import argparse
import concurrent.futures as cf
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MAX_IDS = 100_000


def value():
    """A random-looking value of 32–64 characters."""
    return "".join(random.choices(ALPHABET, k=random.randint(32, 64)))


class Client:
    """One keep-alive connection per worker thread."""

    local = threading.local()

    def __init__(self, url, token):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def conn(self, fresh=False):
        c = getattr(self.local, "conn", None)
        if c is None or fresh:
            if c is not None:
                c.close()
            c = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        return c

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        for attempt in (0, 1):  # one reconnect if the kept-alive connection was closed
            try:
                c = self.conn(fresh=attempt > 0)
                c.request(method, path, body=data, headers=self.headers)
                r = c.getresponse()
                payload = r.read()
                break
            except (http.client.HTTPException, OSError):
                if attempt:
                    raise
        if not 200 <= r.status < 300:
            raise RuntimeError(f"{method} {path} -> {r.status}: {payload[:300]!r}")
        return json.loads(payload) if payload else None


def seed_group(client, name, keys, versions):
    """Creates one group (version 1 of every key) and changes every value versions-1 times."""
    g = client.call("POST", "/api/svc/v1/secret-groups", {
        "name": name, "integrationId": "internal-secret-store",
        "secrets": [{"key": k, "value": value()} for k in keys]})["data"]
    for _ in range(versions - 1):
        client.call("PUT", f"/api/svc/v1/secret-groups/{g['id']}",
                    {"secrets": [{"key": k, "value": value()} for k in keys]})
    return g["id"], [s["id"] for s in g["associatedSecrets"]]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True)
    p.add_argument("--token-env", default="BENCH_TOKEN", help="environment variable holding the token")
    p.add_argument("--groups", type=int, default=1000)
    p.add_argument("--first", type=int, default=1,
                   help="number of the first group (g-<first>…), to add groups to a seeded server")
    p.add_argument("--secrets-per-group", type=int, default=20)
    p.add_argument("--versions", type=int, default=3)
    p.add_argument("--update-groups", type=int, default=64)
    p.add_argument("--workers", type=int, default=12)
    p.add_argument("--data-dir", required=True)
    a = p.parse_args()
    if a.groups < 1 or a.secrets_per_group < 1 or a.versions < 1 or a.first < 1 or a.update_groups < 0:
        p.error("--groups, --secrets-per-group, --versions and --first must be at least 1")

    client = Client(a.url, os.environ[a.token_env])
    keys = [f"K{i:02d}" for i in range(1, a.secrets_per_group + 1)]
    upd_keys = [f"K{i:02d}" for i in range(1, 21)]
    secret_ids, update_groups = [], []
    done, lock, started = 0, threading.Lock(), time.monotonic()
    step = max(1, a.groups // 20)

    def progress():
        nonlocal done
        with lock:
            done += 1
            if done % step == 0 or done == a.groups:
                el = time.monotonic() - started
                print(f"    seeded {done}/{a.groups} groups ({el:.0f} s, {done / el:.0f} groups/s)",
                      file=sys.stderr, flush=True)

    with cf.ThreadPoolExecutor(a.workers) as pool:
        futures = [pool.submit(seed_group, client, f"g-{i:06d}", keys, a.versions)
                   for i in range(a.first, a.first + a.groups)]
        for f in futures:
            f.add_done_callback(lambda _f: progress())
        try:
            for f in cf.as_completed(futures):
                secret_ids.extend(f.result()[1])  # raises (and fails the run) on the first error
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        ufutures = [pool.submit(seed_group, client, f"upd-{i:04d}", upd_keys, 1)
                    for i in range(1, a.update_groups + 1)]
        update_groups = [f.result()[0] for f in ufutures]
    elapsed = time.monotonic() - started

    total = client.call("POST", "/api/svc/v1/secrets", {"limit": 1})["pagination"]["total"]
    random.shuffle(secret_ids)
    with open(os.path.join(a.data_dir, "secret_ids.txt"), "w") as f:
        f.write("\n".join(secret_ids[:MAX_IDS]) + "\n")
    with open(os.path.join(a.data_dir, "update_groups.txt"), "w") as f:
        f.writelines(f"{gid} {' '.join(upd_keys)}\n" for gid in update_groups)
    summary = {
        "groups": a.groups, "secrets_per_group": a.secrets_per_group, "versions": a.versions,
        "update_groups": a.update_groups, "secrets": len(secret_ids),
        "secret_versions": len(secret_ids) * a.versions, "total_secrets_on_server": total,
        "workers": a.workers, "seconds": round(elapsed, 1),
        "requests": a.groups * a.versions + a.update_groups,
    }
    with open(os.path.join(a.data_dir, "seed.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"    seeded {summary['secrets']} secrets x {a.versions} versions in {elapsed:.1f} s "
          f"({summary['requests'] / elapsed:.0f} requests/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
