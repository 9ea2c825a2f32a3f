"""Settings: where the services are and how this installation is named.

Precedence, lowest to highest, as in most tools: built-in defaults (the
standard local ports), the TOML config file, ``QUEUECONSOLE_*`` environment
variables, then command-line flags. The config file is ``--config PATH`` when
given, else ``$QUEUECONSOLE_CONFIG``, else ``$XDG_CONFIG_HOME/queueconsole/config.toml``
(``~/.config/queueconsole/config.toml`` when ``XDG_CONFIG_HOME`` is unset) if it
exists. :func:`resolve_settings` also says where each value came from
(``queueconsole config``). Every URL shown anywhere goes through :func:`mask_url`.
"""

from __future__ import annotations

import json
import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from engine.durations import DurationError, parse_duration
from engine.errors import ConfigError
from engine.routes import NO_ROUTES, Routes, parse_routes

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/queueconsole"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_NAMESPACE = "qc"
QUEUE_TYPES = ("classic", "quorum")
"""RabbitMQ queue types the work and dead-letter queues may be declared as."""
DEFAULT_READ_MAX_LAG_S = 5.0  # seconds a read replica may trail the primary and still be used

ENV_PREFIX = "QUEUECONSOLE_"
CONFIG_ENV = "QUEUECONSOLE_CONFIG"
"""The variable naming the config file when ``--config`` is not given."""
CONFIG_RELATIVE_PATH = Path("queueconsole", "config.toml")
"""Where the default config file lives under ``$XDG_CONFIG_HOME`` (or ``~/.config``)."""
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("text", "json")
_NAMESPACE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}\Z")  # \Z: no trailing newline
_HOST_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}\Z")
_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "sslpassword"})
MASK = "***"


