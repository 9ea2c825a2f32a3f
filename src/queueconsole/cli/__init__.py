"""The ``queueconsole`` command line: a contract other tools rely on.

Commands, flags and ``--json`` fields may be added, never renamed.
"""
