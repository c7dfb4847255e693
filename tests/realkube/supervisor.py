"""Runs one local cluster in the foreground: start in order, wait for each, restart what
crashes (as systemd would on a real node), stop everything on a signal or parent death.

`python -m tests.realkube serve DIR` runs this; `make cluster-up` starts it detached and the
pytest fixture starts it as a child that dies with pytest (parent-death signal), so nothing
outlives the test run, Ctrl-C and SIGKILL of pytest included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.realkube import controlplane, netns, node, probe
from tests.realkube.controlplane import Component
from tests.realkube.layout import API_PORT, ETCD_PORT, NODE_IP, SERVICE_CIDR, Layout

START_TIMEOUT = 90.0
STOP_GRACE = 5.0


class StartFailed(RuntimeError):
    pass


@dataclass
class Running:
    component: Component
    process: subprocess.Popen
    started: float
    restarts: int = 0
    log: object = None


@dataclass
class Supervisor:
    layout: Layout
    node: bool = False
    api_port: int = 0
    running: dict[str, Running] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    timings: dict[str, float] = field(default_factory=dict)

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.layout.logs.mkdir(parents=True, exist_ok=True)
        state: dict = {"pid": os.getpid(), "status": "starting"}
        self.layout.write_state(state)
        try:
            self._start(state)
        except BaseException as exc:
            state.update(status="failed", error=str(exc))
            self.layout.write_state(state)
            self._stop(state)
            return 1
        state.update(status="ready", timings=self.timings)
        self.layout.write_state(state)
        while not self.stopping.wait(0.5):
            self._restart_crashed(state)
        self._stop(state)
        return 0

    def _start(self, state: dict) -> None:
        begin = time.monotonic()
        self.netns = netns.create_namespace(NODE_IP, SERVICE_CIDR)
        state["netns"] = self.netns
        self.layout.write_state(state)
        self.sockets = netns.NamespaceSockets(self.netns)
        self.api_forward = netns.Forwarder(self.sockets, (NODE_IP, API_PORT), self.api_port)
        self.etcd_forward = netns.Forwarder(self.sockets, ("127.0.0.1", ETCD_PORT))
        state.update(api_port=self.api_forward.port, etcd_port=self.etcd_forward.port)
        self.layout.write_state(state)
        pki = controlplane.prepare(self.layout, self.api_forward.port)
        self.admin_tls = probe.client_context(
            pki.ca.cert, self.layout.pki / "admin.crt", self.layout.pki / "admin.key"
        )
        self.timings["pki"] = time.monotonic() - begin
        etcd, apiserver, *clients = controlplane.control_plane(self.layout, node=self.node)
        self._start_component(etcd, state, begin)
        self._start_component(apiserver, state, begin)
        # The API server's clients need only it: start them together, then wait for each.
        for component in clients:
            self._launch(component)
        for component in clients:
            self.wait_ready(component.name, self.readiness(component.name))
            self.timings[component.name] = time.monotonic() - begin
        state["components"] = self._component_state()
        self.layout.write_state(state)
        self.wait_ready("default ServiceAccount", self._default_service_account)
        if self.node:
            self.node_files = node.NodeFiles(self.layout, self.netns)
            node.prepare(self.layout, self.node_files)
            for step in node.start_steps(self.layout, self.node_files):
                if isinstance(step, Component):
                    self._start_component(step, state, begin)
                else:
                    name, action = step
                    action(self)
                    self.timings[name] = time.monotonic() - begin
        self.timings["total"] = time.monotonic() - begin

    def _start_component(self, component: Component, state: dict, begin: float) -> None:
        self._launch(component)
        self.wait_ready(component.name, self.readiness(component.name))
        self.timings[component.name] = time.monotonic() - begin
        state["components"] = self._component_state()
        self.layout.write_state(state)

    def _stop(self, state: dict) -> None:
        state["status"] = "stopping"
        self.layout.write_state(state)
        _terminate_all([r.process for r in reversed(list(self.running.values()))])
        if getattr(self, "node_files", None) is not None:
            node.clean_up(self.node_files)
        for name in ("api_forward", "etcd_forward"):
            forward = getattr(self, name, None)
            if forward is not None:
                forward.close()
        if getattr(self, "netns", None):
            netns.delete_namespace(self.netns)
        state["status"] = "stopped"
        self.layout.write_state(state)

    # -- processes ---------------------------------------------------------------------------

    def _launch(self, component: Component) -> Running:
        log = open(controlplane.log_path(self.layout, component), "ab")  # noqa: SIM115
        enter = ["nsenter", f"--net={netns.NETNS_DIR / self.netns}"]
        command = component.argv
        if component.in_node:
            # nsenter forks to enter the PID namespace: the inner parent-death signal ends the
            # component when that nsenter is killed (it forwards no signal).
            holder = self.running["node"].process.pid
            enter += [f"--mount=/proc/{holder}/ns/mnt", f"--pid=/proc/{holder}/ns/pid_for_children"]
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
        argv = ["setpriv", "--pdeathsig", "KILL", "--", *enter, "--", *command]
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **component.env},
            start_new_session=True,
        )
        previous = self.running.get(component.name)
        running = Running(component, process, time.monotonic(), log=log)
        if previous is not None:
            running.restarts = previous.restarts + 1
        self.running[component.name] = running
        return running

    def _restart_crashed(self, state: dict) -> None:
        changed = False
        for name, running in list(self.running.items()):
            if running.process.poll() is None or self.stopping.is_set():
                continue
            if time.monotonic() - running.started < 1.0:
                continue  # crash loop: back off a little
            self._launch(running.component)
            changed = True
            del name
        if changed:
            state["components"] = self._component_state()
            self.layout.write_state(state)

    def _component_state(self) -> dict:
        return {
            name: {"pid": r.process.pid, "restarts": r.restarts, "log": str(r.log.name)}  # type: ignore[attr-defined]
            for name, r in self.running.items()
        }

    # -- readiness ---------------------------------------------------------------------------

    def readiness(self, name: str) -> Callable[[], bool]:
        if name == "etcd":
            return lambda: (
                probe.json_body(
                    probe.get(
                        "127.0.0.1", self.etcd_forward.port, "/health", factory=None, context=None
                    )[1]
                ).get("health")
                == "true"
            )
        if name == "kube-apiserver":
            return lambda: self._api_get("/readyz")[0] == 200
        if name == "fake-node":
            return lambda: self._api_get("/api/v1/nodes/osm-node")[0] == 200
        if name in node.READINESS:
            return lambda: node.READINESS[name](self)
        port = {"kube-controller-manager": 10257, "kube-scheduler": 10259}.get(name)
        if port is not None:
            insecure = probe.client_context(None)
            return lambda: (
                probe.get(
                    "127.0.0.1", port, "/healthz", context=insecure, factory=self.sockets.socket
                )[0]
                == 200
            )
        raise KeyError(name)

    def api_get(self, path: str) -> tuple[int, bytes]:
        return self._api_get(path)

    def _api_get(self, path: str) -> tuple[int, bytes]:
        return probe.get("127.0.0.1", self.api_forward.port, path, context=self.admin_tls)

    def _default_service_account(self) -> bool:
        return self._api_get("/api/v1/namespaces/default/serviceaccounts/default")[0] == 200

    def wait_ready(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                raise StartFailed("interrupted")
            for running in self.running.values():
                if running.process.poll() is not None:
                    raise StartFailed(
                        f"{running.component.name} exited with {running.process.returncode} "
                        f"while waiting for {what}: {_tail(running)}"
                    )
            if check():
                return
            time.sleep(0.2)
        raise StartFailed(f"{what} not ready after {START_TIMEOUT:.0f} s")


def _terminate_all(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to all at once (a throw-away cluster needs no ordered shutdown), SIGKILL to
    whatever still runs after the grace period."""
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait()


def _tail(running: Running, lines: int = 5) -> str:
    try:
        with open(running.log.name, "rb") as f:  # type: ignore[attr-defined]
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return " | ".join(line[-300:] for line in text.strip().splitlines()[-lines:])
