"""InfyPower V1.13 power-module driver."""
