"""RabbitMQ: reachable, its ``consumer_timeout``, and whether the management API answers.

``consumer_timeout`` is not visible over AMQP or the management API. When the
broker runs on this machine, ``rabbitmqctl eval`` reads it from the node —
after checking that the node it reached is the one listening on the
configured port (``rabbitmqctl`` talks to the machine's default node, or the
one ``RABBITMQ_NODENAME`` names). Otherwise the value is reported as unknown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from engine.broker.management import ManagementApi
from engine.config import Settings, mask_url
from engine.doctor.report import CheckResult, CheckStatus
from engine.status.health import probe_rabbitmq

CTL_TIMEOUT_S = 15.0  # seconds for rabbitmqctl (it boots an Erlang VM)
MANAGEMENT_TIMEOUT_S = 2.0
MIN_CONSUMER_TIMEOUT_MS = 10_000
"""Below this a delivery waiting in a worker's prefetch while a slow claim runs (a busy
database) can time out: the broker closes the channel and the worker reconnects."""
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
CTL_CANDIDATES = ("/usr/sbin/rabbitmqctl", "/usr/lib/rabbitmq/bin/rabbitmqctl")
"""Where Debian's and RabbitMQ's packages put rabbitmqctl, outside an ordinary user's PATH."""
# consumer_timeout, and the AMQP ports of the node rabbitmqctl reached.
CTL_EXPRESSION = (
    "{application:get_env(rabbit, consumer_timeout), "
    "[P || {listener, _, Proto, _, _, P, _} <- rabbit_networking:node_listeners(node()), "
    "lists:member(Proto, [amqp, 'amqp/ssl'])]}."
)
_CTL_ANSWER = re.compile(r"^\{(?:\{ok,(?P<value>\w+)\}|undefined),\[(?P<ports>[\d,]*)\]\}$")
ADVICE_TIMEOUT = (
    "leave consumer_timeout at RabbitMQ's default (1800000 ms) or set it to at least "
    f"{MIN_CONSUMER_TIMEOUT_MS} in rabbitmq.conf"
)


async def check_rabbitmq(settings: Settings, *, consumer_timeout: bool = True) -> list[CheckResult]:
    """``rabbitmq``, then ``rabbitmq.management`` and (when asked) ``rabbitmq.consumer_timeout``."""
    health = await probe_rabbitmq(settings)
    if not health.up:
        return [
            CheckResult(
                "rabbitmq",
                CheckStatus.FAIL,
                f"no answer at {health.url}: {health.error}",
                "start RabbitMQ or fix QUEUECONSOLE_AMQP_URL; nothing is dispatched until then",
            )
        ]
    results = [CheckResult("rabbitmq", CheckStatus.OK, f"answers at {health.url}")]
    results.append(await asyncio.to_thread(check_management, settings))
    if consumer_timeout:
        results.append(await check_consumer_timeout(settings))
    return results


def check_management(settings: Settings) -> CheckResult:
    """``rabbitmq.management``: ``GET /api/overview`` with the AMQP URL's credentials.

    Blocking (run it in a thread). The plugin is optional: without it the status
    views have no unacked counts, which is a warning, not a failure.
    """
    api = ManagementApi.from_amqp_url(settings.amqp_url)
    token = base64.b64encode(f"{api.user}:{api.password}".encode()).decode()
    request = urllib.request.Request(
        f"{api.base_url}/api/overview",
        headers={"Authorization": f"Basic {token}", "Accept": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    enable = (
        "enable it for unacked counts in `status` and the console: "
        "`rabbitmq-plugins enable rabbitmq_management`"
    )
    try:
        with opener.open(request, timeout=MANAGEMENT_TIMEOUT_S) as response:
            overview = json.load(response)
    except urllib.error.HTTPError as exc:
        exc.close()
        return CheckResult(
            "rabbitmq.management",
            CheckStatus.WARN,
            f"{api.base_url} answers HTTP {exc.code} to the AMQP URL's user",
            "give that user the `monitoring` tag (rabbitmqctl set_user_tags USER monitoring) "
            "so status views can read unacked counts",
        )
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return CheckResult(
            "rabbitmq.management",
            CheckStatus.WARN,
            f"off or unreachable at {api.base_url} ({reason}): no unacked counts",
            enable,
        )
    version = overview.get("rabbitmq_version", "?") if isinstance(overview, dict) else "?"
    return CheckResult(
        "rabbitmq.management",
        CheckStatus.OK,
        f"on at {api.base_url} (RabbitMQ {version}): unacked counts shown",
    )


def rabbitmqctl_path() -> str | None:
    """``rabbitmqctl`` on PATH or where the packages install it."""
    found = shutil.which("rabbitmqctl")
    if found:
        return found
    return next((c for c in CTL_CANDIDATES if os.access(c, os.X_OK)), None)


async def check_consumer_timeout(settings: Settings) -> CheckResult:
    """``rabbitmq.consumer_timeout`` read with ``rabbitmqctl eval``, or ``unknown``."""
    parts = urlsplit(settings.amqp_url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    host = parts.hostname or "localhost"
    if host not in LOCAL_HOSTS:
        return _unknown(f"the broker runs on {host}, and rabbitmqctl reads only this machine's")
    ctl = rabbitmqctl_path()
    if ctl is None:
        return _unknown("rabbitmqctl is not installed here")
    try:
        process = await asyncio.create_subprocess_exec(
            ctl,
            "-q",
            "eval",
            CTL_EXPRESSION,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return _unknown(f"rabbitmqctl could not start ({exc})")
    try:
        async with asyncio.timeout(CTL_TIMEOUT_S):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return _unknown(f"rabbitmqctl did not answer within {CTL_TIMEOUT_S:g} s")
    answer = "".join(out.decode(errors="replace").split())
    match = _CTL_ANSWER.match(answer)
    if process.returncode != 0 or match is None:
        first = (err or out).decode(errors="replace").strip().splitlines()
        why = first[0] if first else f"exit status {process.returncode}"
        return _unknown(f"rabbitmqctl could not read it ({settings.redact(why)[:160]})")
    ports = {int(p) for p in match["ports"].split(",") if p}
    if port not in ports:
        return _unknown(
            f"the node rabbitmqctl reaches listens on {sorted(ports) or 'no AMQP port'}, "
            f"not on {port} of {mask_url(settings.amqp_url)}"
        )
    return _judge(match["value"])


def _judge(value: str | None) -> CheckResult:
    if value is None or value in ("undefined", "false", "infinity"):
        return CheckResult(
            "rabbitmq.consumer_timeout", CheckStatus.OK, "disabled (deliveries never time out)"
        )
    if not value.isdigit():
        return _unknown(f"unreadable value {value!r}")
    ms = int(value)
    found = f"consumer_timeout {ms} ms"
    if ms < MIN_CONSUMER_TIMEOUT_MS:
        return CheckResult(
            "rabbitmq.consumer_timeout",
            CheckStatus.WARN,
            f"{found}: shorter than a slow claim may take; the broker would close "
            "workers' channels",
            ADVICE_TIMEOUT,
        )
    return CheckResult(
        "rabbitmq.consumer_timeout",
        CheckStatus.OK,
        f"{found}: workers ack on claim, so long jobs never reach it",
    )


def _unknown(why: str) -> CheckResult:
    return CheckResult(
        "rabbitmq.consumer_timeout",
        CheckStatus.WARN,
        f"unknown: {why}",
        f"check it on the broker (`rabbitmqctl eval 'application:get_env(rabbit, "
        f"consumer_timeout).'`); {ADVICE_TIMEOUT}",
    )
