"""The profiles shipped with PECC (``*.toml``), installed as package data."""
