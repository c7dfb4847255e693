"""`make mutation`: mutmut over the pure core, one package at a time (see docs/testing.md)."""
