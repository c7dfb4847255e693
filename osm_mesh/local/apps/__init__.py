"""The article's sample application, rewritten with the standard library only.

``api`` answers ``GET /api/values`` (v1: Value 1-3, v2: Value 4-6) and
``frontend`` fetches ``$API_URL`` (the ConfigMap's ``backend_service_uri``)
through its sidecar, as the original ASP.NET apps did. Each listens on
``$POD_IP:$PORT`` and starts in well under a second.
"""
