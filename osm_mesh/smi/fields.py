"""Field readers shared by the SMI parsers: each reports what is wrong at which path."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from osm_mesh.smi import codes
from osm_mesh.smi.codes import Code
from osm_mesh.smi.model import (
    ObjectRef,
    Problem,
)
from osm_mesh.validation import dns1123_label_problem, dns1123_subdomain_problem


@dataclass
class Ctx:
    ref: ObjectRef
    problems: list[Problem] = field(default_factory=list)

    def error(
        self, path: str, message: str, hint: str = "", code: Code = codes.INVALID_FIELD
    ) -> None:
        self.problems.append(Problem("error", self.ref, path, message, hint, code=code.id))

    def warn(
        self, path: str, message: str, hint: str = "", code: Code = codes.INEFFECTIVE_FIELD
    ) -> None:
        self.problems.append(Problem("warning", self.ref, path, message, hint, code=code.id))

    def info(self, path: str, message: str, hint: str, code: Code) -> None:
        self.problems.append(Problem("info", self.ref, path, message, hint, code=code.id))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


def object_header(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    """apiVersion, kind, name ('' when missing), namespace (``default`` when missing)."""
    raw_meta = obj.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    return (
        str(obj.get("apiVersion", "")),
        str(obj.get("kind", "")),
        str(meta.get("name") or ""),
        str(meta.get("namespace") or "default"),
    )


def names_valid(ctx: Ctx, name: str, namespace: str) -> bool:
    """Report a missing or invalid metadata.name / metadata.namespace; False when there was one."""
    if not name:
        ctx.error("metadata.name", "missing name", "set metadata.name", codes.INVALID_NAME)
        return False
    for path, value, check in (
        ("metadata.name", name, dns1123_subdomain_problem),
        ("metadata.namespace", namespace, dns1123_label_problem),
    ):
        problem = check(value)
        if problem:
            ctx.error(
                path,
                f"invalid name {value!r}: {problem}",
                "use e.g. 'my-policy'",
                codes.INVALID_NAME,
            )
    return not ctx.failed


def mapping(ctx: Ctx, value: Any, path: str, required: bool = False) -> dict[str, Any]:
    if value is None:
        if required:
            ctx.error(path, "is required", f"add {path}")
        return {}
    if not isinstance(value, dict):
        ctx.error(
            path,
            f"must be a mapping, got {type(value).__name__}",
            f"write {path} as key: value pairs",
        )
        return {}
    return value


def seq(ctx: Ctx, value: Any, path: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        ctx.error(path, f"must be a list, got {type(value).__name__}", f"write {path} as a list")
        return []
    return value


def text(ctx: Ctx, value: Any, path: str, required: bool = True) -> str:
    if value is None or value == "":
        if required:
            ctx.error(path, "is required", f"set {path}")
        return ""
    if not isinstance(value, str):
        ctx.error(path, f"must be a string, got {type(value).__name__}", "quote the value")
        return ""
    return value


def unknown_keys(ctx: Ctx, data: dict[str, Any], path: str, known: tuple[str, ...]) -> None:
    # The API server prunes unknown fields silently; a typo ("source:") then means the policy
    # quietly does less than intended, so say so.
    for key in data:
        if key not in known:
            ctx.warn(
                f"{path}.{key}" if path else key,
                "unknown field (ignored by the API server)",
                "known fields: " + ", ".join(known),
                codes.UNKNOWN_FIELD,
            )


# Python accepts these, Envoy's RE2 does not: Envoy would reject the whole listener update.
# (An escaped backslash followed by a digit, "\\\\1", is a literal and fine.)
_NOT_RE2 = re.compile(r"(?<!\\)(?:\\\\)*(\(\?(?:=|!|<=|<!|>)|\\[1-9])")


def check_regex(ctx: Ctx, value: str, path: str, *, sent_as: str | None = None) -> None:
    """``value`` must be a regex Envoy runs (RE2, as Envoy compiles it); ``sent_as`` is the
    string actually sent to Envoy (e.g. ``(?:<pathRegex>).*``) when it differs -- its RE2
    program size is what Envoy limits. A failure is an error: the object is left out of
    the catalog rather than sent to Envoy, whose NACK would freeze the proxy's config."""
    from osm_mesh.smi.envoy_regex import envoy_regex_problem, re2_syntax_error

    found = _NOT_RE2.search(value)
    if found:
        ctx.error(
            path,
            f"regular expression {value!r} uses {found.group(1)!r}, which Envoy's RE2 engine "
            "does not support (no lookaround, atomic groups or backreferences)",
            "rewrite the regex without it",
            codes.INVALID_REGEX,
        )
        return
    syntax = re2_syntax_error(value)
    if syntax:
        ctx.error(
            path,
            f"invalid regular expression {value!r} (RE2, as Envoy runs it): {syntax}",
            "use RE2 syntax (https://github.com/google/re2/wiki/Syntax): no \\Z, lookaround, "
            "backreferences or repetitions over 1000",
            codes.INVALID_REGEX,
        )
        return
    problem = envoy_regex_problem(sent_as or value)
    if problem:
        ctx.error(
            path,
            f"regular expression {value!r} would be refused by Envoy: {problem}",
            "shorten it, or split it into several matches",
            codes.INVALID_REGEX,
        )


def port_number(ctx: Ctx, value: Any, path: str) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        ctx.error(path, f"invalid port {value!r}", "use an integer between 1 and 65535")
        return None
    return value
