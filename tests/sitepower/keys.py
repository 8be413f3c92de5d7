"""A site's signing keys for the tests, made as ``pecc site init`` makes them (Ed25519 PEM files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pecc_plugins.site import signing


class SiteKeys:
    """The site key and one key per cabinet, under ``directory/keys``."""

    def __init__(self, directory: Path, cabinets: tuple[str, ...] = ("north", "south"), write: bool = True) -> None:
        self.folder = directory / "keys"
        if not write:  # the keys are there (pecc site init wrote them): read them
            self.site = signing.load_private(self.folder / "site.key", "site")
            self.cabinets = {c: signing.load_private(self.folder / f"{c}.key", c) for c in cabinets}
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.site = signing.new_key()
        signing.write_private(self.site, self.folder / "site.key")
        signing.write_public(self.site, self.folder / "site.pub")
        self.cabinets = {}
        for cabinet in cabinets:
            key = self.cabinets[cabinet] = signing.new_key()
            signing.write_private(key, self.folder / f"{cabinet}.key")
            signing.write_public(key, self.folder / f"{cabinet}.pub")

    def table(self) -> dict[str, Any]:
        """The site profile's ``[keys]`` table."""
        return {"site": str(self.folder / "site.key"),
                "cabinets": {c: str(self.folder / f"{c}.pub") for c in self.cabinets}}

    def params(self, cabinet: str) -> dict[str, str]:
        """A cabinet's ``site`` service params for its keys."""
        return {"key": str(self.folder / f"{cabinet}.key"), "site_key": str(self.folder / "site.pub")}
