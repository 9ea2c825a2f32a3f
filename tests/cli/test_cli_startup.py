"""What a shell's ``queueconsole submit`` loads: only what submitting needs.

Start-up is most of the command's wall time, so the parser (built whole for every
command) and the submit path must not pull in the console, migrations, metrics,
the worker or SQLAlchemy (a plain submit runs on the client's asyncpg pool). A
module that sneaks back in shows up here by name, without a timed assertion.
"""

import json
import subprocess
import sys

NOT_FOR_SUBMIT = ("textual", "alembic", "prometheus_client", "psutil", "sqlalchemy")
"""Modules (and their submodules) the submit command must not import."""


def test_submit_loads_neither_the_console_nor_sqlalchemy(cli_env: dict[str, str]) -> None:
    code = (
        "import json, sys\n"
        "from queueconsole.cli.main import main\n"
        "rc = main(['submit', 'demo.noop', '--json'])\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({NOT_FOR_SUBMIT!r}))\n"
        "print(json.dumps({'rc': rc, 'bad': bad}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env, check=True
    )
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last == {"rc": 0, "bad": []}, out.stderr
