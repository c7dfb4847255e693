"""Every object the controller and injector write is valid for the Kubernetes API schema."""

from __future__ import annotations

import kubernetes_validate
import pytest

from osm_mesh.certs.bootstrap import bootstrap_authority, issue_bootstrap
from osm_mesh.certs.ca import CertificateAuthority
from osm_mesh.controller.ca import ca_secret
from osm_mesh.injector.bootstrap import bootstrap_secret, pod_bootstrap
from osm_mesh.injector.patch import InjectorSettings
from osm_mesh.injector.webhook import webhook_configuration

CA = CertificateAuthority.create()
SETTINGS = InjectorSettings(mesh_name="edge", osm_namespace="edge-system")


def objects() -> dict[str, dict]:
    cert = issue_bootstrap(bootstrap_authority(CA), "u-1.sidecar.bookstore.bookstore.cluster.local")
    config = pod_bootstrap(
        proxy_uuid="u-1",
        namespace="bookstore",
        service_account="bookstore",
        settings=SETTINGS,
        ca_pem=CA.cert_pem,
    )
    return {
        "webhook": webhook_configuration(
            name="osm-webhook-edge",
            mesh_name="edge",
            osm_namespace="edge-system",
            ca_pem=CA.cert_pem,
        ),
        "bootstrap-secret": bootstrap_secret(
            proxy_uuid="u-1", namespace="bookstore", settings=SETTINGS, config=config, cert=cert
        ),
        "ca-secret": ca_secret(CA, "edge-system", "osm-ca-bundle", "edge"),
    }


@pytest.mark.parametrize("name", sorted(objects()))
def test_object_is_schema_valid(name):
    obj = objects()[name]
    kubernetes_validate.validate(obj, kubernetes_validate.utils.latest_version(), strict=True)
    assert obj["metadata"]["labels"]["app.kubernetes.io/instance"] == "edge"
