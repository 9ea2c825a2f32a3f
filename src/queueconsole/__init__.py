"""queueconsole: the terminal console and command line for the queue engine.

Talks to the engine only through its public API and read API (``engine``);
never reads the engine's tables itself.
"""

__version__ = "0.1.0"
