from tests.console.conftest import screen_text


async def test_jobs_pane_lists_a_job(client, make_app):
    job = await client.submit("demo.noop", {"x": 1}, queue="mail")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.refresh_now()
        await pilot.press("2")
        await app.refresh_now()
        await pilot.pause()
        text = screen_text(app)
        print(text)
        assert "demo.noop" in text
        assert str(job.id) in text
