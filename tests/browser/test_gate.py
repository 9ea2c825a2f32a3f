"""The token gate in front of the browser console, spoken to as a browser would but
without one: the cookie trade, refusals, the console's process and its revocation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import psutil
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from engine.client import Client
from engine.config import Settings
from queueconsole.browser.server import ConsoleServer
from queueconsole.browser.sessions import COOKIE
from tests.browser.conftest import serving

WAIT_S = 60.0  # seconds a console gets to start on a busy two-core machine


@asynccontextmanager
async def console_socket(
    server: ConsoleServer, headers: dict[str, str], origin: str | None = None
) -> AsyncIterator[ClientConnection]:
    """A console's WebSocket, open once the console has drawn its first frame."""
    url = server.url.replace("http:", "ws:") + "/ws?width=100&height=30"
    async with connect(url, additional_headers=headers, origin=origin) as ws:  # type: ignore[arg-type]
        async with asyncio.timeout(WAIT_S):
            while not isinstance(await ws.recv(), bytes):
                pass
        yield ws


def consoles() -> list[psutil.Process]:
    """The console processes this test process started (through textual-serve's shell)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if "console" in child.cmdline() and child.name().startswith("python"):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


async def test_a_token_in_the_address_becomes_a_cookie_and_leaves_the_address(
    server: ConsoleServer, tokens: dict[str, str]
):
    async with httpx.AsyncClient(base_url=server.url) as http:
        first = await http.get("/", params={"token": tokens["read"], "fontsize": "14"})
        assert first.status_code == 303
        assert first.headers["location"] == "/?fontsize=14"
        cookie = first.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert tokens["read"] not in cookie  # the cookie is a session id, not the secret

        page = await http.get("/", params={"fontsize": "14"})  # the client kept the cookie
        assert page.status_code == 200
        assert 'id="terminal"' in page.text
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert tokens["read"] not in page.text


async def test_without_a_valid_token_every_path_is_refused(
    server: ConsoleServer, tokens: dict[str, str]
):
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path in ("/", "/ws", "/static/js/textual.js"):
            response = await http.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer")
        wrong = await http.get("/", headers={"Cookie": f"{COOKIE}=made-up"})
        assert wrong.status_code == 401
        bad = await http.get("/", headers={"Authorization": "Bearer qc_wrong"})
        assert bad.status_code == 401 and "unknown or revoked" in bad.text
        good = await http.get("/", headers={"Authorization": f"Bearer {tokens['read']}"})
        assert good.status_code == 200


async def test_the_secret_never_reaches_the_log(
    server: ConsoleServer, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=server.url) as http:
        await http.get("/", params={"token": tokens["operate"]})
        await http.get("/", params={"token": "qc_wrong-guess"})
    logged = "\n".join(  # the server's lines (httpx, the test's client, logs its own URLs)
        r.getMessage() for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))
    )
    assert "token=***" in logged
    assert tokens["operate"] not in logged
    assert "qc_wrong-guess" not in logged


async def test_a_console_from_another_site_is_refused(
    server: ConsoleServer, tokens: dict[str, str]
):
    headers = {"Authorization": f"Bearer {tokens['operate']}"}
    with pytest.raises(InvalidStatus) as refused:
        async with console_socket(server, headers, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert consoles() == []


@pytest.mark.slow
@pytest.mark.parametrize(("scope", "read_only"), [("read", True), ("operate", False)])
async def test_the_console_process_gets_the_settings_and_the_scope_but_not_the_secret(
    server: ConsoleServer,
    tokens: dict[str, str],
    migrated: Settings,
    scope: str,
    read_only: bool,
):
    secret = tokens[scope]
    async with console_socket(server, {"Authorization": f"Bearer {secret}"}):
        assert server.open_consoles == 1
        [child] = consoles()
        command = child.cmdline()
        assert ("--read-only" in command) is read_only
        assert "--attach" in command
        assert not any(secret in word or "postgresql" in word for word in command)
        environment = child.environ()
        assert environment["QUEUECONSOLE_DATABASE_URL"] == migrated.database_url
        assert environment["QUEUECONSOLE_NAMESPACE"] == migrated.namespace
        assert not any(secret in value for value in environment.values())
    # closing the tab ends its console
    _, alive = await asyncio.to_thread(psutil.wait_procs, [child], timeout=WAIT_S)
    assert alive == []


@pytest.mark.slow
async def test_revoking_the_token_closes_its_open_console(
    server: ConsoleServer, client: Client, tokens: dict[str, str]
):
    async with console_socket(server, {"Authorization": f"Bearer {tokens['read']}"}) as ws:
        await client.revoke_token("t-read")
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(WAIT_S):
                while True:
                    await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert "revoked" in closed.value.rcvd.reason


@pytest.mark.slow
async def test_a_tab_beyond_max_consoles_is_told_to_try_later(
    migrated: Settings, client: Client, tokens: dict[str, str]
):
    headers = {"Authorization": f"Bearer {tokens['read']}"}
    async with (
        serving(migrated, client, max_consoles=1) as server,
        console_socket(server, headers),
    ):
        url = server.url.replace("http:", "ws:") + "/ws"
        async with connect(url, additional_headers=headers) as extra:
            with pytest.raises(ConnectionClosed) as closed:
                await extra.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert "try again later" in closed.value.rcvd.reason
        assert len(consoles()) == 1


async def test_no_auth_serves_everyone_but_read_only_stays_read_only(
    migrated: Settings, client: Client
):
    async with serving(migrated, client, no_auth=True, read_only=True) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/")).status_code == 200
        access = await server.gate.admit(None)
        assert access.read_only and access.token is None


async def test_a_console_socket_may_carry_the_token_in_its_address(
    server: ConsoleServer, tokens: dict[str, str]
):
    url = server.url.replace("http:", "ws:") + f"/ws?token={tokens['read']}"
    async with connect(url) as ws, asyncio.timeout(WAIT_S):
        while not isinstance(await ws.recv(), bytes):  # the console draws: no redirect
            pass
