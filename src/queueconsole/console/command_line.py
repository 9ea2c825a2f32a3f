"""The ``:`` command line's language (k9s's convention): ``:123``, ``:job 123``,
``:workflow 7``, ``:queue mail``, ``:tenant acme``, ``:state failed``, ``:jobs``, ``:quit``.

Pure functions, so parsing, completion and history are tested without a terminal;
:class:`~queueconsole.console.widgets.command_line.CommandLine` puts them on screen
and the app carries the command out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from engine.errors import UserError
from engine.states import State
from queueconsole.console.widgets.pane_bar import PANES

Kind = Literal["job", "workflow", "queue", "tenant", "state", "type", "pane", "quit"]

VERBS: dict[str, str] = {
    "job": "open a job: job 123 (or just 123)",
    "workflow": "its graph on the DAG pane: workflow 7",
    "queue": "the Jobs pane filtered by queue: queue mail",
    "tenant": "the Jobs pane filtered by tenant: tenant acme",
    "state": "the Jobs pane filtered by state: state failed",
    "type": "the Jobs pane filtered by type: type mail.send",
    "quit": "quit (drains the embedded engine)",
}
"""Every verb and what it does; pane names (``jobs``, ``dag`` …) are verbs too."""

PANE_IDS = tuple(pane_id for _, pane_id, _ in PANES)
HISTORY_SIZE = 100  # commands remembered for up/down


class CommandError(UserError):
    """A command line that means nothing; the message says what would."""


@dataclass(frozen=True, slots=True)
class Command:
    """What the operator asked for: a verb and its argument (job id, queue, pane …)."""

    kind: Kind
    arg: str = ""

    @property
    def number(self) -> int:
        """The argument as an id (``job`` and ``workflow``; checked by :func:`parse`)."""
        return int(self.arg)


def parse(text: str) -> Command:
    """The command typed after ``:``; CommandError naming what was wrong."""
    words = text.strip().removeprefix(":").split()
    if not words:
        raise CommandError("type a command: " + usage())
    verb, args = words[0].lower(), words[1:]
    if _is_id(verb) and not args:
        return Command("job", verb)
    if verb in ("q", "quit"):
        return Command("quit")
    if verb in PANE_IDS:
        if args:
            raise CommandError(f"{verb} takes nothing after it")
        return Command("pane", verb)
    if verb not in VERBS:
        raise CommandError(f"unknown command {verb!r}: " + usage())
    if len(args) != 1:
        raise CommandError(f"{verb} takes one argument: {VERBS[verb]}")
    arg = args[0]
    if verb in ("job", "workflow") and not _is_id(arg):
        raise CommandError(f"{verb} {arg!r}: give a number, e.g. {verb} 42")
    if verb == "state":
        try:
            arg = State(arg.lower()).value
        except ValueError:
            names = ", ".join(s.value for s in State)
            raise CommandError(f"unknown state {arg!r}; use one of {names}") from None
    return Command(verb, arg)  # type: ignore[arg-type]  # verb is one of VERBS' keys


def usage() -> str:
    """One line naming what the command line understands."""
    verbs = "N, job N, workflow N, queue NAME, tenant T, state S, type T"
    return f"{verbs}, {', '.join(PANE_IDS)}, quit"


def complete(text: str, queues: Iterable[str] = ()) -> str:
    """``text`` completed as far as it is unambiguous (tab): a verb, a pane, a queue
    name after ``queue``, a state after ``state``; unchanged when nothing or several fit."""
    head, sep, tail = text.lstrip().partition(" ")
    if not sep:
        return _longest(text, [*VERBS, *PANE_IDS], suffix=" ")
    verb = head.lower()
    candidates: Sequence[str] = ()
    if verb == "queue":
        candidates = sorted(set(queues))
    elif verb == "state":
        candidates = [s.value for s in State]
    done = _longest(tail.strip(), candidates)
    return f"{head} {done}" if done else text


def _longest(prefix: str, candidates: Iterable[str], *, suffix: str = "") -> str:
    fits = sorted({c for c in candidates if c.startswith(prefix)})
    if not fits:
        return prefix
    if len(fits) == 1:
        return fits[0] + suffix
    common = fits[0]
    for other in fits[1:]:
        while not other.startswith(common):
            common = common[:-1]
    return common if len(common) > len(prefix) else prefix


class History:
    """The commands run, oldest first, walked with up/down like a shell's."""

    def __init__(self, size: int = HISTORY_SIZE) -> None:
        self._items: list[str] = []
        self._size = size
        self._at = 0

    def add(self, command: str) -> None:
        """Remember a command run (not twice in a row); walking starts again after it."""
        command = command.strip()
        if command and (not self._items or self._items[-1] != command):
            self._items.append(command)
            del self._items[: -self._size]
        self._at = len(self._items)

    def older(self) -> str | None:
        """The previous command (up), or None at the oldest."""
        if self._at == 0:
            return None
        self._at -= 1
        return self._items[self._at]

    def newer(self) -> str:
        """The next command (down); past the newest, an empty line."""
        if self._at < len(self._items):
            self._at += 1
        return self._items[self._at] if self._at < len(self._items) else ""

    def reset(self) -> None:
        """Walking starts from the newest again (the line was opened afresh)."""
        self._at = len(self._items)


def _is_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63
