"""Linux GPIO contactors, relay matrix, IMD and CP/PP inputs."""
