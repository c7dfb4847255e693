"""FileSource: snapshots, live changes, notifications."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from osm_mesh.catalog import FileSource, Source
from osm_mesh.catalog.model import Identity

DATA = Path(__file__).resolve().parents[2] / "data"
CANARY = "osm-canary-deployment-sample-app"


def split(v1: int, v2: int) -> dict:
    return {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "canary-deployment", "namespace": CANARY},
        "spec": {
            "service": f"api.{CANARY}",
            "backends": [{"service": "api-v1", "weight": v1}, {"service": "api-v2", "weight": v2}],
        },
    }


def test_file_source_reads_the_article_and_changes_live():
    source = FileSource([DATA / "article"], pod_ip=lambda ns, dep, i, pod: f"127.0.0.{10 + i}")
    assert isinstance(source, Source)
    first = source.snapshot()
    assert first.version == 1
    assert [b.weight for b in first.traffic_splits[0].backends] == [90, 10]
    assert all(p.ip for p in first.pods)

    changes = []
    unsubscribe = source.watch(changes.append)
    second = source.apply([split(50, 50)])
    assert second.version == 2 and changes == [second]
    assert [b.weight for b in source.snapshot().traffic_splits[0].backends] == [50, 50]
    assert first.traffic_splits[0].backends[0].weight == 90  # old snapshots never change

    third = source.delete("TrafficTarget", "api-v2", CANARY)
    assert [t.name for t in third.traffic_targets if t.namespace == CANARY] == ["api-v1"]
    unsubscribe()
    source.apply([split(0, 100)])
    assert len(changes) == 2


def test_wait_for_change_wakes_up_on_another_thread():
    source = FileSource(objects=[split(90, 10)], monitored="all")
    start = source.version
    timer = threading.Timer(0.05, lambda: source.apply([split(10, 90)]))
    timer.start()
    assert source.wait_for_change(start, timeout=5)
    assert source.version == start + 1
    assert not source.wait_for_change(source.version, timeout=0.01)
    timer.join()


def test_reload_rereads_files_and_keeps_yaml_errors_visible(tmp_path):
    shutil.copytree(DATA / "article" / "simple", tmp_path / "simple")
    source = FileSource([tmp_path])
    api = Identity("osm-simple-app", "api-service-account")
    assert [t.name for t in source.snapshot().traffic_targets_to(api)] == ["api"]
    (tmp_path / "simple" / "smi" / "access.yml").unlink()
    (tmp_path / "broken.yaml").write_text("kind: [\n")
    catalog = source.reload()
    assert catalog.traffic_targets_to(api) == ()
    assert any("invalid YAML" in p.message for p in catalog.problems)


def test_replace_objects_without_files():
    source = FileSource([DATA / "article"], monitored="all")
    catalog = source.replace_objects([split(1, 1)], keep_files=False)
    assert catalog.services == () and len(catalog.traffic_splits) == 1


def test_set_pod_ip_hook():
    source = FileSource([DATA / "article" / "simple"])
    assert all(p.ip == "" for p in source.snapshot().pods)
    catalog = source.set_pod_ip(lambda ns, dep, i, pod: "127.0.0.9")
    assert {p.ip for p in catalog.pods} == {"127.0.0.9"}


def test_concurrent_changes_are_serialized():
    source = FileSource(objects=[split(1, 1)], monitored="all")
    seen: list[int] = []
    source.watch(lambda catalog: seen.append(catalog.version))

    def writer(prefix: str) -> None:
        for i in range(20):
            obj = split(i, 1)
            obj["metadata"]["name"] = f"{prefix}-{i}"
            source.apply([obj])

    threads = [threading.Thread(target=writer, args=(p,)) for p in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == sorted(seen) and len(seen) == 40
    assert len(source.snapshot().traffic_splits) == 41
