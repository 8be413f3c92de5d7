"""The live dashboard in a real headless chromium against a running sim station.

The station runs in the test's loop with its control API on a free port;
the browser is driven from a thread (Selenium is blocking). ``pecc
secc-sim`` charges a gun from a separate process, as an SECC would.

With ``SCREENSHOTS_DIR=docs/img`` the incident test saves its chart as
``incident-timeline.png`` there (the picture in docs/incidents.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pecc_core.testing import running, sim_overrides

from .conftest import REAL_TIME, SECRETS, TOKENS, Ctl, charging, ctl_of, first_snapshot, read_sse

#: Generous bounds for what a loaded 2-core machine may take; the figures are printed.
PAGE_TIMEOUT = 20.0
FAULT_TIMEOUT = 10.0


async def in_page(driver: Any, expression: str, timeout: float, what: str) -> Any:
    """Poll a JavaScript expression in the page until it is truthy; its value."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    def wait() -> Any:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
            lambda d: d.execute_script(f"return {expression}")
        )

    try:
        return await asyncio.to_thread(wait)
    except TimeoutException:
        raise AssertionError(f"{what}: not within {timeout} s") from None


async def click(driver: Any, xpath: str) -> None:
    """Click the element at ``xpath``, as a user would."""
    from selenium.webdriver.common.by import By

    element = await asyncio.to_thread(driver.find_element, By.XPATH, xpath)
    await asyncio.to_thread(element.click)


def card(gun: str, field: str) -> str:
    """JavaScript: the text of one field of a gun's card."""
    return f"document.querySelector('[data-gun=\"{gun}\"] [data-field=\"{field}\"]')?.textContent"


