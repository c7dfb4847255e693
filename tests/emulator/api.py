"""The API server's semantics, independent of HTTP: the registry of resource types
and the verbs (create, get, list, replace, patch, delete, deletecollection).

Both the HTTP handler and the test-facing KubeEmulator methods call this, so an
object seeded with ``emu.create`` is indistinguishable from one a client
POSTed. Writes notify listeners (the workload simulation) synchronously, which
keeps tests deterministic: when a create returns, its pods already exist.
"""

from __future__ import annotations

import builtins
import copy
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import yaml

from tests.emulator import objects, patch, schema, status
from tests.emulator.resources import BUILTIN, PRESEEDED_CUSTOM, ResourceType, from_crd
from tests.emulator.selectors import field_selector, label_selector
from tests.emulator.store import Store

CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY = ("", "namespaces")
CRD_CLEANUP_FINALIZER = "customresourcecleanup.apiextensions.k8s.io"
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's generateName alphabet

Listener = Callable[[ResourceType, str, "dict | None", "dict | None"], None]


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_NAME_CHARS) for _ in range(n))


class Api:
    def __init__(self) -> None:
        self.store = Store()
        self.types: dict[tuple[str, str], ResourceType] = {}
        for rt in (*BUILTIN, *PRESEEDED_CUSTOM):
            self.types[rt.key] = rt
        self.listeners: list[Listener] = []
        # Server-side apply: the field paths each (object, field manager) last applied.
        self.applied: dict[tuple, set[tuple[str, ...]]] = {}
        # openAPIV3Schema of each served version of each created CRD: ((group, plural), version)
        self.schemas: dict[tuple[tuple[str, str], str], dict] = {}
        # How long a deleted namespace or CRD stays Terminating (0: removed within the DELETE).
        self.finalize_s = 0.05
        self.terminating_types: set[tuple[str, str]] = set()  # of CRDs being deleted
        for name in INITIAL_NAMESPACES:
            self.create(self.types[NAMESPACE_KEY], None, {"metadata": {"name": name}})

    # --- registry ---------------------------------------------------------------

    def resource(self, group: str, version: str, plural: str) -> ResourceType | None:
        rt = self.types.get((group, plural))
        return rt if rt and version in rt.versions else None

    def by_kind(self, api_version: str, kind: str) -> tuple[ResourceType, str]:
        group, _, version = api_version.rpartition("/")
        for rt in self.types.values():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return rt, version
        raise status.ApiError(
            404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"'
        )

    def groups(self) -> dict[str, list[ResourceType]]:
        result: dict[str, list[ResourceType]] = {}
        for rt in self.types.values():
            result.setdefault(rt.group, []).append(rt)
        return result

    # --- helpers ------------------------------------------------------------------

    def _present(self, rt: ResourceType, obj: dict, version: str | None) -> dict:
        obj["apiVersion"] = rt.api_version(version)
        obj["kind"] = rt.kind
        return obj

    def _ns(self, rt: ResourceType, namespace: str | None) -> str:
        return (namespace or "") if rt.namespaced else ""

    def _notify(self, rt: ResourceType, event: str, old: dict | None, new: dict | None) -> None:
        for listener in list(self.listeners):
            listener(rt, event, old, new)

    def _forget_applied(self, rt: ResourceType, namespace: str, name: str) -> None:
        for owner_key in [k for k in self.applied if k[:3] == (rt.key, namespace, name)]:
            del self.applied[owner_key]

    def _require_namespace(self, namespace: str) -> None:
        if self.store.get(NAMESPACE_KEY, "", namespace) is None:
            raise status.not_found(self.types[NAMESPACE_KEY], namespace)

    # --- verbs --------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str, version=None) -> dict:
        obj = self.store.get(rt.key, self._ns(rt, namespace), name)
        if obj is None:
            raise status.not_found(rt, name)
        return self._present(rt, obj, version)

    def list(
        self,
        rt: ResourceType,
        namespace: str | None = None,
        label: str | None = None,
        field: str | None = None,
        version: str | None = None,
    ) -> builtins.list[dict]:
        by_label, by_field = label_selector(label), field_selector(field, rt.key)
        with self.store.lock:
            items = self.store.list(rt.key, namespace if rt.namespaced else None)
        return [self._present(rt, obj, version) for obj in items if by_label(obj) and by_field(obj)]

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: dict,
        version: str | None = None,
        dry_run: bool = False,
        notify: bool = True,
        strict: bool = False,
    ) -> dict:
        if not isinstance(body, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rt.api_version(version), rt.kind
        meta = obj.setdefault("metadata", {})
        namespace = namespace or meta.get("namespace") if rt.namespaced else None
        if rt.namespaced and not namespace:
            raise status.bad_request("the namespace of the object must be set")
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != namespace:
            raise status.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + random_suffix()
        objects.validate_name(rt, obj)
        with self.store.lock:
            if rt.key in self.terminating_types:
                raise status.crd_terminating(rt, meta["name"])
            if namespace:
                self._require_namespace(namespace)
                holder = self.store.get(NAMESPACE_KEY, "", namespace)
                if holder and holder["metadata"].get("deletionTimestamp"):
                    raise status.namespace_terminating(rt, meta["name"], namespace)
            existing = self.store.get(rt.key, namespace or "", meta["name"])
            if existing is not None:
                if existing["metadata"].get("deletionTimestamp"):
                    raise status.being_deleted(rt, meta["name"])
                raise status.already_exists(rt, meta["name"])
            objects.fill_metadata(obj, namespace, rt)
            # A new object starts with no applied fields (an earlier one of that name may
            # have gone with its namespace).
            self._forget_applied(rt, namespace or "", meta["name"])
            objects.apply_defaults(rt, obj)
            obj = self._check_schema(rt, version, obj, strict)
            if rt.key == CRD_KEY:
                self._register_crd(obj)
            if dry_run:
                obj["metadata"]["resourceVersion"] = ""
                return obj
            stored = self.store.put(rt.key, obj, "ADDED")
        if notify:
            self._notify(rt, "ADDED", None, copy.deepcopy(stored))
        self._collect_if_orphan(rt, stored)
        return stored

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: dict,
        version: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        notify: bool = True,
        strict: bool = False,
    ) -> dict:
        if not isinstance(body, dict):
            raise status.bad_request("the body of the request must be a JSON object")
        ns = self._ns(rt, namespace)
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") and body_meta["name"] != name:
            raise status.bad_request(
                f"the name of the object ({body_meta['name']}) does not match the name on "
                f"the URL ({name})"
            )
        with self.store.lock:
            current = self.store.get(rt.key, ns, name)
            if current is None:
                raise status.not_found(rt, name)
            sent_rv = body_meta.get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise status.conflict(rt, name)
            obj = copy.deepcopy(body)
            if subresource == "status":
                # Only status changes through /status.
                new = copy.deepcopy(current)
                new["status"] = obj.get("status", {})
                obj = new
            elif "status" in rt.subresources and "status" in current:
                # The main resource ignores status when a /status subresource exists.
                obj["status"] = current["status"]
            meta = obj.setdefault("metadata", {})
            meta["name"] = name
            if ns:
                meta["namespace"] = ns
            for kept in ("uid", "creationTimestamp", "generation"):
                if kept in current["metadata"]:
                    meta[kept] = current["metadata"][kept]
            obj["apiVersion"], obj["kind"] = rt.api_version(version), rt.kind
            # Defaults first, as the API server does: a write that only omits defaulted
            # fields (helm's server-side apply) must not bump the generation, or
            # observedGeneration would lag forever behind an unchanged spec.
            objects.apply_defaults(rt, obj)
            objects.check_immutable(rt, obj, current)
            obj = self._check_schema(rt, version, obj, strict)
            meta = obj["metadata"]
            if _spec_part(obj) != _spec_part(current) and objects.has_generation(rt):
                meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
            if not objects.has_generation(rt):
                meta.pop("generation", None)
            if _unchanged(obj, current):
                # The API server skips a write that changes nothing: same resourceVersion,
                # no watch event (an informer must not see churn that never happened).
                return self._present(rt, current, version)
            if rt.key == CRD_KEY:
                self._register_crd(obj)
            if dry_run:
                return obj
            stored = self.store.put(rt.key, obj, "MODIFIED")
        if notify:
            self._notify(rt, "MODIFIED", current, copy.deepcopy(stored))
        self._collect_if_orphan(rt, stored)
        return stored

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        version: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        field_manager: str | None = None,
        strict: bool = False,
        force: bool = False,
    ) -> dict:
        content_type = content_type.split(";")[0].strip().lower()
        try:
            if content_type == "application/apply-patch+yaml":
                body: Any = yaml.safe_load(raw.decode() or "{}")
            else:
                body = json.loads(raw.decode() or "null")
        except (ValueError, yaml.YAMLError) as exc:
            raise status.bad_request(f"error decoding patch: {exc}") from None
        ns = self._ns(rt, namespace)
        owner_key = (rt.key, ns, name, field_manager or "")
        if content_type == "application/apply-patch+yaml" and not field_manager:
            raise status.field_manager_required()
        with self.store.lock:
            current = self.store.get(rt.key, ns, name)
            if current is None:
                if content_type == "application/apply-patch+yaml":
                    # Server-side apply creates what does not exist yet.
                    created = self.create(rt, namespace, body, version, dry_run=dry_run)
                    if not dry_run and isinstance(body, dict):
                        self.applied[owner_key] = patch.leaf_paths(_applied_fields(body))
                    return created
                raise status.not_found(rt, name)
            if content_type == "application/json-patch+json":
                patched = patch.json_patch(current, body)
            elif content_type == "application/merge-patch+json":
                patched = patch.merge_patch(current, body)
            elif content_type == "application/strategic-merge-patch+json":
                if not rt.builtin:
                    raise status.unsupported_media_type(content_type, patch=True)
                patched = patch.strategic_merge_patch(current, body)
            elif content_type == "application/apply-patch+yaml":
                if not isinstance(body, dict):
                    raise status.bad_request("an applied configuration must be an object")
                applied = _applied_fields(body)
                others = {k: v for k, v in self.applied.items() if k[:3] == owner_key[:3]}
                others.pop(owner_key, None)
                conflicts = _apply_conflicts(current, applied, others)
                if conflicts and not force:
                    raise status.apply_conflicts(conflicts)
                shared = set().union(*others.values()) if others else set()
                patched, owned = patch.server_side_apply(
                    current, applied, self.applied.get(owner_key, set()), shared
                )
                if not dry_run:
                    self.applied[owner_key] = owned
                    for other_key, path in ((k, p) for k, _, p in conflicts):
                        self.applied[other_key].discard(path)  # forced: ownership moves
            else:
                raise status.unsupported_media_type(content_type, patch=True)
            if not isinstance(patched, dict):
                raise status.bad_request("the patch produced something that is not an object")
            if subresource != "status" and "status" in rt.subresources and "status" in current:
                patched["status"] = current["status"]
            return self.replace(
                rt, namespace, name, patched, version, subresource, dry_run=dry_run, strict=strict
            )

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        version: str | None = None,
        propagation: str | None = None,
        dry_run: bool = False,
        notify: bool = True,
    ) -> dict:
        ns = self._ns(rt, namespace)
        with self.store.lock:
            current = self.store.get(rt.key, ns, name)
            if current is None:
                raise status.not_found(rt, name)
            if dry_run:
                return self._present(rt, current, version)
            if rt.key == NAMESPACE_KEY:
                return self._present(rt, self._terminate_namespace(current), version)
            if rt.key == CRD_KEY:
                return self._present(rt, self._terminate_crd(current), version)
            removed = self.store.remove(rt.key, ns, name)
            assert removed is not None
            self._forget_applied(rt, ns, name)
            removed["metadata"]["deletionTimestamp"] = objects.now()
            if propagation != "Orphan":
                self._collect_garbage(removed["metadata"]["uid"])
        if notify:
            self._notify(rt, "DELETED", current, None)
        return self._present(rt, removed, version)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label: str | None = None,
        field: str | None = None,
    ) -> builtins.list[dict]:
        with self.store.lock:
            victims = self.list(rt, namespace, label, field)
            return [
                self.delete(rt, o["metadata"].get("namespace"), o["metadata"]["name"])
                for o in victims
            ]

    def _check_schema(self, rt: ResourceType, version: str | None, obj: dict, strict: bool) -> dict:
        """A custom resource as its CRD's schema leaves it: pruned, or refused."""
        if rt.builtin:
            return obj
        version = version or rt.versions[0]
        structural = self.schemas.get((rt.key, version))
        if structural is None:
            return obj
        pruned, unknown = schema.prune(structural, obj)
        if unknown and strict:
            fields = ", ".join(f'unknown field "{path}"' for path in unknown)
            raise status.bad_request(
                f'{rt.kind} in version "{version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {fields}"
            )
        causes = schema.validate(structural, pruned)
        if causes:
            raise status.invalid_causes(rt, pruned["metadata"].get("name", ""), causes)
        return pruned

    # --- cascades ---------------------------------------------------------------------

    def _terminate_namespace(self, current: dict) -> dict:
        """As kube-apiserver and the namespace controller: the DELETE marks the namespace
        Terminating and answers with it; its content goes; the namespace itself is removed
        ``finalize_s`` later (real clusters: seconds). Meanwhile creates in it are
        refused (403) and a new namespace of that name is "being deleted" (409)."""
        name = current["metadata"]["name"]
        if current["metadata"].get("deletionTimestamp"):
            return current  # a second DELETE answers the same
        current["metadata"]["deletionTimestamp"] = objects.now()
        current.setdefault("status", {})["phase"] = "Terminating"
        terminating = self.store.put(NAMESPACE_KEY, current, "MODIFIED")
        self._delete_namespace_contents(name)
        uid = terminating["metadata"]["uid"]
        self._later(self._finalize_namespace, name, uid)
        return terminating

    def _later(self, finalize: Callable[[str, str], None], name: str, uid: str) -> None:
        if self.finalize_s <= 0:
            finalize(name, uid)
            return
        timer = threading.Timer(self.finalize_s, finalize, (name, uid))
        timer.daemon = True
        timer.start()

    def _terminate_crd(self, current: dict) -> dict:
        """A CRD's deletion is asynchronous too: Terminating (finalizer
        customresourcecleanup), its objects deleted, then it goes; creates of its kind get
        403 meanwhile (divergence 2 in docs/real-kubernetes.md)."""
        meta = current["metadata"]
        if meta.get("deletionTimestamp"):
            return current
        meta["deletionTimestamp"] = objects.now()
        meta["finalizers"] = [*(meta.get("finalizers") or []), CRD_CLEANUP_FINALIZER]
        conditions = current.setdefault("status", {}).setdefault("conditions", [])
        conditions.append(
            {
                "type": "Terminating",
                "status": "True",
                "lastTransitionTime": meta["deletionTimestamp"],
                "reason": "InstanceDeletionPending",
                "message": "CustomResourceDefinition marked for deletion; CustomResource "
                "deletion will begin soon",
            }
        )
        terminating = self.store.put(CRD_KEY, current, "MODIFIED")
        rt = from_crd(current)
        if rt is not None:
            self.terminating_types.add(rt.key)
            for obj in self.store.list(rt.key):
                self.store.remove(
                    rt.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                )
        self._later(self._finalize_crd, meta["name"], meta["uid"])
        return terminating

    def _finalize_crd(self, name: str, uid: str) -> None:
        with self.store.lock:
            current = self.store.get(CRD_KEY, "", name)
            if current is None or current["metadata"].get("uid") != uid:
                return
            self.store.remove(CRD_KEY, "", name)
            self._unregister_crd(current)
            rt = from_crd(current)
            if rt is not None:
                self.terminating_types.discard(rt.key)
        self._notify(self.types[CRD_KEY], "DELETED", current, None)

    def _finalize_namespace(self, name: str, uid: str) -> None:
        rt = self.types[NAMESPACE_KEY]
        with self.store.lock:
            current = self.store.get(NAMESPACE_KEY, "", name)
            if current is None or current["metadata"].get("uid") != uid:
                return
            self._delete_namespace_contents(name)  # what was created in the meantime
            self.store.remove(NAMESPACE_KEY, "", name)
            self._forget_applied(rt, "", name)
            self._collect_garbage(uid)
        self._notify(rt, "DELETED", current, None)

    def _delete_namespace_contents(self, namespace: str) -> None:
        for key in self.store.kinds():
            rt = self.types.get(key)
            if rt is None or not rt.namespaced:
                continue
            for obj in self.store.list(key, namespace):
                self.store.remove(key, namespace, obj["metadata"]["name"])

    def _collect_if_orphan(self, rt: ResourceType, obj: dict) -> None:
        """The garbage collector deletes an object none of whose owners exist (same name and
        uid): a Secret owned by a Pod that is gone does not survive on a real cluster.
        (It does so within moments; here at once, after the write has answered.)"""
        refs = obj["metadata"].get("ownerReferences") or []
        if not refs:
            return
        namespace = obj["metadata"].get("namespace", "")
        for ref in refs:
            try:
                owner_rt, _ = self.by_kind(str(ref.get("apiVersion", "")), str(ref.get("kind")))
            except status.ApiError:
                return  # an owner of an unknown kind: the collector cannot tell, keeps it
            owner = self.store.get(
                owner_rt.key, namespace if owner_rt.namespaced else "", str(ref.get("name"))
            )
            if owner is not None and owner["metadata"].get("uid") == ref.get("uid"):
                return
        name = obj["metadata"]["name"]
        if self.store.get(rt.key, namespace, name) is not None:
            self.delete(rt, namespace or None, name)

    def _collect_garbage(self, owner_uid: str) -> None:
        """Delete dependents (ownerReferences) like the garbage collector, transitively."""
        for key in self.store.kinds():
            for obj in self.store.list(key):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == owner_uid for ref in refs):
                    removed = self.store.remove(
                        key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
                    )
                    if removed:
                        self._collect_garbage(removed["metadata"]["uid"])

    def _register_crd(self, crd: dict) -> None:
        rt = from_crd(crd)
        if rt is not None:
            self.types[rt.key] = rt
            for key in [k for k in self.schemas if k[0] == rt.key]:
                del self.schemas[key]
            for version in (crd.get("spec") or {}).get("versions") or []:
                structural = (version.get("schema") or {}).get("openAPIV3Schema")
                if version.get("name") in rt.versions and isinstance(structural, dict):
                    self.schemas[(rt.key, version["name"])] = structural

    def _unregister_crd(self, crd: dict) -> None:
        rt = from_crd(crd)
        if rt is None:
            return
        for key in [k for k in self.schemas if k[0] == rt.key]:
            del self.schemas[key]
        for obj in self.store.list(rt.key):
            self.store.remove(rt.key, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        known = {p.key: p for p in PRESEEDED_CUSTOM}
        if rt.key in known:
            self.types[rt.key] = known[rt.key]
        else:
            self.types.pop(rt.key, None)


def _value_at(obj: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _apply_conflicts(
    current: dict, applied: dict, others: dict[tuple, set[tuple[str, ...]]]
) -> builtins.list[tuple[tuple, str, tuple[str, ...]]]:
    """(owner key, manager, path) for every field another apply manager owns that this
    apply would change. (Managers of plain updates are not tracked: no conflicts with them.)"""
    wanted = patch.leaf_paths(applied)
    found = []
    for other_key in sorted(others, key=lambda k: k[3]):
        for path in sorted(wanted & others[other_key]):
            if _value_at(current, path) != _value_at(applied, path):
                found.append((other_key, other_key[3], path))
    return found


def _applied_fields(body: dict) -> dict:
    """The part of an applied configuration that names fields to own."""
    fields = {k: v for k, v in body.items() if k not in ("apiVersion", "kind", "status")}
    meta = {
        k: v
        for k, v in (fields.get("metadata") or {}).items()
        if k in ("labels", "annotations", "ownerReferences", "finalizers")
    }
    if meta:
        fields["metadata"] = meta
    else:
        fields.pop("metadata", None)
    return fields


def _unchanged(new: dict, current: dict) -> bool:
    def comparable(obj: dict) -> dict:
        meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        rest = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
        return {**rest, "metadata": meta}

    return comparable(new) == comparable(current)


def _spec_part(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}
