"""A plotext line chart: live samples (:class:`~queueconsole.console.model.Series`) or a
window of history (:class:`~queueconsole.console.model.ChartView`, one or two lines)."""

from __future__ import annotations

import time

from textual.app import RenderResult
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from queueconsole.console.model import ChartView, Series

WINDOW = 120  # samples drawn: the last two minutes at one refresh a second
REDRAW_EVERY_S = 5.0  # seconds between two redraws of a chart whose samples changed


class SeriesChart(PlotextPlot):
    """Redraws only when the samples it would draw change, and at most every few seconds.

    Plotext builds the whole plot in Python on every render (tens of
    milliseconds for a 40x25 chart): redrawing three of them every second was
    most of the console's idle cost. A flat, unchanged series is never redrawn;
    a moving one at most every :data:`REDRAW_EVERY_S`, which a two-minute
    window hardly shows.
    """

    DEFAULT_CSS = """
    SeriesChart {
        height: 1fr;
        min-height: 5;
    }
    """

    series: reactive[Series | None] = reactive(None, always_update=False)
    """The samples to draw (only the last :data:`WINDOW` are drawn)."""

    view: reactive[ChartView | None] = reactive(None, always_update=False)
    """A window of history to draw instead; a new one (new data every few seconds at
    most, or a range or queue the operator picked) is drawn at once."""

    def __init__(
        self, title: str, *, id: str | None = None, redraw_every_s: float = REDRAW_EVERY_S
    ) -> None:
        super().__init__(id=id)
        self._title = title
        self._drawn: object = None
        self._drawn_at = float("-inf")
        self._redraw_every_s = redraw_every_s
        self._rendered: tuple[tuple[object, ...], RenderResult] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self._draw(())

    def watch_series(self, series: Series | None) -> None:
        values = series.values[-WINDOW:] if series is not None else ()
        if values == self._drawn:
            return
        now = time.monotonic()
        if self._drawn and now - self._drawn_at < self._redraw_every_s:
            return  # drawn recently; a later refresh brings these samples in
        self._drawn_at = now
        self._draw(values)

    def watch_view(self, view: ChartView | None) -> None:
        if view is None or view == self._drawn:
            return
        self._drawn_at = time.monotonic()
        self._drawn = view
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(view.title)
        points = max((len(line.values) for line in view.lines), default=0)
        plt.xlim(0, max(points - 1, 1))
        plt.xticks([0, max(points - 1, 1)], [f"-{view.span}", "now"])
        top = 0.0
        for line in view.lines:
            if line.values:
                plt.plot(list(range(len(line.values))), list(line.values), marker="braille")
                top = max(top, max(line.values))
        plt.ylim(0, top * 1.1 if top > 0 else 1)
        self.refresh()

    def render(self) -> RenderResult:
        """The plot, built by plotext only when its samples, size or theme changed.

        Textual renders a widget again whenever the layout around it changes
        (a status line updated, a table grew); plotext would rebuild and the
        result be parsed from ANSI each time. The key below is everything the
        drawing depends on.
        """
        key = (self._drawn, self.size, self.app.theme, self.theme)
        if self._rendered is not None and self._rendered[0] == key:
            return self._rendered[1]
        result = super().render()
        self._rendered = (key, result)
        return result

    def _draw(self, values: tuple[float, ...]) -> None:
        self._drawn = values
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(self._title)
        plt.xlim(-WINDOW, 0)
        plt.xticks([-WINDOW, -WINDOW // 2, 0], [f"-{WINDOW}s", f"-{WINDOW // 2}s", "now"])
        if values:
            xs = list(range(-len(values) + 1, 1))
            plt.plot(xs, list(values), marker="braille")
            top = max(values)
            plt.ylim(0, top * 1.1 if top > 0 else 1)
        else:
            plt.ylim(0, 1)
        self.refresh()
