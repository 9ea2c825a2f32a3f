"""``python -m queueconsole`` is the ``queueconsole`` command."""

from queueconsole.cli.main import main

raise SystemExit(main())
