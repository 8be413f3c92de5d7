"""CAN-level power-module simulator with an EV/battery model."""
