"""The site profile: valid ones load, every mistake is named (``key: got VALUE; expected ...``, exit 2)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest

from pecc_core.testing import write_profile
from pecc_plugins.site.profile import SiteProfileError, parse
from pecc_plugins.site.targets import CabinetDemand, targets

from .keys import SiteKeys

GOOD = {
    "site": {"id": "depot", "max_power_w": 150000},
    "cabinets": [{"id": "north", "safe_share_w": 20000}, {"id": "south", "safe_share_w": 30000, "priority": 1}],
    "schedule": [{"from": "17:00", "max_power_w": 90000}, {"from": "07:00", "max_power_w": 150000}],
}


def test_a_good_profile_loads_with_defaults(tmp_path: Path) -> None:
    keys = SiteKeys(tmp_path, ("north", "south"))
    site = parse({**GOOD, "keys": keys.table()})
    assert set(site.cabinet_keys) == {"north", "south"} and site.site_key is not None
    assert site.safe == {"north": 20000, "south": 30000}
    assert site.policy == "demand" and site.broker["port"] == 1883 and site.broker["tls"] is None
    assert site.cap_at(datetime.time(12, 0)) == 150000
    assert site.cap_at(datetime.time(18, 0)) == 90000
    assert site.cap_at(datetime.time(3, 0)) == 90000  # before the day's first entry: the evening's
    assert site.cap_at(datetime.time(12, 0), override=100000) == 100000


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"site": {"id": "depot", "max_power_w": -1}}, "site.max_power_w: got -1; expected a value >= 0"),
        ({"site": {"id": "depot", "max_power_w": 1e5, "policy": "lottery"}},
         "site.policy: got 'lottery'; expected one of equal, demand"),
        ({"cabinets": []}, "cabinets: expected at least one cabinet"),
        ({"schedule": [{"from": "25:00", "max_power_w": 1}]},
         "schedule[0].from: got '25:00'; expected a time of day HH:MM"),
        ({"broker": {"port": 70000}}, "broker.port: got 70000; expected a value from 1 to 65535"),
        ({"broker": {"tls": {"ca_file": "ca.pem", "cert_file": "c.pem"}}},
         "broker.tls.cert_file: got 'c.pem'; expected cert_file and key_file together"),
        ({"schedule": [{"from": "17:00", "max_power_w": 40000}]},
         "cabinets: expected safe shares summing to at most the lowest cap (40000 W); they sum to 50000 W"),
        ({"cabinets": [{"id": "a", "safe_share_w": 1}, {"id": "a", "safe_share_w": 1}]},
         "expected each cabinet id once; ['a'] appear twice"),
        ({"site": {"id": "depot", "max_power_w": 1e5, "grid": 3}}, "site.grid: got 3; unknown key"),
    ],
)
def test_every_mistake_is_named(change: dict, message: str) -> None:
    with pytest.raises(SiteProfileError) as caught:
        parse({**GOOD, **change}, "site.toml", keys=False)
    assert message in str(caught.value)


def test_every_missing_or_wrong_key_is_named(tmp_path: Path) -> None:
    keys = SiteKeys(tmp_path, ("north", "south"))
    for table, message in [
        (None, "keys: expected the [keys] table (pecc site init writes the keys)"),
        ({"site": keys.table()["site"], "cabinets": {"north": keys.table()["cabinets"]["north"]}},
         "keys: expected a public key for every cabinet; none for ['south']"),
        ({**keys.table(), "site": keys.table()["cabinets"]["north"]}, "keys.site"),
        ({**keys.table(), "site": str(tmp_path / "nowhere.key")}, "keys.site"),
    ]:
        with pytest.raises(SiteProfileError) as caught:
            parse({**GOOD, **({} if table is None else {"keys": table})}, "site.toml")
        assert message in str(caught.value), str(caught.value)


def test_the_command_line_exits_2_with_the_list(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text('[site]\nid = "depot"\nmax_power_w = "lots"\n')
    done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "site", "status", "--profile", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "site.max_power_w: got 'lots'; expected a number" in done.stderr
    assert "cabinets: required key is missing" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("watts", ["5000", "200000"])
def test_a_cap_outside_the_safe_shares_and_the_connection_is_refused_before_any_broker_is_asked(
    tmp_path: Path, watts: str
) -> None:
    path = tmp_path / "site.toml"
    SiteKeys(tmp_path, ("a",))
    path.write_text('[site]\nid = "depot"\nmax_power_w = 1e5\n[broker]\nport = 1\n'
                    '[keys]\nsite = "keys/site.key"\ncabinets = { a = "keys/a.pub" }\n'
                    '[[cabinets]]\nid = "a"\nsafe_share_w = 20000\n')
    done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "site", "set-cap", "--profile", str(path), watts],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    expected = "expected from the safe shares' sum (20000 W) to the site's grid connection (100000 W)"
    assert f"watts: got {watts}; {expected}" in done.stderr


def test_demand_serves_the_higher_priority_first_then_shares_the_rest() -> None:
    safe = {"a": 10_000.0, "b": 10_000.0, "c": 10_000.0}
    cabinets = [CabinetDemand("a", 80_000, 200_000, priority=1), CabinetDemand("b", 80_000, 200_000),
                CabinetDemand("c", 0, 200_000)]
    shares = targets("demand", cabinets, safe, 130_000)
    assert shares["a"] == 80_000  # its safe share and the 70 kW more it asks
    assert shares["b"] == pytest.approx(10_000 + 30_000)  # what is left of the 100 kW to share
    assert shares["c"] == 10_000
    assert sum(shares.values()) <= 130_000


def test_equal_splits_the_rest_within_what_each_can_use() -> None:
    safe = {"a": 0.0, "b": 0.0}
    shares = targets("equal", [CabinetDemand("a", 0, 30_000), CabinetDemand("b", 0, 500_000)], safe, 150_000)
    assert shares == {"a": 30_000, "b": 120_000}


def test_a_cabinet_profile_with_a_bad_site_service_is_refused(tmp_path: Path) -> None:
    path = write_profile("sim", tmp_path, {"services": [{"name": "site", "params": {
        "site": "depot", "cabinet": "a b", "safe_share_w": -1, "broker": {"port": 0}}}]})
    done = subprocess.run([sys.executable, "-m", "pecc_core.cli", "profiles", "validate", str(path)],
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    for line in ("services[0].params.cabinet: got 'a b'; expected an id of letters",
                 "services[0].params.safe_share_w: got -1; expected a value >= 0",
                 "services[0].params.broker.port: got 0; expected a value from 1 to 65535"):
        assert line in done.stderr
