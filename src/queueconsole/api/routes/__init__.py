"""The API's routes, one module per group: submissions, job reads, operations, the
installation's status, and the unauthenticated ``/metrics`` and ``/healthz``."""
