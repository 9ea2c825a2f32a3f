"""Many hosts on one machine: engines in network namespaces (see :mod:`bench.hosts.cli`)."""
