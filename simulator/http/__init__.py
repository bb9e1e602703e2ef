"""HTTP surface of the simulator: one handler per OpenAPI operation, wired from the spec table."""
