"""A real headless Chromium driven over the Chrome DevTools Protocol.

Debian's ``chromium`` (``./dev`` installs it), started with a fresh profile and
``--remote-debugging-port=0``; the port it picked is read from the
``DevToolsActivePort`` file it writes. Commands go over the page's CDP
WebSocket (the ``websockets`` package).

The console in the page is xterm.js drawing on a canvas, so its text is not
in the DOM. A script added before the page's own catches the xterm.js
``Terminal`` as textual-serve's page stores it (``this.terminal = new
Terminal(...)``) and keeps it as ``window.__qcTerminal``; :meth:`Page.screen`
reads the visible rows from its buffer.

Used by ``tests/browser`` and ``scripts/browser_screenshot.py``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

START_TIMEOUT_S = 60.0  # seconds Chromium may take to start on a busy two-core machine
WAIT_TIMEOUT_S = 60.0  # seconds a page gets to show what a test waits for
POLL_S = 0.2  # seconds between looks at the page while waiting

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
    if (value && typeof value.loadAddon === "function" && !window.__qcTerminal) {
      window.__qcTerminal = value;
    }
  },
});
"""

SCREEN = """
(() => {
  const t = window.__qcTerminal;
  if (!t) return null;
  const buffer = t.buffer.active;
  const rows = [];
  for (let y = 0; y < t.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()
"""


def chromium_binary() -> str | None:
    """The installed Chromium, if any."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(Exception):
    """Chromium answered a command with an error."""


class Page:
    """One tab: navigate, read, type, take a picture."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read(), name="cdp:reader")

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            future = self._waiting.pop(message.get("id", -1), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one CDP command and return its result."""
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[command_id] = future
        await self._ws.send(json.dumps({"id": command_id, "method": method, "params": params}))
        async with asyncio.timeout(WAIT_TIMEOUT_S):
            message = await future
        if "error" in message:
            raise CdpError(f"{method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def open(self, url: str) -> None:
        """Load ``url`` (xterm.js's terminal caught on the way) and wait for the document."""
        await self.send("Page.enable")
        await self.send("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
        await self.send("Page.navigate", url=url)
        await self.wait_for(lambda: self.evaluate("document.readyState"), "complete")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise CdpError(f"{expression[:60]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def url(self) -> str:
        """The address the page is at now (after redirects)."""
        return str(await self.evaluate("window.location.href"))

    async def text(self) -> str:
        """The page's visible text (for pages that are HTML, not the console)."""
        return str(await self.evaluate("document.body ? document.body.innerText : ''"))

    async def screen(self) -> str:
        """The console's visible rows, or "" before its terminal exists."""
        return str(await self.evaluate(SCREEN) or "")

    async def wait_for(self, read: Any, wanted: str) -> str:
        """Poll ``read()`` until its text contains ``wanted``; the last text on timeout."""
        last = ""
        try:
            async with asyncio.timeout(WAIT_TIMEOUT_S):
                while True:
                    last = str(await read() or "")
                    if wanted in last:
                        return last
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(f"{wanted!r} never appeared; last seen:\n{last}") from None

    async def wait_for_screen(self, wanted: str) -> str:
        """The console's screen once it shows ``wanted``."""
        return await self.wait_for(self.screen, wanted)

    async def press(self, key: str) -> None:
        """Type one printable key into the console, as a keyboard would."""
        await self.evaluate("window.__qcTerminal && window.__qcTerminal.focus()")
        await self.send("Input.dispatchKeyEvent", type="keyDown", key=key, text=key)
        await self.send("Input.dispatchKeyEvent", type="keyUp", key=key)

    async def screenshot(self, path: Path) -> None:
        """Save what the tab shows as a PNG."""
        shot = await self.send("Page.captureScreenshot", format="png")
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


def _devtools_port(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> int:
    """The port Chromium listens on, from the file it writes once it does."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited {proc.returncode}: {log.read_text()[-2000:]}")
        if marker.exists() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(POLL_S)
    raise RuntimeError(f"chromium did not open its DevTools port: {log.read_text()[-2000:]}")


def _page_socket(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
        targets = json.loads(response.read())
    return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])


def _launch(
    binary: str, profile: Path, log: Path, width: int, height: int
) -> subprocess.Popen[bytes]:
    """Start Chromium on a fresh profile, its output to ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(profile.parent)},
        )


@asynccontextmanager
async def browser(width: int = 1280, height: int = 800) -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile, nothing shared) and its one tab."""
    binary = chromium_binary()
    if binary is None:
        raise RuntimeError("chromium is not installed (./dev setup installs it)")
    with tempfile.TemporaryDirectory(prefix="qc-chromium-") as tmp:
        profile = Path(tmp) / "profile"
        log = Path(tmp) / "chromium.log"
        proc = _launch(binary, profile, log, width, height)
        try:
            port = await asyncio.to_thread(_devtools_port, profile, proc, log)
            url = await asyncio.to_thread(_page_socket, port)
            async with connect(url, max_size=64 * 1024 * 1024) as ws:
                page = Page(ws)
                try:
                    yield page
                finally:
                    await page.close()
        finally:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 30)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