@dataclass(frozen=True)
class Settings:
    """One installation's configuration. Immutable; derive variants with :meth:`evolve`."""

    database_url: str = DEFAULT_DATABASE_URL
    """PostgreSQL, the source of truth (``postgresql://user:pass@host:port/db``)."""
    amqp_url: str = DEFAULT_AMQP_URL
    """RabbitMQ, which dispatches work (``amqp://`` or ``amqps://``)."""
    redis_url: str = DEFAULT_REDIS_URL
    """Redis, the status cache (``redis://`` or ``rediss://``)."""
    namespace: str = DEFAULT_NAMESPACE
    """Prefix of every broker name and Redis key, so installations sharing servers
    never see each other."""
    job_modules: tuple[str, ...] = field(default=())
    """Python modules imported by workers so their ``@job`` handlers register."""
    count_reconcile_s: float = 10.0
    """Seconds between rewrites of the Redis counters from PostgreSQL's counts; any drift
    (a flush, an eviction, a write lost while Redis was down) is gone after one period."""
    retention_age: str = ""
    """Finished jobs older than this (e.g. ``7d``, ``12h``) are removed by the engine's
    retention service; empty keeps them forever (``queueconsole prune`` still works)."""
    retention_batch_size: int = 1000
    """Jobs removed per short transaction by retention, so no lock is held for long."""
    dead_letter_max_length: int = 100_000
    """Copies the dead-letter queue keeps at most; past it the oldest are dropped (RabbitMQ
    ``x-max-length`` with ``drop-head``). PostgreSQL keeps every failure regardless."""
    dead_letter_max_age: str = "14d"
    """How long a copy stays in the dead-letter queue (``x-message-ttl``): at most 49 days,
    RabbitMQ's limit for a queue TTL."""
    log_level: str = "info"
    """Lowest level the long-running processes (``engine``, ``worker``, ``api``) log."""
    log_format: str = "text"
    """``text`` for people, ``json`` (one object per line) for log collectors."""
    routes: Routes = NO_ROUTES
    """Routing rules (:mod:`engine.routes`): the queue and priority of a job whose submitter
    names none, by type pattern; ``[[routes]]`` tables in the config file, or a JSON list in
    ``QUEUECONSOLE_ROUTES``. Given as a list of mappings, they are validated here."""
    host_name: str = ""
    """What this machine's engine and workers call their host (worker ids, ``status``,
    ``scale --host``); empty means the operating system's host name. Set it where
    several hosts share one kernel's name: containers, network namespaces, clones."""
    queue_type: str = "classic"
    """``classic`` (one priority queue per engine queue) or ``quorum`` (replicated Raft
    queues; RabbitMQ 3.x gives them no priorities, so one queue per priority level).
    Queues keep the type they were declared with: switching needs empty, deleted queues."""
    read_database_url: str = ""
    """A streaming replica of ``database_url`` for the console's and the read API's
    queries; empty reads from the primary. Writes and claims always use the primary."""
    read_max_lag_s: float = DEFAULT_READ_MAX_LAG_S
    """Seconds the replica may trail the primary; past it (or when it is down) reads go to
    the primary until it has caught up."""

    def __post_init__(self) -> None:
        if not isinstance(self.routes, Routes):
            object.__setattr__(self, "routes", parse_routes(self.routes, "routes"))
        for name, allowed in (
            ("log_level", LOG_LEVELS),
            ("log_format", LOG_FORMATS),
            ("queue_type", QUEUE_TYPES),
        ):
            value = getattr(self, name)
            if not isinstance(value, str) or value.lower() not in allowed:
                raise ConfigError(f"{name} {value!r} is not one of {', '.join(allowed)}")
            object.__setattr__(self, name, value.lower())  # frozen: normalised once, here
        if not _NAMESPACE_RE.match(self.namespace):
            raise ConfigError(
                f"namespace {self.namespace!r} is not usable: start with a letter, then up to "
                "39 letters, digits, '_' or '-'"
            )
        if self.host_name:
            check_host_name(self.host_name, "host_name")
        for name, schemes in (
            ("database_url", ("postgresql", "postgres", "postgresql+asyncpg")),
            ("amqp_url", ("amqp", "amqps")),
            ("redis_url", ("redis", "rediss", "unix")),
        ):
            url = getattr(self, name)
            scheme = urlsplit(url).scheme if isinstance(url, str) else ""
            if scheme not in schemes:
                raise ConfigError(
                    f"{name} {mask_url(str(url))!r} must start with "
                    + " or ".join(f"{s}://" for s in schemes)
                )
        if self.read_database_url:
            scheme = urlsplit(self.read_database_url).scheme
            if scheme not in ("postgresql", "postgres", "postgresql+asyncpg"):
                raise ConfigError(
                    f"read_database_url {mask_url(self.read_database_url)!r} must start with "
                    "postgresql:// or postgres:// (or be empty to read from the primary)"
                )
        if not 0 < self.read_max_lag_s <= 86_400:
            raise ConfigError("read_max_lag_s must be more than 0 and at most 86400 seconds")
        for module in self.job_modules:
            if not re.match(r"^[A-Za-z_][\w.]*\Z", module):
                raise ConfigError(f"job_modules entry {module!r} is not a Python module name")
        if self.retention_age:
            try:
                parse_duration(self.retention_age, "retention_age")
            except DurationError as exc:
                raise ConfigError(str(exc)) from None
        if not 1 <= self.retention_batch_size <= 50_000:
            raise ConfigError("retention_batch_size must be between 1 and 50000")
        _check_dead_letter_bounds(self.dead_letter_max_length, self.dead_letter_max_age)

    def __repr__(self) -> str:
        """The dataclass form with every URL's password masked: settings end up in log
        lines, test reports and tracebacks that show local variables."""
        shown = (
            f"{f.name}={(mask_url(v) if f.name.endswith('_url') else v)!r}"
            for f in fields(self)
            for v in (getattr(self, f.name),)
        )
        return f"{type(self).__name__}({', '.join(shown)})"

    def evolve(self, **changes: Any) -> Settings:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def host(self) -> str:
        """This host's name: :attr:`host_name`, else the operating system's."""
        return self.host_name or socket.gethostname()

    @property
    def database_name(self) -> str:
        """The database the engine uses (the path of ``database_url``)."""
        return urlsplit(self.database_url).path.lstrip("/") or "postgres"

    def secrets(self) -> list[str]:
        """Every password in the configured URLs, for :func:`redact`."""
        found: list[str] = []
        for url in (self.database_url, self.read_database_url, self.amqp_url, self.redis_url):
            parts = urlsplit(url)
            if parts.password:
                found.extend({parts.password, unquote(parts.password)})
            found.extend(v for k, v in parse_qsl(parts.query) if k.lower() in _SECRET_QUERY_KEYS)
        return [s for s in found if s]

    def redact(self, text: str) -> str:
        """``text`` with every configured password replaced by ``***``."""
        return redact(text, self.secrets())


