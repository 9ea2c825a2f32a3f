"""How the command line reports failures: one line on stderr, a meaningful exit code."""

from __future__ import annotations

import sys

from queueconsole.cli.output import printable

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran but did not succeed (e.g. a job failed)
EXIT_USAGE = 2  # the user asked for something that cannot be done
EXIT_UNAVAILABLE = 3  # a service (PostgreSQL, RabbitMQ, Redis) could not be reached
EXIT_NO_ANSWER = 4  # `scale`: the broker took the request but no engine answered in time


def report(message: str, *, prog: str = "queueconsole") -> None:
    """Print ``prog: error: message`` as one line on stderr."""
    flat = " ".join(printable(message).split())
    print(f"{prog}: error: {flat}", file=sys.stderr)
