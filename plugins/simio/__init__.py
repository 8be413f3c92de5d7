"""Simulated contactors, IMD, CP/PP supervision and relay matrix."""
