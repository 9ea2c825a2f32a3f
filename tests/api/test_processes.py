"""The API as its commands run it: ``queueconsole api`` and ``engine --api-port`` in
processes of their own, stopped with SIGTERM like a service manager would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.support.services import free_port

START_TIMEOUT_S = 90  # generous: two shared cores, and the engine starts its services first


def _get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _start(args: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[str]:
    """Run ``queueconsole ARGS`` until its stdout says ``ready``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "queueconsole", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"queueconsole {' '.join(args)} exited {proc.returncode}: {err}")
        if ready in line:
            return proc
    proc.kill()
    pytest.fail(f"queueconsole {' '.join(args)} did not start")


def _submit_token(env: dict[str, str]) -> str:
    """A ``submit`` token made by ``queueconsole token create``; its secret."""
    made = subprocess.run(
        [sys.executable, "-m", "queueconsole", "token", "create", "svc", "--scope", "submit"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip().splitlines()[-1]


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    return err


@pytest.mark.slow
@pytest.mark.parametrize("flag", ["--api-port", "--metrics-port"])
def test_the_engine_serves_metrics_healthz_and_the_api(cli_env, db, flag):
    port = free_port()
    proc = _start(
        ["engine", "--workers", "0", flag, str(port), "--log-level", "warning"],
        cli_env,
        "engine running",
    )
    try:
        status, body = _get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "queueconsole_jobs" in body
        assert _get(f"http://127.0.0.1:{port}/v1/jobs")[0] == 401
    finally:
        _stop(proc)


@pytest.mark.slow
def test_api_command_with_a_token_made_by_the_token_command(cli_env, db):
    secret = _submit_token(cli_env)
    port = free_port()
    proc = _start(["api", "--port", str(port)], cli_env, "HTTP API on")
    try:
        url = f"http://127.0.0.1:{port}/v1/jobs?token={secret}"
        assert _get(url)[0] == 401  # a query token opens no ordinary route
        status, body = _get(f"http://127.0.0.1:{port}/v1/jobs", secret)
        assert status == 200 and json.loads(body) == {"jobs": [], "next_before": None}
    finally:
        err = _stop(proc)
    assert secret not in err  # the access log hid the query's token
    assert "token=***" in err


def _counter(metrics: str, name: str) -> float:
    """The sum of a counter's samples in a ``/metrics`` body (0 when it has none)."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _children_of(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


@pytest.mark.slow
def test_api_workers_share_the_port_agree_on_metrics_and_replace_a_dead_process(cli_env, db):
    secret = _submit_token(cli_env)
    api_port, engine_port = free_port(), free_port()
    api = _start(["api", "--port", str(api_port), "--workers", "3"], cli_env, "3 processes")
    engine = _start(
        ["engine", "--workers", "1", "--api-port", str(engine_port), "--log-level", "warning"],
        cli_env,
        "engine running",
    )
    try:
        children = _children_of(api.pid)
        assert len(children) == 2

        ids = []
        for n in range(30):  # a new connection each: the kernel spreads them
            request = urllib.request.Request(
                f"http://127.0.0.1:{api_port}/v1/jobs",
                data=json.dumps({"type": "demo.noop", "payload": {"n": n}}).encode(),
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 201
                ids.append(json.loads(response.read())["id"])
        assert len(set(ids)) == 30

        # Every process answers the same completed count (one counts, all report it).
        deadline = time.monotonic() + START_TIMEOUT_S
        seen: list[float] = []
        while time.monotonic() < deadline:
            seen = [
                _counter(
                    _get(f"http://127.0.0.1:{api_port}/metrics")[1],
                    "queueconsole_jobs_completed_total",
                )
                for _ in range(12)
            ]
            if min(seen) == 30:
                break
            time.sleep(0.5)
        assert seen == [30.0] * 12

        # A child that dies is replaced (the connections it held are lost with it) and
        # the port answers on every connection again.
        os.kill(children[0], signal.SIGKILL)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            now = _children_of(api.pid)
            if len(now) == 2 and children[0] not in now:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the killed API process was not replaced")
        assert [_get(f"http://127.0.0.1:{api_port}/healthz")[0] for _ in range(12)] == [200] * 12
    finally:
        _stop(engine)
        err = _stop(api)
    assert "starting it again" in err
    for pid in children[1:]:
        assert not os.path.exists(f"/proc/{pid}"), "a child outlived the API command"


def test_api_workers_out_of_range_is_refused(cli_env):
    done = subprocess.run(
        [sys.executable, "-m", "queueconsole", "api", "--workers", "0"],
        env=cli_env,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "--workers 0: give 1 to 64 processes" in done.stderr
    assert "Traceback" not in done.stderr
