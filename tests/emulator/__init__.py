"""A stateful Kubernetes API server emulator for tests (see README.md in this folder)."""

from tests.emulator.emulator import KubeEmulator
from tests.emulator.server import RecordedRequest

__all__ = ["KubeEmulator", "RecordedRequest"]
