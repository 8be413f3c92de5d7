"""Shared python-can plumbing for CAN drivers and simulators."""
