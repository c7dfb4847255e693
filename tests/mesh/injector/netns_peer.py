"""A process for one end of the iptables test, run inside a network namespace.

    python netns_peer.py serve TAG PORT...        # answer "<TAG> <port> <original dst>" per conn
    python netns_peer.py connect HOST PORT [UID]  # print the answer (or "refused"/"timeout")

``original dst`` is what SO_ORIGINAL_DST says for a redirected connection: where the app
meant to go (what Envoy's original_dst listener filter reads); "-" when not redirected.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
import threading

SO_ORIGINAL_DST = 80


def original_dst(conn: socket.socket) -> str:
    try:
        raw = conn.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    except OSError:
        return "-"
    port = struct.unpack("!H", raw[2:4])[0]
    original = f"{socket.inet_ntoa(raw[4:8])}:{port}"
    local_ip, local_port = conn.getsockname()[:2]
    # Only a redirected connection has an original destination other than its own.
    return "-" if original == f"{local_ip}:{local_port}" else original


def serve(tag: str, ports: list[int]) -> None:
    def loop(listener: socket.socket, port: int) -> None:
        while True:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(f"{tag} {port} {original_dst(conn)}\n".encode())

    for port in ports:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("0.0.0.0", port))
        listener.listen(16)
        threading.Thread(target=loop, args=(listener, port), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()  # until the test closes our stdin


def connect(host: str, port: int, uid: int | None) -> None:
    # Load what create_connection imports lazily while files are still readable (the
    # interpreter may live under a directory the new UID cannot read).
    socket.getaddrinfo(host, port)
    if uid is not None:
        os.setgid(uid)
        os.setuid(uid)
    try:
        with socket.create_connection((host, port), timeout=1.5) as conn:
            print(conn.makefile().readline().strip())
    except ConnectionRefusedError:
        print("refused")
    except OSError:
        print("timeout")


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], [int(p) for p in sys.argv[3:]])
    else:
        connect(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