def check_host_name(name: str, what: str) -> None:
    """ConfigError unless ``name`` can be a host name: it ends up in worker ids, broker
    connection names and log lines, so no spaces, no control characters, no ``:``."""
    if not _HOST_NAME_RE.match(name):
        raise ConfigError(
            f"{what} {name!r} is not a usable host name: up to 63 letters, digits, '.', "
            "'_' or '-', starting with a letter or digit"
        )


DEAD_LETTER_MAX_LENGTH_LIMIT = 10_000_000  # copies; a bigger dead queue is a second database
DEAD_LETTER_MAX_AGE_LIMIT_S = 49 * 86_400  # RabbitMQ refuses a queue TTL above 2^32-1 ms


def _check_dead_letter_bounds(max_length: int, max_age: str) -> None:
    """ConfigError naming the bound that RabbitMQ could not apply or that makes no sense."""
    if not 1 <= max_length <= DEAD_LETTER_MAX_LENGTH_LIMIT:
        raise ConfigError(
            f"dead_letter_max_length must be between 1 and {DEAD_LETTER_MAX_LENGTH_LIMIT}"
        )
    try:
        age = parse_duration(max_age, "dead_letter_max_age")
    except DurationError as exc:
        raise ConfigError(str(exc)) from None
    if not 1 <= age.total_seconds() <= DEAD_LETTER_MAX_AGE_LIMIT_S:
        raise ConfigError(
            f"dead_letter_max_age {max_age!r} must be between 1s and 49d (RabbitMQ's limit)"
        )


def mask_url(url: str) -> str:
    """The URL with its password (in the userinfo or the query) replaced by ``***``.

    Never raises: an unparsable URL comes back with everything between ``://``
    and ``@`` masked, which is where a password would be.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostinfo}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(k.lower() in _SECRET_QUERY_KEYS for k, _ in pairs):
                query = urlencode(
                    [(k, MASK if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs],
                    safe="*/",
                )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return re.sub(r"://[^@/]*@", f"://{MASK}@", url)


def redact(text: str, secrets: list[str]) -> str:
    """Replace every occurrence of each secret (and its URL-quoted form) with ``***``."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        text = text.replace(secret, MASK)
        quoted = quote(secret, safe="")
        if quoted != secret:
            text = text.replace(quoted, MASK)
    return text


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy URL for the asyncpg driver.

    ``postgresql://`` becomes ``postgresql+asyncpg://``; libpq's ``sslmode``
    becomes asyncpg's ``ssl`` (same values), so TLS settings pass through.
    """
    parts = urlsplit(url)
    pairs = [("ssl", v) if k == "sslmode" else (k, v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(
        ("postgresql+asyncpg", parts.netloc, parts.path, urlencode(pairs), parts.fragment)
    )


class Origin(StrEnum):
    """Where a setting's value came from, lowest precedence first."""

    DEFAULT = "default"
    FILE = "file"
    ENV = "env"
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class Source:
    """One setting's origin: its kind and which file, variable or flag."""

    origin: Origin
    where: str = ""
    """The config file's path, the variable's name or the flag; empty for a default."""

    def __str__(self) -> str:
        return f"{self.origin} {self.where}" if self.where else str(self.origin)


@dataclass(frozen=True)
class ResolvedSettings:
    """The effective settings and where each value came from (``queueconsole config``)."""

    settings: Settings
    sources: Mapping[str, Source]
    """Every field of :class:`Settings` by name."""
    config_file: Path | None
    """The config file that was read, if any."""
    default_config_file: Path | None
    """Where the default config file is looked for (``None`` without a home directory)."""


def default_config_path(environ: Mapping[str, str]) -> Path | None:
    """``$XDG_CONFIG_HOME/queueconsole/config.toml``, else under ``$HOME/.config``.

    Only ``environ`` is consulted, so a caller that passes its own mapping (a test,
    a tool that builds a child's environment) never sees this machine's file.
    """
    xdg = environ.get("XDG_CONFIG_HOME", "")
    if xdg and Path(xdg).is_absolute():  # the spec says to ignore a relative value
        return Path(xdg) / CONFIG_RELATIVE_PATH
    home = environ.get("HOME", "")
    return Path(home) / ".config" / CONFIG_RELATIVE_PATH if home else None


