"""``queueconsole --version``: the package metadata's version, written once in pyproject.toml."""

import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import queueconsole

ROOT = Path(__file__).resolve().parents[2]


def test_version_comes_from_the_package_metadata():
    done = subprocess.run(
        [sys.executable, "-m", "queueconsole", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"queueconsole {version('queueconsole')}\n"
    assert queueconsole.__version__ == version("queueconsole")


def test_the_version_is_written_only_in_pyproject():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    literal = re.compile(rf"""["']{re.escape(declared)}["']""")
    written = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src").rglob("*.py")
        if literal.search(path.read_text(encoding="utf-8"))
    ]
    assert written == []
