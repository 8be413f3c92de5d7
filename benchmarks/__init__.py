"""Performance benchmarks of PECC (run by hand or ``make bench``; never part of the test suite)."""
