"""Is a service there? One round trip in each server's own protocol, about a second at most.

An open port proves little (an SSH tunnel, another program, a half-started
server), and a full client login costs time and needs credentials that may
be wrong for reasons a start-up check should not judge. So each probe sends
the smallest message its protocol answers before authentication:
PostgreSQL's SSLRequest (answered ``S`` or ``N``), a Redis inline ``PING``
(``+PONG``, or an authentication error — still Redis), and the AMQP 0-9-1
protocol header (answered by ``connection.start``). No secret is ever sent.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

from engine.config import Settings, mask_url

PROBE_TIMEOUT_S = 1.0  # seconds for connect plus answer
POSTGRES_DEFAULT_PORT = 5432
REDIS_DEFAULT_PORT = 6379
AMQP_DEFAULT_PORT = 5672
AMQPS_DEFAULT_PORT = 5671
POSTGRES_SOCKET_DIRS = ("/var/run/postgresql", "/tmp")
"""Where libpq looks for a server when a URL names no host."""

_SSL_REQUEST = struct.pack("!ii", 8, 80877103)
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


@dataclass(frozen=True)
class Probe:
    """What one probe found."""

    service: str
    """"PostgreSQL", "Redis" or "RabbitMQ"."""
    url: str
    """The probed URL, password masked."""
    ok: bool
    """Whether the service answered in its own protocol."""
    detail: str
    """"answered in 3 ms", "connection refused", "answered, but not as Redis", …"""
    latency_s: float | None = None
    """Seconds from connect to answer, when it answered."""


def _target(url: str, default_port: int) -> tuple[str, int | str]:
    """(host, port) from a URL, or ("unix", path) for a Unix socket.

    Multi-host PostgreSQL URLs (``host1:5432,host2:5432``) probe the first.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        return "unix", parts.path
    hostinfo = parts.netloc.rpartition("@")[2].split(",")[0]
    host_only = urlsplit(f"//{hostinfo}")
    host = query.get("host") or host_only.hostname or ""
    try:
        port = host_only.port or int(query.get("port", default_port))
    except ValueError:
        port = default_port
    if host.startswith("/"):
        return "unix", f"{host}/.s.PGSQL.{port}"
    if not host:
        if parts.scheme.startswith("postgres"):
            sockets = [f"{d}/.s.PGSQL.{port}" for d in POSTGRES_SOCKET_DIRS]
            return "unix", next((s for s in sockets if os.path.exists(s)), sockets[0])
        host = "127.0.0.1"
    return unquote(host), port


def _exchange(
    url: str, default_port: int, request: bytes, tls: bool, timeout_s: float
) -> tuple[bytes, float]:
    """Send ``request``, return the first bytes of the answer and the round trip in seconds."""
    host, port = _target(url, default_port)
    began = time.monotonic()
    if host == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(port))
        except OSError:
            sock.close()
            raise
    else:
        sock = socket.create_connection((host, int(port)), timeout=timeout_s)
    try:
        if tls:
            # A reachability probe only: no secret is sent, so the certificate is
            # not judged here; the real client verifies it as configured.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=str(host))
        sock.sendall(request)
        answer = sock.recv(64)
        return answer, time.monotonic() - began
    finally:
        sock.close()


def _probe(
    service: str,
    url: str,
    default_port: int,
    request: bytes,
    tls: bool,
    recognise: Callable[[bytes], bool],
    timeout_s: float,
) -> Probe:
    masked = mask_url(url)
    try:
        answer, latency = _exchange(url, default_port, request, tls, timeout_s)
    except TimeoutError:
        return Probe(service, masked, False, f"no answer within {timeout_s:g} s")
    except ConnectionRefusedError:
        return Probe(service, masked, False, "connection refused")
    except FileNotFoundError:
        return Probe(service, masked, False, "no such socket")
    except socket.gaierror as exc:
        return Probe(service, masked, False, f"host not found ({exc.strerror})")
    except (OSError, ssl.SSLError) as exc:
        return Probe(service, masked, False, exc.strerror or str(exc) or type(exc).__name__)
    if not answer:
        return Probe(service, masked, False, "connection closed without an answer")
    if not recognise(answer):
        return Probe(service, masked, False, f"answered, but not as {service}")
    return Probe(service, masked, True, f"answered in {latency * 1000:.0f} ms", latency)


def probe_postgres(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """PostgreSQL answers an SSLRequest with the single byte ``S`` or ``N`` before any login."""
    return _probe(
        "PostgreSQL",
        url,
        POSTGRES_DEFAULT_PORT,
        _SSL_REQUEST,
        False,
        # Exactly one byte: the server then waits for us. An "SSH-2.0-…" greeting
        # also starts with S.
        lambda answer: answer in (b"S", b"N"),
        timeout_s,
    )


def probe_redis(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """Redis answers an inline PING with ``+PONG``, or with an error when it wants a login."""
    return _probe(
        "Redis",
        url,
        REDIS_DEFAULT_PORT,
        b"PING\r\n",
        urlsplit(url).scheme == "rediss",
        lambda answer: answer.startswith((b"+PONG", b"-NOAUTH", b"-WRONGPASS", b"-ERR")),
        timeout_s,
    )


def probe_amqp(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """An AMQP 0-9-1 broker answers the protocol header with a ``connection.start`` frame.

    A broker that speaks another AMQP version answers with its own header;
    that is still a broker and counts as reachable (the client will say why
    it cannot talk to it).
    """
    tls = urlsplit(url).scheme == "amqps"
    return _probe(
        "RabbitMQ",
        url,
        AMQPS_DEFAULT_PORT if tls else AMQP_DEFAULT_PORT,
        _AMQP_HEADER,
        tls,
        lambda answer: answer[:1] == b"\x01" or answer.startswith(b"AMQP"),
        timeout_s,
    )


PROBES: dict[str, Callable[[str, float], Probe]] = {
    "postgres": probe_postgres,
    "redis": probe_redis,
    "rabbitmq": probe_amqp,
}
"""Service key to its probe."""

SETTINGS_FIELDS = {"postgres": "database_url", "redis": "redis_url", "rabbitmq": "amqp_url"}
"""Service key to the :class:`~engine.config.Settings` field holding its URL."""


def probe_all(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Probe]:
    """Probe the three configured services at once; keyed ``postgres``, ``redis``, ``rabbitmq``."""
    with ThreadPoolExecutor(max_workers=len(PROBES), thread_name_prefix="probe") as pool:
        futures = {
            key: pool.submit(probe, getattr(settings, SETTINGS_FIELDS[key]), timeout_s)
            for key, probe in PROBES.items()
        }
        return {key: future.result() for key, future in futures.items()}


def redis_command(port: int, *args: str, timeout_s: float = 5.0) -> bytes:
    """Send one command to a Redis on 127.0.0.1:port and return its raw reply line.

    Enough for PING and FLUSHALL on our own servers, without a client
    library's connection pool and its threads.
    """
    request = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args
    )
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        sock.sendall(request)
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return reply.rstrip(b"\r\n")
