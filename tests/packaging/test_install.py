"""The route without root: build the wheel, install it into a fresh venv, run it.

What a user who already runs PostgreSQL, RabbitMQ and Redis does instead of
``./dev`` (which needs root for apt): ``pip install`` into a venv of their own (or
``pipx install .``), then ``queueconsole``. The venv is created without the system's
site-packages, so every dependency must come from the wheel's metadata. When the test
runs as root, the venv is made and used by ``nobody``, so nothing here leans on root.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

import pytest

from engine.db.migrate import drop_database

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "src")
INSTALL_TIMEOUT_S = 600  # resolving and installing ~40 wheels on a shared 2-core machine


def as_ordinary_user() -> list[str]:
    """A command prefix that drops root (nothing when we are not root)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to drop privileges")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


PYTHON_CHECK = "import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))"


def python_for(user: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    """A Python ≥ 3.11 with venv that ``user`` can run, and the prefix to run it with.

    As root, the ordinary user gets the system's Python (ours may live where only
    root can read, as a pyenv under /root does); without one, the rest runs as we are.
    """
    ours = getattr(sys, "_base_executable", sys.executable)
    if not user:
        return [], ours
    # The system's: the user may not reach ours (a pyenv under /root only appears to run).
    candidates = ["/usr/bin/python3.13", "/usr/bin/python3.12", "/usr/bin/python3.11"]
    candidates.append("/usr/bin/python3")
    for python in candidates:
        if not os.path.exists(python):
            continue
        done = subprocess.run([*user, python, "-c", PYTHON_CHECK], env=env, capture_output=True)
        if done.returncode == 0:
            return user, python
    return [], ours


def run(argv: list[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_migrates(migrated):
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    work = Path(tempfile.mkdtemp(prefix="qc-install-"))
    throwaway = migrated.evolve(database_url=migrated.database_url + "_install")
    try:
        work.chmod(0o777)  # `nobody` builds its venv in here
        tree = work / "tree"  # a clean copy: no egg-info, caches or build/ of ours
        tree.mkdir()
        for name in SOURCES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(
                    source, tree / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
                )
            else:
                shutil.copy2(source, tree / name)
        dist = work / "dist"
        run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(tree)],
            dict(os.environ),
            timeout=INSTALL_TIMEOUT_S,
        )
        (wheel,) = dist.glob("queueconsole-*.whl")
        assert wheel.name.startswith(f"queueconsole-{version}-")
        with zipfile.ZipFile(wheel) as z:
            names = z.namelist()
            metadata = z.read(f"queueconsole-{version}.dist-info/METADATA").decode()
        assert f"queueconsole-{version}.dist-info/licenses/LICENSE" in names
        assert "License-Expression: MIT" in metadata
        assert "../shared" not in metadata and "DESIGN.md" not in metadata
        assert any(n.startswith("engine/db/migrations/versions/") for n in names)

        # An ordinary user's environment: own HOME, no pip cache of root's, the
        # machine's pip configuration (indexes) as any user sees it.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("QUEUECONSOLE_", "VIRTUAL_ENV", "PYTHON"))
        }
        home = work / "home"
        home.mkdir()
        home.chmod(0o777)
        env.update(HOME=str(home), PIP_NO_CACHE_DIR="1", XDG_CONFIG_HOME=str(home / ".config"))
        user, python = python_for(as_ordinary_user(), env)
        venv = work / "venv"
        run([*user, python, "-m", "venv", str(venv)], env)
        assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
        if user:
            assert venv.stat().st_uid != 0  # made by the ordinary user, not by root
        run(
            [*user, str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
            env,
            timeout=INSTALL_TIMEOUT_S,
        )
        queueconsole = str(venv / "bin" / "queueconsole")
        assert run([*user, queueconsole, "--version"], env) == f"queueconsole {version}\n"
        env.update(
            QUEUECONSOLE_DATABASE_URL=throwaway.database_url,
            QUEUECONSOLE_AMQP_URL=throwaway.amqp_url,
            QUEUECONSOLE_REDIS_URL=throwaway.redis_url,
            QUEUECONSOLE_NAMESPACE=throwaway.namespace,
        )
        out = run([*user, queueconsole, "migrate"], env)
        assert ": applied 0001" in out, out
        again = run([*user, queueconsole, "migrate"], env)
        assert "already at" in again, again
    finally:
        asyncio.run(drop_database(throwaway))
        shutil.rmtree(work, ignore_errors=True)