def resolve_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> ResolvedSettings:
    """Defaults < config file < ``QUEUECONSOLE_*`` variables < ``flags``, with sources.

    ``config_path`` (``--config``) or ``$QUEUECONSOLE_CONFIG`` must name a file
    that exists; the default file is read only if it exists. ``flags`` maps field
    names to values given on the command line (shown as ``--field-name``). Every
    field can be set every way: ``job_modules`` as ``QUEUECONSOLE_JOB_MODULES=a,b``
    or a TOML list, numbers as numbers.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources = {f.name: Source(Origin.DEFAULT) for f in fields(Settings)}
    default_file = default_config_path(env)
    path: Path | None = None
    if config_path is not None:
        path = Path(config_path)
    elif env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    elif default_file is not None and default_file.is_file():
        path = default_file
    if path is not None:
        for key, value in _read_toml(path).items():
            values[key] = _coerce(key, value, f"config file {path}")
            sources[key] = Source(Origin.FILE, str(path))
    for f in fields(Settings):
        variable = ENV_PREFIX + f.name.upper()
        raw = env.get(variable)
        if raw:
            values[f.name] = _coerce(f.name, raw, f"environment variable {variable}")
            sources[f.name] = Source(Origin.ENV, variable)
    known = {f.name for f in fields(Settings)}
    for name, value in (flags or {}).items():
        if name not in known:
            raise ValueError(f"{name!r} is not a setting")  # a programming error, not a user's
        flag = "--" + name.replace("_", "-")
        values[name] = _coerce(name, value, f"{flag}")
        sources[name] = Source(Origin.FLAG, flag)
    return ResolvedSettings(Settings(**values), sources, path, default_file)


def load_settings(
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    flags: Mapping[str, Any] | None = None,
) -> Settings:
    """The effective settings (see :func:`resolve_settings` for the order)."""
    return resolve_settings(config_path, environ, flags).settings


SECRET_NAME_PARTS = ("password", "secret", "token")
"""A setting whose name contains one of these is never shown, only whether it is set."""


def shown_value(name: str, value: Any) -> Any:
    """A setting's value as it may be shown: passwords in URLs masked, secrets hidden."""
    if name.endswith("_url") and isinstance(value, str):
        return mask_url(value)
    if isinstance(value, Routes):
        return value.to_json()
    if any(part in name for part in SECRET_NAME_PARTS):
        return MASK if value else value
    return list(value) if isinstance(value, tuple) else value


def _coerce(name: str, value: Any, origin: str) -> Any:
    """Convert a raw setting to the type of the field's default, or say what is wrong."""
    default = next(f.default for f in fields(Settings) if f.name == name)
    if isinstance(default, Routes):  # a TOML list of tables, or JSON text in the variable
        return parse_routes(value, origin)
    if isinstance(default, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"{origin}: {name} must be a list of strings")
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        raise ConfigError(f"{origin}: {name} must be true or false")
    if isinstance(default, int | float):
        try:
            number = type(default)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: {name} must be a number, not {value!r}") from None
        if number < 0:
            raise ConfigError(f"{origin}: {name} must not be negative")
        return number
    if not isinstance(value, str):
        raise ConfigError(f"{origin}: {name} must be a string")
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown key(s) {', '.join(unknown)}; "
            f"known keys are {', '.join(sorted(known))}"
        )
    return data


def to_environ(settings: Settings) -> dict[str, str]:
    """``QUEUECONSOLE_*`` variables that make a child process load exactly ``settings``.

    The supervisor starts workers this way, so a worker sees the same
    installation as its supervisor even when that came from a config file or a
    flag (variables rank above the config file, which the worker may read too).
    """
    env: dict[str, str] = {}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if value is None:
            continue
        if isinstance(value, Routes):
            value = json.dumps(value.to_json(), separators=(",", ":"))
        elif isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[ENV_PREFIX + f.name.upper()] = str(value)
    return env
