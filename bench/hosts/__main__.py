"""``python -m bench.hosts``: see :mod:`bench.hosts.cli`."""

from bench.hosts.cli import main

raise SystemExit(main())
