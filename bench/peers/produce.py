"""A peer's producer, run as its own process: ``python -m bench.peers.produce MODE …``.

Prints one JSON line: ``{"started": t, "finished": t, "sent": n, "send_us": […]}``,
times in wall-clock seconds, ``send_us`` how long each paced send blocked (latency
mode). Before the clock starts it publishes a few warm-up jobs (and, when workers run,
waits for them), so connection set-up and the workers' first-job imports are not
timed — the same courtesy our producer gets.

Modes: ``e2e`` publishes n jobs as fast as it can; ``bulk`` does the same with
no worker running; ``latency`` publishes at a steady rate, each message
stamped with its send time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import time

import redis

from bench.peers import PEERS, body

WARMUP_TIMEOUT_S = 60.0  # seconds for the workers to finish the warm-up jobs
POLL_S = 0.01  # seconds between looks at the warm-up counter


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("e2e", "bulk", "latency"))
    parser.add_argument("--key", required=True, help="Redis key the job bodies report to")
    parser.add_argument("--n", type=int, default=1000, help="jobs (e2e, bulk)")
    parser.add_argument("--warmup", type=int, default=4, help="untimed jobs first")
    parser.add_argument("--rate", type=float, default=50.0, help="jobs/s (latency)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration (latency)")
    args = parser.parse_args()

    peer = PEERS[os.environ["BENCH_PEER"]]
    app = importlib.import_module(f"bench.peers.{peer.family}_app")
    r = redis.Redis.from_url(os.environ.get(body.REDIS_URL_VAR, "redis://127.0.0.1:6379/0"))
    warm_key = f"{args.key}:warm"
    for _ in range(args.warmup):
        app.send(warm_key)
    if args.mode != "bulk":
        deadline = time.monotonic() + WARMUP_TIMEOUT_S
        while int(r.get(warm_key) or 0) < args.warmup:
            if time.monotonic() > deadline:
                raise SystemExit(f"warm-up jobs not done after {WARMUP_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)

    started = time.time()
    sent = 0
    send_us: list[float] = []  # latency mode: how long each send() blocked the caller
    if args.mode == "latency":
        total = max(1, round(args.rate * args.seconds))
        for i in range(total):
            delay = started + i / args.rate - time.time()
            if delay > 0:
                time.sleep(delay)
            before = time.perf_counter()
            app.send(args.key, time.time())
            send_us.append((time.perf_counter() - before) * 1e6)
            sent += 1
    else:
        for _ in range(args.n):
            app.send(args.key)
            sent += 1
    finished = time.time()
    app.close()
    result = {"started": started, "finished": finished, "sent": sent, "send_us": send_us}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
