"""Worker processes: consume messages, claim jobs, run registered handlers, record outcomes."""

from engine.worker.registry import JobContext, Registry, job, registry

__all__ = ["JobContext", "Registry", "job", "registry"]
