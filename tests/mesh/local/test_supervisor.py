from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from osm_mesh.local.supervisor import ProcessExited, Supervisor


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # A zombie is dead for our purpose (state field after the command).
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in pids if _alive(p)]
        if not left:
            return []
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_logs_and_stop(tmp_path: Path):
    sup = Supervisor(tmp_path)
    child = sup.start(
        "talker",
        [
            sys.executable,
            "-c",
            "print('hello from child', flush=True); import time; time.sleep(60)",
        ],
        env={"PATH": os.environ["PATH"]},
    )
    deadline = time.monotonic() + 5
    while "hello from child" not in child.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.log_path == tmp_path / "talker.log"
    assert "hello from child" in child.log_path.read_text()
    sup.check()  # still running: no error
    sup.stop(grace=1)
    assert not _alive(child.pid)
    assert child.process.returncode is not None


def test_fail_fast_reports_exit_code_and_log_tail(tmp_path: Path):
    sup = Supervisor(tmp_path)
    try:
        child = sup.start(
            "crasher",
            [sys.executable, "-c", "import sys; print('bad config', flush=True); sys.exit(3)"],
            env={},
        )
        child.process.wait(5)
        with pytest.raises(ProcessExited) as info:
            sup.check()
        assert info.value.message == "crasher exited with code 3"
        assert "bad config" in (info.value.hint or "")
    finally:
        sup.stop(grace=0.5)


def test_missing_program_is_one_clear_error(tmp_path: Path):
    sup = Supervisor(tmp_path)
    try:
        with pytest.raises(Exception, match="no-such-program-xyz not found"):
            sup.start("ghost", ["no-such-program-xyz"], env={"PATH": "/nonexistent"})
    finally:
        sup.stop()


def test_children_started_from_a_short_lived_thread_survive_it(tmp_path: Path):
    # PDEATHSIG follows the forking *thread*: the supervisor forks from its own
    # long-lived thread, so the caller's thread ending must not kill the child.
    sup = Supervisor(tmp_path)
    started = []
    worker = threading.Thread(
        target=lambda: started.append(
            sup.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], env={})
        )
    )
    worker.start()
    worker.join()
    time.sleep(0.3)
    try:
        assert _alive(started[0].pid)
        sup.check()
    finally:
        sup.stop(grace=1)


def test_sigterm_ignoring_child_is_killed_after_grace(tmp_path: Path):
    sup = Supervisor(tmp_path)
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        "print('up', flush=True); time.sleep(60)"
    )
    child = sup.start("stubborn", [sys.executable, "-c", code], env={})
    deadline = time.monotonic() + 5
    while "up" not in child.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    started = time.monotonic()
    sup.stop(grace=0.5)
    assert time.monotonic() - started < 3
    assert child.process.returncode == -signal.SIGKILL


def test_no_orphans_when_the_parent_is_sigkilled(tmp_path: Path):
    parent_code = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from osm_mesh.local.supervisor import Supervisor
        sup = Supervisor(Path({str(tmp_path)!r}))
        argv = [sys.executable, "-c", "import time; time.sleep(120)"]
        pids = [sup.start(f"c{{i}}", argv, env={{}}).pid for i in range(3)]
        print(json.dumps(pids), flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = json.loads(parent.stdout.readline())
        assert all(_alive(p) for p in pids)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert _wait_gone(pids) == []
    finally:
        parent.kill()
