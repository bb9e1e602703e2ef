"""AstrBot protocol conformance suite: a black-box pytest plugin that checks any server against
the contract in specs/ and reports one verdict per requirement."""

__version__ = "0.1.0"
