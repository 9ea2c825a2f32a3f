"""Every console action in the command palette (``ctrl+p``).

Entries are built from what is on screen when the palette opens — the
selected job, the queues and workers of the last refresh — and each one runs
the same flow as its key, through the same :class:`~queueconsole.console.actions.ActionService`,
so read-only mode refuses palette entries exactly as it refuses keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.markup import escape

if TYPE_CHECKING:
    from queueconsole.console.app import ConsoleApp


@dataclass(frozen=True, slots=True)
class PaletteEntry:
    """One palette command."""

    name: str
    help: str
    run: Callable[[], object]
    mutates: bool = False


class ConsoleCommands(Provider):
    """Pane switches, job actions, queue and worker actions, help, quit."""

    def _entries(self) -> list[PaletteEntry]:
        app = cast("ConsoleApp", self.app)
        entries = app.palette_entries()
        if app.actions.read_only:
            entries = [
                PaletteEntry(e.name, "read-only: refused. " + e.help, e.run, e.mutates)
                if e.mutates
                else e
                for e in entries
            ]
        return entries

    async def discover(self) -> Hits:
        for entry in self._entries():
            yield DiscoveryHit(
                Text(entry.name),
                partial(_call, entry.run),
                text=entry.name,
                help=escape(entry.help),
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.name)
            if score > 0:
                yield Hit(
                    score,
                    _highlight(matcher.fuzzy_search.match(query, entry.name)[1], entry.name),
                    partial(_call, entry.run),
                    text=entry.name,
                    help=escape(entry.help),
                )


def _highlight(offsets: Sequence[int], name: str) -> Text:
    """The name as literal text with the matched letters underlined.

    (Textual's own ``Matcher.highlight`` parses the candidate as markup, and
    queue and worker names come from users.)
    """
    text = Text(name)
    for offset in offsets:
        text.stylize("bold underline", offset, offset + 1)
    return text


def _call(fn: Callable[[], object]) -> None:
    fn()
