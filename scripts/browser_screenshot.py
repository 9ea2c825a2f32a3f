"""Render the console as a browser shows it (``queueconsole serve``) to ``screenshots/browser.png``.

Runs the real thing, on a database and namespace of its own (``<name>_browsershot``,
``qcbrowser``): a headless ``queueconsole engine`` with two workers, the demo
workload, the browser console server with a read token, and a headless Chromium
(``./dev setup`` installs it) that opens the console, lets the work run, presses
``2`` and takes the picture of the Jobs pane.

    .venv/bin/python scripts/browser_screenshot.py [--seconds 15] [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.chromium: the same browser driver the tests use

from engine.config import Settings, load_settings, to_environ  # noqa: E402
from engine.db.migrate import drop_database, migrate  # noqa: E402
from engine.runtime.wiring import open_client  # noqa: E402
from engine.worker.registry import with_demo_jobs  # noqa: E402
from queueconsole.api.tokens import TokenCache  # noqa: E402
from queueconsole.browser.access import Gate  # noqa: E402
from queueconsole.browser.server import ConsoleServer  # noqa: E402
from queueconsole.demo.workload import submit_initial  # noqa: E402
from tests.support.chromium import browser  # noqa: E402

NAMESPACE = "qcbrowser"
WINDOW = (1280, 720)  # pixels of the browser window
FONT_SIZE = 14  # pixels: textual-serve's ?fontsize=, so the pane fits 1280 wide


def shot_settings(base: Settings) -> Settings:
    """A database and namespace of their own, and workers that run ``demo.*`` jobs."""
    url = base.database_url.rsplit("/", 1)[0] + f"/{base.database_name}_browsershot"
    return with_demo_jobs(base.evolve(database_url=url, namespace=NAMESPACE))


def start_engine(settings: Settings) -> subprocess.Popen[bytes]:
    """``queueconsole engine`` with two workers on the shot's settings (in its environment)."""
    return subprocess.Popen(
        [sys.executable, "-m", "queueconsole", "engine", "--workers", "2"],
        env={**os.environ, **to_environ(settings), "QUEUECONSOLE_LOG_LEVEL": "warning"},
        stdin=subprocess.DEVNULL,
    )


async def run(seconds: float, out: Path) -> None:
    settings = shot_settings(load_settings())
    await drop_database(settings)
    await migrate(settings)
    engine = start_engine(settings)
    try:
        async with open_client(settings) as client:
            await submit_initial(client)
            secret = (await client.create_token("browser-screenshot", "read")).secret
            server = ConsoleServer(
                settings,
                config_file=None,
                gate=Gate(TokenCache(client.use_token), read_only=False),
                host="127.0.0.1",
                port=0,
            )
            await server.start()
            try:
                async with browser(*WINDOW) as page:
                    await page.open(f"{server.url}/?token={secret}&fontsize={FONT_SIZE}")
                    await page.wait_for_screen("Overview")
                    await asyncio.sleep(seconds)  # the work runs; the charts fill
                    await page.press("2")
                    await page.wait_for_screen("demo.")
                    await asyncio.sleep(1.0)  # one more refresh, so the rows have settled
                    path = out / "browser.png"
                    await page.screenshot(path)
                    print(f"wrote {path}")
            finally:
                await server.stop()
    finally:
        engine.send_signal(signal.SIGTERM)
        await asyncio.to_thread(engine.wait, 120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="let the work run this long")
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(args.seconds, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
