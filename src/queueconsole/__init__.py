"""queueconsole: the terminal console and command line for the queue engine.

Talks to the engine only through its public API and read API (``engine``);
never reads the engine's tables itself.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``queueconsole.__version__``, read from the package metadata when first asked for
    (``pyproject.toml`` is the one place the version is written)."""
    if name == "__version__":
        from queueconsole.version import installed_version

        return installed_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
