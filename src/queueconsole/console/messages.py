"""Messages widgets post to the app, so panes never reach into each other."""

from __future__ import annotations

from textual.message import Message


class OpenJob(Message):
    """Open the job detail screen for ``job_id``."""

    def __init__(self, job_id: int) -> None:
        super().__init__()
        self.job_id = job_id


class ReloadRequested(Message):
    """A pane's query changed (filter, page, group): read it now, not at the next tick."""
