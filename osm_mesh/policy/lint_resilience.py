"""``osm policy lint`` checks of the resilience policies (Retry, UpstreamTrafficSetting,
FaultInjection); field validation happens in ``osm_mesh.smi.policy_ext`` while parsing.

As with the SMI checks, a reference into a namespace whose Services are not in the linted
files is not judged (policies are often linted apart from the apps).
"""

from __future__ import annotations

from collections import defaultdict

from osm_mesh.catalog.model import Identity, Service
from osm_mesh.policy.lint_base import Context, Out
from osm_mesh.smi import codes
from osm_mesh.smi.model import IdentityRef, ObjectRef
from osm_mesh.smi.policy_model import UpstreamTrafficSetting

# The mesh's default HTTP route timeout (TranslateOptions.route_timeout).
DEFAULT_ROUTE_TIMEOUT = 15.0


def resilience_checks(out: Out, ctx: Context) -> None:
    settings = _upstream_settings(out, ctx)
    _retries(out, ctx, settings)
    _faults(out, ctx)


def _service(
    out: Out, ctx: Context, ref: ObjectRef, path: str, namespace: str, name: str
) -> Service | None:
    svc = ctx.catalog.service(namespace, name)
    if svc is None and namespace in ctx.ns_with_services:
        out.add(
            codes.SERVICE_NOT_FOUND,
            "error",
            ref,
            path,
            f"Service {name!r} does not exist in namespace {namespace!r}",
            "create the Service or fix the name",
        )
    return svc


def _account(out: Out, ctx: Context, ref: ObjectRef, path: str, subject: IdentityRef) -> None:
    identity = Identity(subject.namespace or "", subject.name)
    if ctx.has_workload(identity) is False:
        out.add(
            codes.IDENTITY_UNUSED,
            "warning",
            ref,
            path,
            f"no workload runs as ServiceAccount {identity}: the policy applies to no client",
            "fix the ServiceAccount name or namespace",
        )


def _upstream_settings(out: Out, ctx: Context) -> dict[tuple[str, str], UpstreamTrafficSetting]:
    first: dict[tuple[str, str], UpstreamTrafficSetting] = {}
    for uts in sorted(ctx.catalog.upstream_traffic_settings):
        key = (uts.namespace, uts.service)
        if key in first:
            out.add(
                codes.POLICY_SETTING_DUPLICATE,
                "error",
                uts.ref,
                "spec.host",
                f"UpstreamTrafficSetting {first[key].name!r} already targets Service "
                f"{uts.service!r}; only the first (by name) is used",
                "merge the two into one UpstreamTrafficSetting per host (OSM rejects the second)",
            )
            continue
        first[key] = uts
        svc = _service(out, ctx, uts.ref, "spec.host", uts.namespace, uts.service)
        conn = uts.connection
        http_only = (
            uts.request_timeout is not None
            or bool(uts.routes)
            or (
                conn is not None
                and (
                    conn.max_requests is not None
                    or conn.max_pending_requests is not None
                    or conn.max_requests_per_connection is not None
                )
            )
        )
        if svc is not None and http_only and all(p.protocol in ("tcp", "udp") for p in svc.ports):
            out.add(
                codes.POLICY_SETTING_INEFFECTIVE,
                "warning",
                uts.ref,
                "spec",
                f"Service {uts.service!r} has only TCP ports: request timeouts and HTTP "
                "connection settings do not apply to it",
                "keep only connectionSettings.tcp, or name the port http-... if it speaks HTTP",
            )
        if conn is not None and 0 in (conn.max_connections, conn.max_requests):
            out.add(
                codes.POLICY_SETTING_INEFFECTIVE,
                "warning",
                uts.ref,
                "spec.connectionSettings",
                "a limit of 0 connections or requests rejects every request (503)",
                "use at least 1, or remove the field for no limit",
            )
    return first


def _retries(
    out: Out, ctx: Context, settings: dict[tuple[str, str], UpstreamTrafficSetting]
) -> None:
    seen: dict[tuple[IdentityRef, str, str], str] = {}
    for retry in sorted(ctx.catalog.retries):
        _account(out, ctx, retry.ref, "spec.source", retry.source)
        policy = retry.policy
        for i, dest in enumerate(retry.destinations):
            path = f"spec.destinations[{i}]"
            key = (retry.source, dest.namespace, dest.name)
            if key in seen:
                out.add(
                    codes.POLICY_SETTING_DUPLICATE,
                    "warning",
                    retry.ref,
                    path,
                    f"Retry {seen[key]!r} already covers {retry.source.name} -> {dest}; "
                    "only the first (by name) is used",
                    "keep one Retry per source and destination",
                )
                continue
            seen[key] = retry.name
            _service(out, ctx, retry.ref, path, dest.namespace, dest.name)
            setting = settings.get((dest.namespace, dest.name))
            budget = DEFAULT_ROUTE_TIMEOUT
            if setting is not None and setting.request_timeout is not None:
                budget = setting.request_timeout
            if policy.per_try_timeout and budget:
                needed = policy.per_try_timeout * (policy.num_retries + 1)
                if needed > budget:
                    out.add(
                        codes.POLICY_SETTING_INEFFECTIVE,
                        "warning",
                        retry.ref,
                        "spec.retryPolicy.perTryTimeout",
                        f"{policy.num_retries + 1} tries of {policy.per_try_timeout:g}s need "
                        f"up to {needed:g}s but requests to {dest} time out after {budget:g}s: "
                        "the last retries may never happen",
                        "lower perTryTimeout or numRetries, or raise the UpstreamTrafficSetting "
                        "requestTimeout",
                    )
        if policy.num_retries == 0:
            out.add(
                codes.POLICY_SETTING_INEFFECTIVE,
                "warning",
                retry.ref,
                "spec.retryPolicy.numRetries",
                "numRetries is 0: nothing is retried",
                "set numRetries to 1 or more",
            )


def _faults(out: Out, ctx: Context) -> None:
    by_host: dict[tuple[str, str], list[str]] = defaultdict(list)
    for fault in sorted(ctx.catalog.fault_injections):
        _service(out, ctx, fault.ref, "spec.host", fault.namespace, fault.service)
        for i, source in enumerate(fault.sources):
            _account(out, ctx, fault.ref, f"spec.sources[{i}]", source)
        earlier = by_host[(fault.namespace, fault.service)]
        if earlier and not fault.sources:
            out.add(
                codes.POLICY_SETTING_DUPLICATE,
                "warning",
                fault.ref,
                "spec.host",
                f"FaultInjection {earlier[0]!r} also targets {fault.service!r}; a client gets "
                "the first matching one (by name) only",
                "merge them, or give each its own sources",
            )
        earlier.append(fault.name)
        percentages = [f.percentage for f in (fault.abort, fault.delay) if f is not None]
        if percentages and all(p == 0 for p in percentages):
            out.add(
                codes.POLICY_SETTING_INEFFECTIVE,
                "warning",
                fault.ref,
                "spec",
                "every percentage is 0: the policy injects nothing",
                "raise a percentage, or delete the FaultInjection",
            )
        if fault.abort is not None and fault.abort.percentage == 100 and not fault.sources:
            out.add(
                codes.FAULT_ABORTS_ALL,
                "info",
                fault.ref,
                "spec.abort",
                f"every request to {fault.service!r} from every client is aborted with "
                f"{fault.abort.http_status}",
                "limit the experiment with spec.sources or a lower percentage",
            )
