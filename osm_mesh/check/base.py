"""What every check shares: a result, the options, running a check safely."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from osm_mesh import labels
from osm_mesh.errors import MeshError

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    pass

Status = Literal["ok", "warn", "fail"]
# The chart's floor, and the newest Kubernetes this project is tested against.
MIN_KUBERNETES = (1, 27)
MAX_TESTED_KUBERNETES = (1, 37)
CA_WARN_DAYS = 60
# What `osm install` creates: (API group, resource, namespaced).
INSTALL_CREATES = (
    ("", "namespaces", False),
    ("", "serviceaccounts", True),
    ("", "services", True),
    ("", "secrets", True),
    ("", "configmaps", True),
    ("apps", "deployments", True),
    ("rbac.authorization.k8s.io", "clusterroles", False),
    ("rbac.authorization.k8s.io", "clusterrolebindings", False),
    ("rbac.authorization.k8s.io", "roles", True),
    ("rbac.authorization.k8s.io", "rolebindings", True),
    ("apiextensions.k8s.io", "customresourcedefinitions", False),
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations", False),
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations", False),
    ("config.openservicemesh.io", "meshconfigs", True),
)


@dataclass(frozen=True)
class CheckResult:
    category: str
    name: str
    status: Status
    detail: str = ""
    hint: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "category": self.category,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class CheckOptions:
    mesh_name: str = labels.DEFAULT_MESH_NAME
    osm_namespace: str = labels.DEFAULT_OSM_NAMESPACE
    cli_version: str = ""


def _safely(category: str, name: str, fn: Callable[[], CheckResult]) -> CheckResult:
    from osm_mesh.kube.errors import translate

    try:
        return fn()
    except MeshError as exc:
        return CheckResult(category, name, "fail", exc.message, exc.hint or "")
    except Exception as exc:  # an API or transport error: one line, as every other failure
        error = translate(exc)
        return CheckResult(category, name, "fail", error.message, error.hint or "")


def _not_after(pem: bytes) -> dt.datetime:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem).not_valid_after_utc


def _version_tuple(text: str) -> tuple[int, int] | None:
    import re

    found = re.match(r"v?(\d+)\.(\d+)", text or "")
    return (int(found.group(1)), int(found.group(2))) if found else None


def ok(results: Iterable[CheckResult]) -> bool:
    return all(r.status != "fail" for r in results)
