"""SECC simulator: a real PEP-WS client that charges simulated cars (``pecc secc-sim``)."""
