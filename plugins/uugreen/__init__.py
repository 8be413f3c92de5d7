"""UUGreenPower UR1000x0 power-module driver."""
