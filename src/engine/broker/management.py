"""Queue statistics from RabbitMQ's management HTTP API, when the plugin is enabled.

AMQP itself only reports a queue's *ready* messages and consumers (passive
declare); the management API also knows how many are delivered and not yet
acknowledged, which is what an operator wants next to "ready". The plugin is
optional, so everything here reports :class:`ManagementUnavailable` and the
caller falls back to AMQP. Plain ``urllib`` (run in a thread by the caller):
a few requests every few seconds need no HTTP library.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

MANAGEMENT_PORT = 15672  # the plugin's default for http
MANAGEMENT_TLS_PORT = 15671  # and for https (used when the AMQP URL is amqps://)
REQUEST_TIMEOUT_S = 1.0  # seconds per request: a console polls, it must not stall


class ManagementUnavailable(Exception):
    """The management API cannot be used (plugin off, refused, unauthorised, unreadable)."""


@dataclass(frozen=True, slots=True)
class ManagementApi:
    """Where the management API of the broker behind an AMQP URL is, and how to log in."""

    base_url: str
    vhost: str
    user: str
    password: str

    @classmethod
    def from_amqp_url(cls, amqp_url: str) -> ManagementApi:
        """The API on the AMQP host, default port, same credentials and virtual host."""
        parts = urlsplit(amqp_url)
        tls = parts.scheme == "amqps"
        host = parts.hostname or "localhost"
        if ":" in host:
            host = f"[{host}]"
        port = MANAGEMENT_TLS_PORT if tls else MANAGEMENT_PORT
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        return cls(
            base_url=f"{'https' if tls else 'http'}://{host}:{port}",
            vhost=unquote(path) if path else "/",
            user=unquote(parts.username) if parts.username is not None else "guest",
            password=unquote(parts.password) if parts.password is not None else "guest",
        )

    def queue_url(self, queue: str) -> str:
        """``/api/queues/<vhost>/<name>``, both percent-encoded (``/`` is ``%2F``)."""
        return f"{self.base_url}/api/queues/{quote(self.vhost, safe='')}/{quote(queue, safe='')}"

    def fetch_queues(self, queues: Sequence[str]) -> dict[str, Mapping[str, Any] | None]:
        """Each queue's JSON object, or None for a queue that does not exist.

        Blocking; raises :class:`ManagementUnavailable` at the first request
        that cannot be answered.
        """
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}", "Accept": "application/json"}
        # No proxies: the API sits next to the broker, and an HTTP proxy from the
        # environment would only add a hop (or refuse an internal host).
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        found: dict[str, Mapping[str, Any] | None] = {}
        for queue in queues:
            request = urllib.request.Request(self.queue_url(queue), headers=headers)
            try:
                with opener.open(request, timeout=REQUEST_TIMEOUT_S) as response:
                    data = json.load(response)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code == 404:
                    found[queue] = None
                    continue
                raise ManagementUnavailable(f"HTTP {exc.code} from {self.base_url}") from None
            except (OSError, ValueError) as exc:  # URLError, timeouts, bad JSON
                raise ManagementUnavailable(f"{self.base_url}: {exc}") from None
            if not isinstance(data, dict):
                raise ManagementUnavailable(f"{self.base_url}: unexpected answer {data!r:.80}")
            found[queue] = data
        return found


def counts(stats: Mapping[str, Any] | None) -> tuple[int | None, int | None, int | None]:
    """(ready, unacked, consumers) from a queue's management JSON; zeros for a missing
    queue, None for a figure the broker has not sampled yet (a brand-new queue)."""
    if stats is None:
        return 0, 0, 0

    def number(key: str) -> int | None:
        value = stats.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return number("messages_ready"), number("messages_unacknowledged"), number("consumers")
