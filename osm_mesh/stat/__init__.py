"""`osm stat`: golden metrics per workload from the sidecars' own statistics.

``samples`` reads a sidecar's Prometheus text, ``compute`` turns two readings into rates and
latency quantiles (pure), ``collect`` takes the readings from a cluster or a local mesh.
"""
