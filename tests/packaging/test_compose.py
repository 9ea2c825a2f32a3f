"""``docker/compose.yaml`` and the image, checked without Docker: every URL a
container is given must log in to the server the file defines, and nothing is
published beyond this machine."""

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")
PORT = re.compile(r"(?P<ip>[\d.]+):(?P<host>\$\{[^}]+\}|\d+):(?P<container>\d+)")
SERVER_PORTS = {"postgres": 5432, "rabbitmq": 5672, "redis": 6379}


def interpolate(value):
    """What Compose makes of ``value`` with none of its variables set: the defaults."""
    if isinstance(value, str):
        return VARIABLE.sub(lambda m: m["default"] or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose):
    return interpolate(compose["services"])


def queueconsole_services(services):
    return {
        name: s
        for name, s in services.items()
        if "QUEUECONSOLE_DATABASE_URL" in (s.get("environment") or {})
    }


def test_engine_and_console_get_every_url(services):
    clients = queueconsole_services(services)
    assert set(clients) == {"engine", "console"}
    for name, service in clients.items():
        env = service["environment"]
        for key in ("QUEUECONSOLE_DATABASE_URL", "QUEUECONSOLE_AMQP_URL", "QUEUECONSOLE_REDIS_URL"):
            assert env.get(key), f"{name} lacks {key}"


def test_postgres_url_matches_the_server_credentials(services):
    server = services["postgres"]["environment"]
    for name, service in queueconsole_services(services).items():
        url = urlsplit(service["environment"]["QUEUECONSOLE_DATABASE_URL"])
        assert url.hostname == "postgres" and url.port == SERVER_PORTS["postgres"], name
        assert unquote(url.username) == server.get("POSTGRES_USER", "postgres"), name
        assert unquote(url.password or "") == server["POSTGRES_PASSWORD"], name
        assert url.path.lstrip("/") == server.get("POSTGRES_DB", url.username), name


def test_amqp_url_matches_the_broker_credentials(services):
    server = services["rabbitmq"].get("environment") or {}
    user = server.get("RABBITMQ_DEFAULT_USER", "guest")
    password = server.get("RABBITMQ_DEFAULT_PASS", "guest")
    # RabbitMQ refuses the guest user on any connection that is not loopback, and
    # every client here connects from another container.
    assert user != "guest"
    for name, service in queueconsole_services(services).items():
        url = urlsplit(service["environment"]["QUEUECONSOLE_AMQP_URL"])
        assert url.hostname == "rabbitmq" and url.port == SERVER_PORTS["rabbitmq"], name
        assert (unquote(url.username), unquote(url.password)) == (user, password), name


def test_redis_url_points_at_the_redis_service(services):
    command = services["redis"]["command"]
    assert "--requirepass" not in command
    assert command[command.index("--maxmemory-policy") + 1] == "allkeys-lru"
    for name, service in queueconsole_services(services).items():
        url = urlsplit(service["environment"]["QUEUECONSOLE_REDIS_URL"])
        assert url.hostname == "redis" and url.port == SERVER_PORTS["redis"], name
        assert not url.password, name


def test_ports_are_published_on_loopback_only_and_overridable(compose):
    raw = compose["services"]
    published = [(name, p) for name, s in raw.items() for p in s.get("ports", [])]
    assert published
    for name, port in published:
        parts = PORT.fullmatch(port)
        assert parts, f"{name}: {port} is not IP:HOST_PORT:CONTAINER_PORT"
        assert parts["ip"] == "127.0.0.1", f"{name} publishes {port} beyond this machine"
        assert VARIABLE.fullmatch(parts["host"]), f"{name}: host port of {port} is fixed"


def test_console_runs_attached_with_a_terminal(services):
    console = services["console"]
    assert console["command"][-2:] == ["console", "--attach"]
    assert console["tty"] is True and console["stdin_open"] is True
    assert console["profiles"] == ["console"]  # `run` only, never `up`
    assert console["image"] == services["engine"]["image"]


def test_job_modules_are_mounted_on_the_python_path(services):
    for name, service in queueconsole_services(services).items():
        mounts = [v.split(":") for v in service["volumes"]]
        assert ["./jobs", "/jobs", "ro"] in mounts, name
        assert service["environment"]["PYTHONPATH"] == "/jobs"
    assert (COMPOSE.parent / "jobs").is_dir()  # the default mount exists in the repository


def test_image_has_a_healthcheck_and_a_small_context():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    healthcheck = [line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK")]
    assert len(healthcheck) == 1
    assert "/healthz" in dockerfile.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert "COPY pyproject.toml README.md LICENSE ./" in dockerfile  # license-files needs it
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".git", "**/__pycache__", "*.egg-info"):
        assert path in ignored