@contextlib.asynccontextmanager
async def secc_sim(url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``pecc secc-sim`` charging one gun, in its own process, until the block ends."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pecc_core.cli", "secc-sim", url, "--no-live",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


@pytest.mark.system("a real chromium driven by Selenium, and `pecc secc-sim` in its own process")
async def test_the_page_lists_every_gun_follows_a_charge_and_shows_a_fault(
    browser: Any, ctl: Ctl, capsys: pytest.CaptureFixture[str]
) -> None:
    station = ctl.runtime.station
    await ctl.settled("1-1")
    await asyncio.to_thread(browser.get, ctl.url + "/")

    shown = await in_page(
        browser,
        f"document.querySelectorAll('[data-gun]').length === {len(station.guns)}"
        " && [...document.querySelectorAll('[data-gun]')].map(c => c.dataset.gun)",
        PAGE_TIMEOUT,
        "a card per gun",
    )
    assert sorted(shown) == sorted(station.guns)
    # the modules grouped by their bus, under its name and load
    [bus] = station.power.buses
    modules = await in_page(browser, f"document.querySelectorAll('[data-bus=\"{bus}\"] [data-module]').length",
                            PAGE_TIMEOUT, "modules")
    assert modules == len(station.power.modules)
    load = await in_page(browser, f"document.querySelector('[data-bus=\"{bus}\"] .load')?.textContent",
                         PAGE_TIMEOUT, "the bus's load")
    assert re.fullmatch(r"· \d+ % of the bus", load), load
    assert await in_page(browser, card("1-1", "state"), PAGE_TIMEOUT, "a state") == "standby"

    gun = station.guns["1-1"]
    url = f"ws://127.0.0.1:{ctl.runtime.transport.port}{gun.path}"
    async with secc_sim(url):
        await in_page(browser, f"{card('1-1', 'state')} === 'charge'", PAGE_TIMEOUT, "state charge")
        first = await in_page(browser, f"parseFloat({card('1-1', 'power')}) > 0 && {card('1-1', 'power')}",
                              PAGE_TIMEOUT, "power flows")
        seen = {first}
        energy = await in_page(browser, f"parseFloat({card('1-1', 'energy')}) > 0 && {card('1-1', 'energy')}",
                               PAGE_TIMEOUT, "energy counts")
        # The energy of the session counts up while the car charges.
        await in_page(
            browser,
            f"{card('1-1', 'energy')} !== '{energy}'",
            PAGE_TIMEOUT,
            f"energy moves on from {energy} kWh",
        )
        seen.add(await in_page(browser, card("1-1", "power"), PAGE_TIMEOUT, "power"))
        assert await in_page(browser, "document.querySelector('#events li') !== null", PAGE_TIMEOUT, "events")
        events = await asyncio.to_thread(
            browser.execute_script, "return [...document.querySelectorAll('#events li')].map(e => e.textContent)"
        )
        assert any("standby -> cableCheck" in e for e in events), events
        assert any("-> charge" in e for e in events), events

    # A module of an idle gun reports a fault: its tile shows it, and the gun's fault (raised
    # while the module is on it, cleared once the policy moves it away) is in the events.
    module = station.pool.modules_of("2-1")[0]
    tile = f"document.querySelector('[data-module=\"{module}\"] [data-field=\"faults\"]').textContent"
    started = time.monotonic()
    status, body = await ctl.http("POST", f"/api/sim/modules/{module}/fault", {"fault": "hardware"})
    assert status == 200, body
    await in_page(browser, f"{tile} === 'hardware'", FAULT_TIMEOUT, "the fault on the module's tile")
    elapsed = time.monotonic() - started
    raised = await in_page(
        browser,
        "[...document.querySelectorAll('#events li.ev-fault')].map(e => e.textContent)"
        ".find(t => t.includes('2-1') && t.includes('power module'))",
        FAULT_TIMEOUT,
        "the gun's fault in the events",
    )
    assert f"power module {module} fault: hardware" in raised
    with capsys.disabled():
        print(f"\ndashboard: injected module fault shown {elapsed * 1000:.0f} ms after the request; "
              f"1-1 showed power values {sorted(seen)} kW while charging")


@pytest.mark.system("a real chromium driven by Selenium")
async def test_an_incident_is_listed_and_its_timeline_drawn(browser: Any, ctl: Ctl) -> None:
    from selenium.webdriver.common.by import By

    station = ctl.runtime.station
    await ctl.settled("1-1")
    await asyncio.to_thread(browser.get, ctl.url + "/")
    await in_page(browser, "document.getElementById('incidents-none')?.hidden === false", PAGE_TIMEOUT,
                  "no incident listed yet")
    secc = await ctl.secc("1-1")
    await charging(secc, 60)
    await asyncio.sleep(2.0)  # a stretch of steady charge before the fault
    address, other = station.pool.modules_of("1-1")[0], station.pool.modules_of("1-2")[0]
    status, body = await ctl.http("POST", f"/api/sim/modules/{address}/fault", {"fault": "hardware"})
    assert status == 200, body
    await asyncio.sleep(1.0)  # an idle gun's module, within the incident's 3 s: the same incident
    status, body = await ctl.http("POST", f"/api/sim/modules/{other}/fault", {"fault": "hardware"})
    assert status == 200, body

    # listed once written (3 s after the fault), without reloading the page
    incident = await in_page(browser, "document.querySelector('#incident-list tr')?.dataset.incident",
                             PAGE_TIMEOUT, "the incident in the list")
    row = f"document.querySelector('#incident-list tr[data-incident=\"{incident}\"]')"
    cells = await asyncio.to_thread(
        browser.execute_script, f"return [...{row}.cells].map(c => c.textContent)"
    )
    assert cells[1] == "1-1, 1-2" and cells[2] == "fault" and cells[3].endswith(" kB") and cells[4] == "zip", cells
    link = await asyncio.to_thread(browser.execute_script, f"return {row}.querySelector('a').href")
    assert link == f"{ctl.url}/api/incidents/{incident}"
    # and in the live feed, as one line of its own
    line = await in_page(browser, "document.querySelector('#events li.ev-incident')?.textContent",
                         PAGE_TIMEOUT, "the incident in the live feed")
    assert f"incident {incident}: fault, guns 1-1, 1-2, " in line and line.endswith(" kB"), line

    await click(browser, f"//tr[@data-incident='{incident}']")
    chart = f"document.querySelector('svg.timeline[data-incident=\"{incident}\"]')"
    await in_page(browser, chart + " !== null", PAGE_TIMEOUT, "the chart")
    drawn = await asyncio.to_thread(browser.execute_script, f"""
        const chart = {chart};
        const all = (selector, read) => [...chart.querySelectorAll(selector)].map(read);
        return {{
            points: Object.fromEntries(all("path[data-series]", p => [p.dataset.series, +p.dataset.points])),
            bands: all("rect.band", r => r.dataset.state),
            names: all("text.band-name", t => t.textContent),
            faults: all("g.fault", g => g.querySelector("text").textContent),
            labels: all("text.label", t => t.textContent),
        }};
    """)
    points = drawn["points"]
    assert set(points) == {"reading-voltage", "reading-current", "setpoint-voltage", "setpoint-current"}, points
    assert points["reading-voltage"] > 20 and points["reading-current"] > 20, points
    assert points["setpoint-current"] > 10, points  # the up-ramp to 60 A, then 0 at the fault
    bands = drawn["bands"]
    assert "charge" in bands and "inoperative" in bands[bands.index("charge"):], bands
    assert {"charge", "inoperative"} <= set(drawn["names"]), drawn["names"]
    assert any(f"power module {address} fault: hardware" in fault for fault in drawn["faults"]), drawn["faults"]
    assert {"voltage (V)", "current (A)", "time from the incident's cause (s)"} <= set(drawn["labels"])

    await click(browser, "//*[@id='incident-chart']//button[.='gun 1-2']")
    faults = await in_page(
        browser,
        "[...(document.querySelector('svg.timeline[data-gun=\"1-2\"]')?.querySelectorAll('g.fault') ?? [])]"
        ".map(g => g.dataset.fault).join('; ')",
        PAGE_TIMEOUT,
        "the other gun's chart",
    )
    assert f"power module {other} fault: hardware" in faults, faults
    await click(browser, "//*[@id='incident-chart']//button[.='gun 1-1']")
    await in_page(browser, "document.querySelector('svg.timeline[data-gun=\"1-1\"]')", PAGE_TIMEOUT, "1-1 again")

    folder = os.environ.get("SCREENSHOTS_DIR")
    if folder:
        section = await asyncio.to_thread(browser.find_element, By.ID, "incidents")
        await asyncio.to_thread(browser.execute_script, "arguments[0].scrollIntoView()", section)
        png = await asyncio.to_thread(lambda: section.screenshot_as_png)
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "incident-timeline.png").write_bytes(png)
    await secc.close()


