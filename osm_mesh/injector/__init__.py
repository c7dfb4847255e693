"""Sidecar injection: the pure pod -> JSON Patch step (``patch``), the pod's Envoy bootstrap
(``bootstrap``), the AdmissionReview webhook (``webhook``) and its process
(``python -m osm_mesh.injector``, ``service``)."""
