"""Queue settings an operator changes: pausing, the waiting limit, and the names they apply to.

:mod:`~engine.queues.info` reads a queue's settings and how many jobs wait in it,
:mod:`~engine.queues.pausing` pauses and resumes, :mod:`~engine.queues.limits` sets
a limit and enforces it. The state lives in the ``queues`` table, so every worker
and engine obeys it. The submission path imports :mod:`~engine.queues.limits` (a
limit is checked inside the submit transaction); the
:class:`~engine.client.Client` and the supervisor call the rest.
"""
