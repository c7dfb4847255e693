"""What a real control plane needs: certificates, kubeconfigs and each component's command line.

The flags follow what kubeadm sets up (TLS everywhere on the API server, ServiceAccount token
signing, Node + RBAC authorization, NodeRestriction on top of the default admission plugins,
which include MutatingAdmissionWebhook, ValidatingAdmissionWebhook and PodSecurity).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.realkube import binaries
from tests.realkube.layout import (
    API_PORT,
    CLUSTER_DOMAIN,
    ETCD_PORT,
    KUBERNETES_SERVICE_IP,
    NODE_IP,
    NODE_NAME,
    POD_CIDR,
    SERVICE_CIDR,
    Layout,
    write_kubeconfig,
)
from tests.realkube.pki import ClusterPKI

IN_NAMESPACE_SERVER = f"https://{NODE_IP}:{API_PORT}"


@dataclass
class Component:
    """One long-running process of the cluster."""

    name: str
    argv: list[str]
    # Run inside the node's mount and PID namespaces (node.py), not only its network one.
    in_node: bool = False
    env: dict[str, str] = field(default_factory=dict)


def prepare(layout: Layout, host_api_port: int) -> ClusterPKI:
    """Certificates for every component and the kubeconfigs that carry them."""
    pki = ClusterPKI(layout.pki)
    pki.issue(
        "apiserver",
        "kube-apiserver",
        dns_names=(
            "localhost",
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
        ),
        ip_addresses=("127.0.0.1", NODE_IP, KUBERNETES_SERVICE_IP),
        server=True,
    )
    pki.issue(
        "kubelet-serving",
        NODE_NAME,
        dns_names=(NODE_NAME,),
        ip_addresses=(NODE_IP,),
        server=True,
    )
    pki.issue(
        "apiserver-kubelet-client",
        "kube-apiserver-kubelet-client",
        organizations=("system:masters",),
        client=True,
    )
    pki.service_account_keys()
    users = {
        "admin": ("kubernetes-admin", ("system:masters",)),
        "kube-controller-manager": ("system:kube-controller-manager", ()),
        "kube-scheduler": ("system:kube-scheduler", ()),
        "kubelet": (f"system:node:{NODE_NAME}", ("system:nodes",)),
        "kube-proxy": ("system:kube-proxy", ()),
    }
    for name, (common_name, orgs) in users.items():
        pair = pki.issue(name, common_name, organizations=orgs, client=True)
        write_kubeconfig(
            layout.component_kubeconfig(name),
            server=IN_NAMESPACE_SERVER,
            ca=pki.ca.cert,
            user=common_name,
            cert=pair.cert,
            key=pair.key,
        )
        if name == "admin":
            write_kubeconfig(
                layout.kubeconfig,
                server=f"https://127.0.0.1:{host_api_port}",
                ca=pki.ca.cert,
                user=common_name,
                cert=pair.cert,
                key=pair.key,
            )
    return pki


def etcd(layout: Layout) -> Component:
    url = f"http://127.0.0.1:{ETCD_PORT}"
    return Component(
        "etcd",
        [
            str(binaries.binary("etcd")),
            "--name=default",
            f"--data-dir={layout.etcd_data}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=default=http://127.0.0.1:2380",
            # A test cluster lives minutes: no fsync (as controller-runtime's envtest does).
            "--unsafe-no-fsync",
            "--log-level=warn",
        ],
    )


def kube_apiserver(layout: Layout, *, endpoint_routing: bool) -> Component:
    pki = layout.pki
    argv = [
        str(binaries.binary("kube-apiserver")),
        f"--etcd-servers=http://127.0.0.1:{ETCD_PORT}",
        "--bind-address=0.0.0.0",
        f"--secure-port={API_PORT}",
        f"--advertise-address={NODE_IP}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-account-issuer=https://kubernetes.default.svc.{CLUSTER_DOMAIN}",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]
    if endpoint_routing:
        # Without a node there is no kube-proxy to turn a ClusterIP into an endpoint: the API
        # server then resolves Service → EndpointSlice itself for webhooks and the aggregator.
        argv.append("--enable-aggregator-routing=true")
    return Component("kube-apiserver", argv)


def kube_controller_manager(layout: Layout) -> Component:
    pki = layout.pki
    kubeconfig = layout.component_kubeconfig("kube-controller-manager")
    return Component(
        "kube-controller-manager",
        [
            str(binaries.binary("kube-controller-manager")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--cluster-cidr={POD_CIDR}",
            "--allocate-node-cidrs=true",
            "--leader-elect=false",
            "--controllers=*,bootstrapsigner,tokencleaner",
            "--v=1",
        ],
    )


def kube_scheduler(layout: Layout) -> Component:
    kubeconfig = layout.component_kubeconfig("kube-scheduler")
    return Component(
        "kube-scheduler",
        [
            str(binaries.binary("kube-scheduler")),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--v=1",
        ],
    )


def fake_node(layout: Layout) -> Component:
    """kwok-style stand-in for a node when no real one runs (fakenode.py)."""
    kubeconfig = layout.component_kubeconfig("kubelet")
    return Component(
        "fake-node", [sys.executable, "-m", "tests.realkube.fakenode", str(kubeconfig)]
    )


def control_plane(layout: Layout, *, node: bool) -> list[Component]:
    """In start order; each waits for the one before it to answer."""
    components = [
        etcd(layout),
        kube_apiserver(layout, endpoint_routing=not node),
        kube_controller_manager(layout),
        kube_scheduler(layout),
    ]
    if not node:
        components.append(fake_node(layout))
    return components


def log_path(layout: Layout, component: Component) -> Path:
    return layout.logs / f"{component.name}.log"
