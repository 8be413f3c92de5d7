"""Shared test configuration: the fixtures come from the `pecc` pytest plugin (pecc_core.testing)."""
