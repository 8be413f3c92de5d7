"""A page from another origin, in a real headless chromium, cannot change the station.

The page (served on its own port, so another origin) sends what a hostile
page can send without a CORS preflight: a PUT and a POST with a text/plain
body. The browser sends them, with its Origin header; the API refuses
them, and nothing changes. A JSON body needs a preflight, which the API
never answers, so the browser does not even send it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil

import pytest
from aiohttp import web

from .conftest import Ctl

PAGE = """<html><body><script>
const api = "http://127.0.0.1:%(port)d";
const attempts = [
  ["PUT", "/api/limits", "text/plain", '{"site_max_power_w": 1000}'],
  ["POST", "/api/sim/guns/1-1/supervision", "text/plain", '{"allowed": false}'],
  ["PUT", "/api/limits", "application/json", '{"site_max_power_w": 2000}'],
];
Promise.all(attempts.map(([method, path, type, body]) =>
  fetch(api + path, {method, body, headers: {"Content-Type": type}})
    .then(r => r.status, () => "blocked")))
  .then(results => { document.body.textContent = "RESULTS " + JSON.stringify(results); });
</script></body></html>"""


@pytest.mark.system("a real headless chromium process loads the hostile page")
async def test_a_cross_site_page_in_chromium_changes_nothing(ctl: Ctl) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    before = (await ctl.http("GET", "/api/limits"))[1]
    async def evil_page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE % {"port": ctl.api_port}, content_type="text/html")

    page = web.Application()
    page.router.add_get("/", evil_page)
    runner = web.AppRunner(page)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        evil = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        browser = await asyncio.create_subprocess_exec(
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
            "--dump-dom", evil,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        dom, _ = await asyncio.wait_for(browser.communicate(), 60)
    finally:
        await runner.cleanup()
    found = re.search(r"RESULTS (\[.*?\])", dom.decode())
    assert found is not None, dom.decode()
    assert json.loads(found.group(1)) == ["blocked"] * 3  # the page cannot even read a status
    assert (await ctl.http("GET", "/api/limits"))[1] == before
    assert ctl.runtime.station.io.supervision.allowed("1-1")
    status, events = await ctl.http("GET", "/api/events?kind=operator")
    assert status == 200 and events["events"] == []
