"""The "service down" banner: shown while any service does not answer."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from engine.snapshots import ServiceHealth
from queueconsole.console.text import clock_time, literal


class DownBanner(Widget):
    """One line per down service, naming it, its masked URL and why; hidden otherwise.

    The console keeps refreshing while a service is down, so the banner goes
    away by itself on the first refresh after the service answers again.
    """

    DEFAULT_CSS = """
    DownBanner {
        height: auto;
        max-height: 6;
        background: $error;
        color: $text;
        display: none;
    }
    DownBanner.-down {
        display: block;
    }
    """

    down: reactive[tuple[ServiceHealth, ...]] = reactive(())
    """Services that did not answer the last probe."""
    urls: dict[str, str]
    """Masked URL per service name, to say where the console is looking."""

    def __init__(self, urls: dict[str, str] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.urls = dict(urls or {})

    def watch_down(self, down: tuple[ServiceHealth, ...]) -> None:
        self.set_class(bool(down), "-down")

    def render(self) -> Text:
        text = Text()
        for i, service in enumerate(self.down):
            if i:
                text.append("\n")
            text.append(f" DOWN {service.title}", style="bold")
            url = self.urls.get(service.name)
            if url:
                text.append(f" at {url}")
            if service.error:
                text.append(": ")
                text.append_text(literal(service.error, one_line=True))
            if service.since is not None:
                text.append(f" (since {clock_time(service.since)}; retrying)")
        return text
