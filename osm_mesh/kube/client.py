"""Kubernetes clients with explicit timeouts.

An unreachable API server must fail within seconds, not after urllib3's default
retries (linkerd2 PR #3568, istio#32923): every request gets a connect/read
timeout and connection errors are not retried.
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from osm_mesh.errors import ClusterUnreachable

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 20.0
# Until the server has answered once, a read waits at most this long: a server that accepts
# connections but never answers is as unreachable as one that refuses them, and must fail
# within 5 s. Later calls get READ_TIMEOUT_S, since a large LIST can legitimately take longer.
FIRST_READ_TIMEOUT_S = 4.0
# A 429 with Retry-After is retried this many times (a watch cache rebuilds in seconds).
RETRIES_429 = 4


def _retries() -> Any:
    """No retries on connection errors (fail fast), but the API server's own "come back"
    answers are honoured: 429 with Retry-After, e.g. "storage is (re)initializing" right after
    a CRD update (seen on the real API server after `osm install` updated the CRDs). A 429
    was not processed, so retrying any method is safe. After the retries the 429 surfaces."""
    from urllib3.util.retry import Retry

    return Retry(
        total=RETRIES_429,
        connect=0,
        read=0,
        redirect=0,
        other=0,
        status=RETRIES_429,
        status_forcelist=(429,),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
        backoff_factor=0.5,
    )


class TimeoutApiClient(k8s.ApiClient):
    """An ApiClient that applies a default timeout to every call."""

    def __init__(
        self,
        configuration: k8s.Configuration,
        timeout: tuple[float, float],
        first_read_timeout: float = FIRST_READ_TIMEOUT_S,
    ) -> None:
        super().__init__(configuration)
        self.default_timeout = timeout
        self.first_timeout = (timeout[0], min(first_read_timeout, timeout[1]))
        self.server_answered = False

    def call_api(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("_request_timeout") is None:
            answered = self.server_answered
            kwargs["_request_timeout"] = self.default_timeout if answered else self.first_timeout
        try:
            response = super().call_api(*args, **kwargs)
        except k8s.ApiException:
            self.server_answered = True  # an error status is still an answer
            raise
        self.server_answered = True
        return response


class Kube:
    """The typed API groups of one cluster, built on first use."""

    def __init__(self, api_client: k8s.ApiClient, namespace: str | None = None) -> None:
        self.api_client = api_client
        # The kubeconfig context's namespace (kubectl's default for -n).
        self.default_namespace = namespace or "default"

    @property
    def host(self) -> str:
        return str(self.api_client.configuration.host)

    @cached_property
    def core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self.api_client)

    @cached_property
    def apps(self) -> k8s.AppsV1Api:
        return k8s.AppsV1Api(self.api_client)

    @cached_property
    def custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self.api_client)

    @cached_property
    def admission(self) -> k8s.AdmissionregistrationV1Api:
        return k8s.AdmissionregistrationV1Api(self.api_client)

    @cached_property
    def apiextensions(self) -> k8s.ApiextensionsV1Api:
        return k8s.ApiextensionsV1Api(self.api_client)

    @cached_property
    def rbac(self) -> k8s.RbacAuthorizationV1Api:
        return k8s.RbacAuthorizationV1Api(self.api_client)

    @cached_property
    def version(self) -> k8s.VersionApi:
        return k8s.VersionApi(self.api_client)


def connect(
    kubeconfig: str | None = None,
    context: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
) -> Kube:
    """Load the kubeconfig (or in-cluster config) and return clients for it.

    Loading does not contact the server; the first API call does, and fails
    within ``connect_timeout`` when the server is unreachable.
    """
    configuration = k8s.Configuration()
    namespace: str | None = None
    if kubeconfig and os.pathsep not in kubeconfig and not os.path.exists(kubeconfig):
        # Otherwise the client falls back to in-cluster config and reports "No configuration".
        raise ClusterUnreachable(
            f"Could not load kubeconfig: file {kubeconfig} does not exist",
            hint="Check the file named by --kubeconfig or KUBECONFIG",
        )
    try:
        k8s_config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
        _, active = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
        if context:
            contexts, _ = k8s_config.list_kube_config_contexts(config_file=kubeconfig)
            active = next((c for c in contexts if c.get("name") == context), active)
        namespace = (active or {}).get("context", {}).get("namespace")
    except k8s_config.ConfigException as exc:
        # The pod's own ServiceAccount only when nothing else was asked for: a mistyped
        # --context (or a broken --kubeconfig) inside a pod must fail, not quietly talk to
        # the pod's cluster instead of the one named.
        if kubeconfig or context:
            raise ClusterUnreachable(
                f"Could not load kubeconfig: {exc}",
                hint="Check --kubeconfig / KUBECONFIG and --context "
                "(`kubectl config get-contexts` lists the contexts)",
            ) from None
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            raise ClusterUnreachable(
                f"Could not load kubeconfig: {exc}",
                hint="Set KUBECONFIG or pass --kubeconfig (and --context) pointing at your cluster",
            ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ClusterUnreachable(
            f"Could not load kubeconfig: {kubeconfig or 'the kubeconfig'} is not valid YAML{where}",
            hint="Check the file named by --kubeconfig or KUBECONFIG",
        ) from None
    except (TypeError, AttributeError):
        # The YAML parsed but is not a mapping of the expected shape.
        raise ClusterUnreachable(
            f"Could not load kubeconfig: {kubeconfig or 'the kubeconfig'} is not a kubeconfig file",
            hint="Check the file named by --kubeconfig or KUBECONFIG",
        ) from None
    except (OSError, ValueError, KeyError) as exc:
        raise ClusterUnreachable(
            f"Could not load kubeconfig: {exc}",
            hint="Check the file named by --kubeconfig or KUBECONFIG",
        ) from None
    configuration.retries = _retries()
    return Kube(TimeoutApiClient(configuration, (connect_timeout, read_timeout)), namespace)
