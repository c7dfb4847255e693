"""Server-side apply, as helm v4 uses it for every chart object: create, removal of what a
manager no longer applies, two managers side by side, conflicts and ``force``.
(Conflicts with managers of plain updates are not modelled by the emulator: see the note.)"""

from __future__ import annotations

import json

from tests.kube.parity.compare import assert_same
from tests.kube.parity.conftest import Pair, status_of

APPLY = "application/apply-patch+yaml"


def _configmap(**data: str) -> str:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": data}
    return json.dumps(body)


def test_apply_sequence(pair: Pair) -> None:
    path = f"/api/v1/namespaces/{pair.namespace}/configmaps/s"
    steps = [
        ("alpha", _configmap(a="1", b="2"), {}),  # creates
        ("alpha", _configmap(a="1"), {}),  # b no longer applied: removed
        ("beta", _configmap(c="3"), {}),  # a second manager beside it
        ("beta", _configmap(a="x", c="3"), {}),  # a is alpha's: conflict
        ("beta", _configmap(a="x", c="3"), {"force": "true"}),  # taken over
        ("alpha", _configmap(b="5"), {}),  # alpha lost a: no conflict, a stays (beta's)
        ("beta", _configmap(a="1"), {}),  # beta drops c
        ("", _configmap(a="1"), {}),  # no field manager
    ]

    def send(side):
        seen = []
        for manager, body, extra in steps:
            query = {"fieldManager": manager, **extra} if manager else dict(extra)
            reply = side.patch(path, body, APPLY, query=query)
            if reply.code in (200, 201):
                seen.append((reply.code, reply.body.get("data")))
            else:
                seen.append(status_of(reply))
        return seen

    emu, real = pair.each(send)
    assert [s[0] if isinstance(s, tuple) else s["code"] for s in real] == [
        201, 200, 200, 409, 200, 200, 200, 422
    ]  # fmt: skip
    assert_same(emu, real)
