"""Black-box clients: every wait bounded, every exchange logged as evidence."""
