"""Checks before install (``--pre``) and of the installed control plane."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from osm_mesh import labels
from osm_mesh.check.base import (
    CA_WARN_DAYS,
    INSTALL_CREATES,
    MAX_TESTED_KUBERNETES,
    MIN_KUBERNETES,
    CheckOptions,
    CheckResult,
    _not_after,
    _safely,
    _version_tuple,
)

if TYPE_CHECKING:  # kubernetes is imported only when a cluster is used
    from osm_mesh.kube.client import Kube

# -- before install ---------------------------------------------------------------------------


def pre_install(kube: Kube, options: CheckOptions) -> list[CheckResult]:
    cat = "pre-install"
    results = [_safely(cat, "can reach the Kubernetes API", lambda: _api(kube, cat))]
    if results[0].status == "fail":
        return results  # nothing else can be asked
    results.append(_safely(cat, "Kubernetes version is supported", lambda: _k8s_version(kube, cat)))
    results.append(
        _safely(cat, "can create what `osm install` creates", lambda: _rbac(kube, options, cat))
    )
    results.append(_safely(cat, "no conflicting mesh", lambda: _existing(kube, options, cat)))
    return results


def _api(kube: Kube, cat: str) -> CheckResult:
    info = kube.version.get_code()
    return CheckResult(
        cat, "can reach the Kubernetes API", "ok", f"{kube.host} ({info.git_version})"
    )


def _k8s_version(kube: Kube, cat: str) -> CheckResult:
    name = "Kubernetes version is supported"
    text = str(kube.version.get_code().git_version)
    version = _version_tuple(text)
    if version is None:
        return CheckResult(cat, name, "warn", f"unknown version {text!r}")
    floor = ".".join(map(str, MIN_KUBERNETES))
    if version < MIN_KUBERNETES:
        return CheckResult(
            cat, name, "fail", f"{text} is older than {floor}", f"upgrade the cluster to ≥ {floor}"
        )
    if version > MAX_TESTED_KUBERNETES:
        newest = ".".join(map(str, MAX_TESTED_KUBERNETES))
        return CheckResult(cat, name, "warn", f"{text} is newer than tested ({newest})")
    return CheckResult(cat, name, "ok", f"{text} (≥ {floor})")


def _rbac(kube: Kube, options: CheckOptions, cat: str) -> CheckResult:
    from kubernetes import client as k8s

    api = k8s.AuthorizationV1Api(kube.api_client)
    denied = []
    for group, resource, namespaced in INSTALL_CREATES:
        review = k8s.V1SelfSubjectAccessReview(
            spec=k8s.V1SelfSubjectAccessReviewSpec(
                resource_attributes=k8s.V1ResourceAttributes(
                    verb="create",
                    group=group,
                    resource=resource,
                    namespace=options.osm_namespace if namespaced else None,
                )
            )
        )
        answer = api.create_self_subject_access_review(review)
        if not (answer.status and answer.status.allowed):
            denied.append(f"{resource}.{group}" if group else resource)
    name = "can create what `osm install` creates"
    if denied:
        return CheckResult(
            cat,
            name,
            "fail",
            "may not create " + ", ".join(denied),
            "install as a cluster administrator (the chart creates cluster-wide RBAC, CRDs "
            "and webhook configurations)",
        )
    return CheckResult(cat, name, "ok", f"{len(INSTALL_CREATES)} kinds allowed")


def _existing(kube: Kube, options: CheckOptions, cat: str) -> CheckResult:
    from osm_mesh.kube.install_checks import existing_meshes

    name = "no conflicting mesh"
    meshes = existing_meshes(kube)
    for mesh in meshes:
        if mesh.name == options.mesh_name or mesh.namespace == options.osm_namespace:
            return CheckResult(
                cat,
                name,
                "fail",
                f"mesh [{mesh.name}] already runs in namespace [{mesh.namespace}]",
                "check it with `osm check`; upgrade it with `osm mesh upgrade`, or install "
                "with another --mesh-name and --osm-namespace",
            )
        if mesh.enforces_single_mesh:
            return CheckResult(
                cat,
                name,
                "fail",
                f"mesh [{mesh.name}] in [{mesh.namespace}] enforces a single mesh per cluster",
                "uninstall it first, or use it",
            )
    if meshes:
        listing = ", ".join(f"[{m.name}] in [{m.namespace}]" for m in meshes)
        return CheckResult(cat, name, "warn", f"other meshes run here: {listing}")
    return CheckResult(cat, name, "ok", "no osm control plane in the cluster")


# -- the control plane -------------------------------------------------------------------------


def control_plane(kube: Kube, options: CheckOptions) -> list[CheckResult]:
    cat = "control-plane"
    checks: list[tuple[str, Callable[[], CheckResult]]] = [
        ("can reach the Kubernetes API", lambda: _api(kube, cat)),
    ]
    for deployment in (labels.CONTROLLER_NAME, labels.INJECTOR_NAME):
        checks.append(
            (
                f"{deployment} is ready",
                functools.partial(_deployment, kube, options, deployment, cat),
            )
        )
    checks += [
        ("sidecar-injection webhook is usable", lambda: _webhook(kube, options, cat)),
        ("mesh CRDs are served", lambda: _crds(kube, cat)),
        ("MeshConfig is valid", lambda: _mesh_config(kube, options, cat)),
        (f"mesh CA valid for ≥ {CA_WARN_DAYS} days", lambda: _ca(kube, options, cat)),
        ("CLI and control-plane versions match", lambda: _skew(kube, options, cat)),
    ]
    results = []
    for name, fn in checks:
        results.append(_safely(cat, name, fn))
        if name == "can reach the Kubernetes API" and results[-1].status == "fail":
            break
    return results


def _deployment(kube: Kube, options: CheckOptions, name: str, cat: str) -> CheckResult:
    from osm_mesh.kube.readiness import deployment_status, diagnose

    status = deployment_status(kube, options.osm_namespace, name)
    title = f"{name} is ready"
    if status.is_ready:
        return CheckResult(cat, title, "ok", status.describe())
    if not status.found:
        return CheckResult(
            cat,
            title,
            "fail",
            f"no Deployment {name} in namespace {options.osm_namespace}",
            "install the mesh (`osm install`), or pass its --osm-namespace",
        )
    reasons = diagnose(kube, options.osm_namespace, [name])[1:2]
    return CheckResult(
        cat,
        title,
        "fail",
        status.describe() + (f" ({reasons[0].strip()})" if reasons else ""),
        f"kubectl describe deployment {name} -n {options.osm_namespace}",
    )


def _webhook(kube: Kube, options: CheckOptions, cat: str) -> CheckResult:
    from kubernetes.client.exceptions import ApiException

    from osm_mesh.kube.uninstall import injector_webhook_name

    name = "sidecar-injection webhook is usable"
    webhook_name = injector_webhook_name(options.mesh_name)
    try:
        config = kube.admission.read_mutating_webhook_configuration(webhook_name)
    except ApiException as exc:
        if exc.status == 404:
            return CheckResult(
                cat,
                name,
                "fail",
                f"no MutatingWebhookConfiguration {webhook_name}",
                "the injector creates it when it starts: check the osm-injector pod's logs",
            )
        raise
    hooks = config.webhooks or []
    if not hooks:
        return CheckResult(cat, name, "fail", f"{webhook_name} has no webhook")
    problems = []
    for hook in hooks:
        ref = hook.client_config.service if hook.client_config else None
        if (
            ref is None
            or ref.name != labels.INJECTOR_NAME
            or ref.namespace != options.osm_namespace
        ):
            problems.append(
                f"{hook.name} does not call {labels.INJECTOR_NAME}.{options.osm_namespace}"
            )
        bundle = hook.client_config.ca_bundle if hook.client_config else None
        if not bundle:
            problems.append(f"{hook.name} has no caBundle")
            continue
        import base64

        try:
            raw = bundle if isinstance(bundle, bytes) else base64.b64decode(bundle)
            expires = _not_after(raw)
        except Exception:
            problems.append(f"{hook.name}'s caBundle is not a PEM certificate")
            continue
        if expires < dt.datetime.now(dt.UTC):
            problems.append(f"{hook.name}'s caBundle expired on {expires:%Y-%m-%d}")
    ready = _ready_endpoints(kube, options.osm_namespace, labels.INJECTOR_NAME)
    if ready == 0:
        problems.append(f"Service {labels.INJECTOR_NAME} has no ready endpoint")
    if problems:
        return CheckResult(
            cat,
            name,
            "fail",
            "; ".join(problems),
            "restart the injector (kubectl rollout restart deployment/osm-injector -n "
            f"{options.osm_namespace}); it rewrites the webhook and its caBundle",
        )
    return CheckResult(cat, name, "ok", f"{webhook_name}: caBundle valid, {ready} endpoint(s)")


def _ready_endpoints(kube: Kube, namespace: str, service: str) -> int:
    from kubernetes import client as k8s

    slices = k8s.DiscoveryV1Api(kube.api_client).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={service}"
    )
    return sum(
        1
        for s in slices.items or []
        for ep in s.endpoints or []
        if ep.conditions is None or ep.conditions.ready is not False
    )


def _crds(kube: Kube, cat: str) -> CheckResult:
    from kubernetes.client.exceptions import ApiException

    from osm_mesh.helm.location import crd_names

    name = "mesh CRDs are served"
    missing, unready = [], []
    names = crd_names()
    for crd in names:
        try:
            obj = kube.apiextensions.read_custom_resource_definition(crd)
        except ApiException as exc:
            if exc.status == 404:
                missing.append(crd)
                continue
            raise
        conditions = (obj.status.conditions if obj.status else None) or []
        if not any(c.type == "Established" and c.status == "True" for c in conditions):
            unready.append(crd)
    if missing or unready:
        detail = "; ".join(
            x for x in (
                f"missing: {', '.join(missing)}" if missing else "",
                f"not established: {', '.join(unready)}" if unready else "",
            ) if x
        )  # fmt: skip
        return CheckResult(
            cat, name, "fail", detail, "`osm mesh upgrade` installs the chart's CRDs again"
        )
    return CheckResult(cat, name, "ok", f"{len(names)} CRDs established")


def _mesh_config(kube: Kube, options: CheckOptions, cat: str) -> CheckResult:
    from osm_mesh.catalog.kube import mesh_config_object
    from osm_mesh.smi.meshconfig import parse_mesh_config

    name = "MeshConfig is valid"
    obj = mesh_config_object(kube, options.osm_namespace)
    if obj is None:
        return CheckResult(
            cat,
            name,
            "fail",
            f"no MeshConfig {labels.MESH_CONFIG_NAME} in namespace {options.osm_namespace}",
            "`osm mesh upgrade` renders it again",
        )
    config, problems = parse_mesh_config(obj)
    errors = [p for p in problems if p.severity == "error"]
    if config is None or errors:
        first = errors[0] if errors else None
        return CheckResult(
            cat,
            name,
            "fail",
            f"{first.field}: {first.message}" if first else "unusable",
            (first.hint if first else "") or "fix it with kubectl edit meshconfig",
        )
    mode = "permissive" if config.permissive else "SMI (permissive off)"
    warnings = [p for p in problems if p.severity == "warning"]
    if warnings:
        return CheckResult(cat, name, "warn", f"{mode}; {warnings[0].field}: {warnings[0].message}")
    return CheckResult(cat, name, "ok", f"traffic policy mode: {mode}")


def _ca(kube: Kube, options: CheckOptions, cat: str, now: dt.datetime | None = None) -> CheckResult:
    import base64

    from kubernetes.client.exceptions import ApiException

    name = f"mesh CA valid for ≥ {CA_WARN_DAYS} days"
    try:
        secret = kube.core.read_namespaced_secret(
            labels.CA_BUNDLE_SECRET_NAME, options.osm_namespace
        )
    except ApiException as exc:
        if exc.status == 404:
            return CheckResult(
                cat,
                name,
                "fail",
                f"no Secret {labels.CA_BUNDLE_SECRET_NAME} in {options.osm_namespace}",
                "the controller creates it on its first start: check its logs",
            )
        raise
    pem = (secret.data or {}).get(labels.CA_CERT_KEY)
    if not pem:
        return CheckResult(cat, name, "fail", f"the Secret has no {labels.CA_CERT_KEY}")
    expires = _not_after(base64.b64decode(pem))
    left = expires - (now or dt.datetime.now(dt.UTC))
    detail = f"expires {expires:%Y-%m-%d} ({left.days} days)"
    if left.total_seconds() <= 0:
        return CheckResult(
            cat, name, "fail", f"expired on {expires:%Y-%m-%d}", "rotate the mesh CA"
        )
    if left.days < CA_WARN_DAYS:
        return CheckResult(cat, name, "warn", detail, "plan a CA rotation before it expires")
    return CheckResult(cat, name, "ok", detail)


def _skew(kube: Kube, options: CheckOptions, cat: str) -> CheckResult:
    from osm_mesh.kube.meshes import controller_version, find_mesh

    name = "CLI and control-plane versions match"
    mesh = find_mesh(kube, options.mesh_name)
    if mesh is None:
        return CheckResult(cat, name, "fail", f"no mesh [{options.mesh_name}]", "`osm mesh list`")
    found = controller_version(kube, mesh)
    if found.error:
        return CheckResult(cat, name, "warn", found.error)
    if found.version != options.cli_version:
        return CheckResult(
            cat,
            name,
            "warn",
            f"CLI {options.cli_version}, control plane {found.version}",
            "upgrade the one that is behind (`osm mesh upgrade` for the control plane)",
        )
    return CheckResult(cat, name, "ok", f"both {found.version}")
