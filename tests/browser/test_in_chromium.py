"""The console in a real headless Chromium, as an operator opens it: a token in the
address, the Overview, `2` for the jobs, and keys that act only with an operate token."""

from __future__ import annotations

import pytest

from engine.client import Client
from engine.states import State
from queueconsole.browser.server import ConsoleServer
from tests.support.chromium import Page

pytestmark = pytest.mark.slow


async def test_a_read_token_shows_overview_then_jobs_and_refuses_cancel(
    server: ConsoleServer, page: Page, client: Client, tokens: dict[str, str]
):
    job = await client.submit("mail.send", {"to": "ann@example.com"})
    await page.open(f"{server.url}/?token={tokens['read']}")
    assert "token" not in await page.url()  # traded for a cookie, gone from the address bar

    screen = await page.wait_for_screen("unack")  # the Overview's queue table
    assert "Overview" in screen and "read-only" in screen

    await page.press("2")
    screen = await page.wait_for_screen("mail.send")
    assert str(job.id) in screen

    await page.press("c")
    screen = await page.wait_for_screen("read-only:")
    assert "cancel" in screen
    assert "t-read" in screen  # the refusal names the token that made the console read-only
    assert (await client.job(job.id)).state is State.QUEUED


async def test_an_operate_token_cancels_from_the_browser(
    server: ConsoleServer, page: Page, client: Client, tokens: dict[str, str]
):
    job = await client.submit("mail.send", {})
    await page.open(f"{server.url}/?token={tokens['operate']}")
    screen = await page.wait_for_screen("Overview")
    assert "read-only" not in screen

    await page.press("2")
    await page.wait_for_screen("mail.send")
    await page.press("c")
    await page.wait_for_screen(f"Cancel job {job.id}?")
    await page.press("y")
    await page.wait_for_screen(f"job {job.id} cancelled")
    assert (await client.job(job.id)).state is State.CANCELLED


async def test_without_a_token_there_is_no_console(server: ConsoleServer, page: Page):
    await page.open(f"{server.url}/")
    text = await page.text()
    assert "401: no console" in text
    assert "?token=" in text
    assert await page.screen() == ""  # no terminal was ever made


async def test_a_wrong_token_is_refused_by_name_of_the_problem(server: ConsoleServer, page: Page):
    await page.open(f"{server.url}/?token=qc_not-a-token")
    assert "unknown or revoked" in await page.text()
