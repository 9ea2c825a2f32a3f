"""Private PostgreSQL, Redis and RabbitMQ servers, started from the installed binaries.

Each runs as a child process on its own free port(s) on 127.0.0.1 with its
own data under a state directory, so tests that stop, flush or kill a server,
the chaos harness, and a first ``demo`` run on a machine without services all
work without touching — or even being able to reach — the machine's shared
servers. Nothing here imports a client library of the servers: readiness and
reachability are checked in each server's own wire protocol.

- :class:`PrivatePostgres`, :class:`PrivateRedis`, :class:`PrivateRabbitMQ`:
  one server each; ``start`` / ``stop`` / ``restart`` / ``kill`` / ``url``.
- :class:`LocalStack`: any of the three, started in parallel, stopped on
  close, ``with`` exit, interpreter exit, SIGTERM and SIGHUP.
- :func:`ensure_services`: the demo's "use what answers, start what does not".
"""

from localservices.binaries import Binaries, locate_binaries
from localservices.ensure import default_state_dir, ensure_services
from localservices.postgres import PrivatePostgres
from localservices.probe import Probe, probe_all, probe_amqp, probe_postgres, probe_redis
from localservices.rabbitmq import PrivateRabbitMQ
from localservices.redis import PrivateRedis
from localservices.server import (
    LocalServiceError,
    PrivateServer,
    clean_crashed,
    free_port,
    port_is_free,
)
from localservices.stack import LocalStack, close_all

__all__ = [
    "Binaries",
    "LocalServiceError",
    "LocalStack",
    "PrivatePostgres",
    "PrivateRabbitMQ",
    "PrivateRedis",
    "PrivateServer",
    "Probe",
    "clean_crashed",
    "close_all",
    "default_state_dir",
    "ensure_services",
    "free_port",
    "locate_binaries",
    "port_is_free",
    "probe_all",
    "probe_amqp",
    "probe_postgres",
    "probe_redis",
]