async def test_the_live_feed_sends_snapshots_and_the_events_of_the_history(ctl: Ctl) -> None:
    """The feed's contract without a browser: what the page is built from."""
    import aiohttp

    station = ctl.runtime.station
    await ctl.settled("1-1")
    async with aiohttp.ClientSession() as session, session.get(ctl.url + "/api/live") as response:
        assert response.status == 200 and response.content_type == "text/event-stream"
        snapshot = await first_snapshot(response, PAGE_TIMEOUT)
        stream = read_sse(response)
        assert [g["id"] for g in snapshot["guns"]] == list(station.guns)
        assert {m["id"] for m in snapshot["modules"]} == {str(m) for m in station.power.modules}
        assert [b["name"] for b in snapshot["buses"]] == list(station.power.buses)
        assert all(0.0 <= b["load_percent"] <= 100.0 for b in snapshot["buses"])
        assert {"state", "measured_voltage", "faults", "energy_wh", "session"} <= set(snapshot["guns"][0])
        assert set(snapshot["site"]) == {"power_w", "max_power_w"}

        secc = await ctl.secc("1-2")  # a connect is an event of the history, pushed as it is recorded
        async with asyncio.timeout(PAGE_TIMEOUT):
            async for kind, data in stream:
                if kind == "event" and data["kind"] == "secc_connected":
                    break
        assert data["gun"] == "1-2" and data["peer"].startswith("127.0.0.1:")
        await secc.close()
        async with session.get(ctl.url + "/") as page:
            assert page.content_type == "text/html"
            assert '<script src="/dashboard/dashboard.js"' in await page.text()


@pytest.mark.system("a real chromium driven by Selenium")
async def test_with_tokens_the_page_signs_in_through_its_form_and_shows_every_gun(
    browser: Any, make_profile: Any, can_channel: str
) -> None:
    from selenium.webdriver.common.by import By

    profile = make_profile("sim", {**sim_overrides(can_channel), **REAL_TIME, "services.1.params.tokens": TOKENS})
    async with running(profile) as runtime:
        url, guns = f"http://127.0.0.1:{ctl_of(runtime).port}", runtime.station.guns
        await asyncio.to_thread(browser.get, url + "/")
        assert await in_page(browser, "document.querySelector('input[name=token]') !== null", PAGE_TIMEOUT,
                             "the sign-in form")
        field = await asyncio.to_thread(browser.find_element, By.NAME, "token")
        await asyncio.to_thread(field.send_keys, "not-a-token")
        await asyncio.to_thread(field.submit)
        await in_page(browser, "document.getElementById('problem')?.textContent === 'Unknown token.'",
                      PAGE_TIMEOUT, "the refusal on the sign-in page")

        field = await asyncio.to_thread(browser.find_element, By.NAME, "token")
        await asyncio.to_thread(field.send_keys, SECRETS["viewer"][1])
        await asyncio.to_thread(field.submit)
        shown = await in_page(
            browser,
            f"document.querySelectorAll('[data-gun]').length === {len(guns)}"
            " && [...document.querySelectorAll('[data-gun]')].map(c => c.dataset.gun)",
            PAGE_TIMEOUT,
            "a card per gun after signing in",
        )
        assert sorted(shown) == sorted(guns)
        assert await in_page(browser, "document.getElementById('link').textContent === 'live'", PAGE_TIMEOUT,
                             "the live feed")
        cookies = await asyncio.to_thread(browser.get_cookies)
        (cookie,) = [c for c in cookies if c["name"] == "pecc_session"]
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and SECRETS["viewer"][1] not in cookie["value"]
        assert await in_page(browser, "document.cookie === ''", PAGE_TIMEOUT, "the cookie hidden from scripts")

        button = await asyncio.to_thread(browser.find_element, By.CSS_SELECTOR, "#signout button")
        await asyncio.to_thread(button.click)
        await in_page(browser, "document.querySelector('input[name=token]') !== null", PAGE_TIMEOUT,
                      "the sign-in form after signing out")
