"""Support tooling: the `osm support bug-report` archive."""
