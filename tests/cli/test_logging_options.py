"""``--log-level`` / ``--log-format`` of ``engine`` and ``worker``: JSON lines a collector
can read, from every process of the engine's tree."""

import json
import logging
import signal
import subprocess
import sys
import time

import pytest

from engine.config import Settings
from engine.logs import JsonFormatter, configure_logging

JSON_KEYS = {"ts", "level", "logger", "message"}


def test_json_lines_carry_the_exception():
    formatter = JsonFormatter()
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.getLogger("app.jobs").makeRecord(
            "app.jobs", logging.ERROR, __file__, 1, "job %s failed", (7,), sys.exc_info()
        )
    line = formatter.format(record)
    assert "\n" not in line
    doc = json.loads(line)
    assert set(doc) == JSON_KEYS | {"exception"}
    assert (doc["level"], doc["logger"], doc["message"]) == ("error", "app.jobs", "job 7 failed")
    assert doc["exception"].startswith("Traceback") and "ValueError: bad\nthing" in doc["exception"]
    assert doc["ts"].endswith("+00:00")


def test_configure_logging_sets_level_and_format(capsys):
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(Settings(log_level="warning", log_format="json"))
        logging.getLogger("x").info("hidden")
        logging.getLogger("x").warning("shown %d", 1)
        err = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:], root.level = saved
    assert [json.loads(line)["message"] for line in err] == ["shown 1"]


@pytest.mark.slow
def test_engine_and_its_workers_log_json(cli_env):
    """Every line on the engine's stderr, its worker processes' included, is a JSON object."""
    env = {**cli_env, "QUEUECONSOLE_LOG_LEVEL": "error"}  # the flag must beat this
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "queueconsole", "engine", "--workers", "1"),
            *("--log-format", "json", "--log-level", "info"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if "consuming" in line:  # a worker process is up and logging
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
        lines += rest.splitlines(keepends=True)
    assert proc.returncode == 0
    docs = [json.loads(line) for line in lines if line.strip()]
    assert docs and all(set(d) >= JSON_KEYS for d in docs)
    workers = [d for d in docs if d["logger"] == "engine.worker.process"]
    assert any("consuming" in d["message"] for d in workers), docs
    assert any("stopped" in d["message"] for d in workers), docs
