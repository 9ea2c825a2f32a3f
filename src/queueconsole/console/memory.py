"""Memory, said with what each figure measures.

Two figures are easily mistaken for each other: what the supervisor's budget counts as
*reserved* (each worker's memory limit, summed, whatever the workers use) and what the
workers' processes hold *resident* (RSS, measured). Both panes that show memory say
which is which, write "no budget" when none was set, and "unknown" when no supervisor
reported one (an attached console whose engines did not answer).
"""

from __future__ import annotations

from rich.text import Text

from queueconsole.console.model import WorkersView


def memory_text(view: WorkersView) -> Text:
    """``reserved 288M of 2,048M budget · resident 150M``: the budget's count and the
    measured use, each named (the Overview and the Workers pane share it)."""
    text = Text()
    if not view.budget_known:
        text.append("budget unknown (no engine reported it)", style="italic")
    elif view.budget_mb is None:
        text.append(f"reserved {mb(view.reserved_mb)} · ")
        text.append("no budget", style="yellow")
    else:
        text.append(f"reserved {mb(view.reserved_mb)} of {view.budget_mb:,}M budget")
    text.append(f" · resident {mb(view.resident_mb)}")
    return text


def mb(value: float | None) -> str:
    """``288M``; ``-`` when not known."""
    return "-" if value is None else f"{value:,.0f}M"
