"""Simulated proxies that also say *when* a piece of configuration reached them.

The proxies are benchmarks/adsload's (``SimulatedProxy``: Envoy's state-of-the-world ADS
behaviour, its own TLS connection and client certificate each); this process adds what a
comparison of two different control planes needs, measured on the proxies' side, since only
ours can report ACKs itself:

- ``synced``: the moment each proxy first holds a response for every type it subscribes to
  (CDS and LDS, and EDS, RDS and SDS once it has names for them);
- ``watch MARKER`` (a line on stdin): from then on, the first response that carries MARKER (a
  string in any resource, e.g. a new path in a route table) is reported per proxy, with the
  time it arrived (epoch seconds; the proxy ACKs it at once, as Envoy does once applied), and
  every response counts towards how many proxies the control plane pushed to;
- ``report MARKER``: one line with what was seen for it so far: which proxies, when, how many
  were pushed to; ``unwatch MARKER`` ends the watch.

Lines out (JSON): ``running`` (all streams answered; ``synced`` seconds), ``report``,
``stopped``. ``python -m benchmarks.upstreamscale.client SPEC --first I --count N``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.adsload.client import CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET, SimulatedProxy

ALWAYS = (CLUSTER, LISTENER)
BY_NAME = (ENDPOINT, ROUTE, SECRET)


@dataclass
class Watch:
    marker: bytes
    since: float
    seen: dict[str, float] = field(default_factory=dict)  # node id -> epoch seconds
    pushed: set[str] = field(default_factory=set)  # nodes that got any response since
    responses: int = 0


@dataclass
class State:
    started: float = field(default_factory=time.time)
    streams: int = 0
    answered: int = 0
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    synced: dict[str, float] = field(default_factory=dict)
    responses: int = 0
    watches: dict[str, Watch] = field(default_factory=dict)


def is_synced(proxy: SimulatedProxy) -> bool:
    if any(t not in proxy.version for t in ALWAYS):
        return False
    return all(t in proxy.version for t in BY_NAME if proxy.names.get(t))


def observe(state: State, proxy: SimulatedProxy, resp: Any, now: float) -> None:
    state.responses += 1
    node = proxy.node_id
    if node not in state.synced and is_synced(proxy):
        state.synced[node] = now
    if not state.watches:
        return
    raw = b"".join(r.value for r in resp.resources)
    for watch in state.watches.values():
        watch.responses += 1
        watch.pushed.add(node)
        if node not in watch.seen and watch.marker in raw:
            watch.seen[node] = now


async def run_proxy(spec: dict[str, Any], entry: dict[str, Any], state: State) -> None:
    import grpc
    import grpc.aio
    from envoy.service.discovery.v3 import ads_pb2_grpc

    creds = grpc.ssl_channel_credentials(
        root_certificates=spec["_ca"],
        private_key=entry["key"].encode(),
        certificate_chain=entry["cert"].encode(),
    )
    options = [
        ("grpc.ssl_target_name_override", spec["server_name"]),
        ("grpc.default_authority", spec["server_name"]),
        ("grpc.use_local_subchannel_pool", 1),  # its own connection, as each Envoy has
        ("grpc.max_receive_message_length", 64 << 20),
    ]
    proxy = SimulatedProxy(entry["node"], entry.get("cluster", ""))
    answered = False
    async with grpc.aio.secure_channel(spec["address"], creds, options=options) as channel:
        call = ads_pb2_grpc.AggregatedDiscoveryServiceStub(channel).StreamAggregatedResources()
        await call.write(proxy.request(CLUSTER, first=True))
        await call.write(proxy.request(LISTENER))
        state.streams += 1
        try:
            while True:
                resp = await call.read()
                if resp is grpc.aio.EOF:
                    break
                now = time.time()
                requests = proxy.on_response(resp)  # records the version before the check
                observe(state, proxy, resp, now)
                for req in requests:
                    await call.write(req)
                if not answered:
                    answered = True
                    state.answered += 1
        finally:
            state.streams -= 1
            call.cancel()


def _emit(data: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(data) + "\n")
    sys.stdout.flush()


def report(state: State, marker: str) -> dict[str, Any]:
    watch = state.watches.get(marker)
    if watch is None:
        return {"event": "report", "marker": marker, "error": "not watched"}
    return {
        "event": "report",
        "marker": marker,
        "since": watch.since,
        "seen": watch.seen,
        "pushed": len(watch.pushed),
        "responses": watch.responses,
    }


async def main_async(spec: dict[str, Any], entries: list[dict[str, Any]], ramp: int) -> State:
    state = State()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def commands() -> None:
        while line := await reader.readline():
            verb, _, marker = line.decode().strip().partition(" ")
            if verb == "watch":
                state.watches[marker] = Watch(marker.encode(), time.time())
            elif verb == "report":
                _emit(report(state, marker))
            elif verb == "unwatch":
                state.watches.pop(marker, None)
        stop.set()  # stdin closed: the launcher is done with us

    async def supervised(entry: dict[str, Any]) -> None:
        try:
            await run_proxy(spec, entry, state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one proxy failing must not stop the others: report it
            state.failures += 1
            if len(state.errors) < 20:
                state.errors.append(f"{entry['node']}: {type(exc).__name__}: {exc}"[:300])

    command_task = asyncio.ensure_future(commands())
    tasks = []
    for i in range(0, len(entries), ramp):
        tasks += [asyncio.ensure_future(supervised(e)) for e in entries[i : i + ramp]]
        # Let a wave finish its TLS handshakes before the next one starts.
        deadline = time.monotonic() + 600
        while state.answered + state.failures < min(i + ramp, len(entries)):
            if stop.is_set() or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.02)
    deadline = time.monotonic() + 600
    while len(state.synced) + state.failures < len(entries) and not stop.is_set():
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    synced = max(state.synced.values(), default=state.started) - state.started
    _emit(
        {
            "event": "running",
            "proxies": len(entries),
            "answered": state.answered,
            "synced": len(state.synced),
            "synced_seconds": round(synced, 3),
            "failures": state.failures,
            "errors": state.errors[:5],
        }
    )
    await stop.wait()
    command_task.cancel()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, command_task, return_exceptions=True)
    return state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.upstreamscale.client")
    parser.add_argument("spec", type=Path)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--ramp", type=int, default=100, help="streams opened per wave")
    args = parser.parse_args(argv)
    spec = json.loads(args.spec.read_text())
    spec["_ca"] = Path(spec["ca_file"]).read_bytes()
    entries = spec["proxies"][args.first :]
    if args.count is not None:
        entries = entries[: args.count]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = len(entries) + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(wanted, soft), hard), hard))
    state = asyncio.run(main_async(spec, entries, args.ramp))
    _emit(
        {
            "event": "stopped",
            "responses": state.responses,
            "failures": state.failures,
            "errors": state.errors,
            "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            "pid": os.getpid(),
        }
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
