"""``queueconsole serve`` as a user types it: flags that cannot work are one-line errors,
and the command serves until SIGTERM, then exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.error
import urllib.request

import psutil
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.services import free_port

START_TIMEOUT_S = 90  # seconds: two shared cores


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--host", "0.0.0.0", "--no-auth"], "--no-auth"),
        (["--port", "70000"], "--port 70000"),
        (["--public-url", "ftp://example.com"], "--public-url"),
        (["--max-consoles", "0"], "--max-consoles 0"),
        (["--port", "eighty"], "'eighty' is not a whole number"),
    ],
)
def test_impossible_flags_are_one_line_errors(qc, args, named):
    code, out, err = qc("serve", *args)
    assert code == 2
    assert named in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out == ""


@pytest.mark.slow
def test_serve_runs_until_sigterm_and_refuses_a_browser_without_token(cli_env, db):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "queueconsole", "serve", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert f"console for browsers on http://127.0.0.1:{port} (tokens required)" in line
        assert "no live API token yet" in proc.stdout.readline()  # the fixture made none
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        refused.value.close()
        assert refused.value.code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 0, err


@pytest.mark.slow
def test_sigterm_closes_open_consoles_and_their_processes(cli_env, db):
    created = subprocess.run(
        [sys.executable, "-m", "queueconsole", "token", "create", "tab", "--scope", "read"],
        env=cli_env,
        capture_output=True,
        text=True,
        check=True,
    )
    secret = created.stdout.strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "queueconsole", "serve", "--port", str(port)],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "console for browsers" in proc.stdout.readline()
        headers = {"Authorization": f"Bearer {secret}"}
        with connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers) as ws:
            while not isinstance(ws.recv(timeout=START_TIMEOUT_S), bytes):
                pass  # the console has drawn
            console = psutil.Process(proc.pid).children(recursive=True)
            assert console
            proc.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed):
                while True:
                    ws.recv(timeout=START_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=START_TIMEOUT_S)
    assert proc.returncode == 0, err
    _, alive = psutil.wait_procs(console, timeout=START_TIMEOUT_S)
    assert alive == []
    assert secret not in err
