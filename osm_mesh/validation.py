"""Name and duration checks done before any call to the cluster."""

from __future__ import annotations

import re

from osm_mesh.errors import InvalidInput

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)


def dns1123_label_problem(value: str, max_length: int = 63) -> str | None:
    """Why ``value`` is not a DNS-1123 label (namespace, Service names), or None."""
    if not value:
        return "must not be empty"
    if len(value) > max_length:
        return f"must be no more than {max_length} characters"
    if not _DNS1123_LABEL.match(value):
        return (
            "must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character"
        )
    return None


def dns1123_subdomain_problem(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (most object names), or None."""
    if not value:
        return "must not be empty"
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return (
            "must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
    return None


def require_dns1123_label(kind: str, value: str, max_length: int = 63) -> str:
    problem = dns1123_label_problem(value, max_length)
    if problem:
        raise InvalidInput(f"invalid {kind} name {value!r}: {problem}")
    return value


def require_namespace_name(value: str) -> str:
    return require_dns1123_label("namespace", value)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s|ms)")


def parse_duration(text: str) -> float:
    """Go duration (``5m``, ``90s``, ``1h30m``) or plain seconds → seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = _DURATION_PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidInput(
                f"invalid duration {text!r}", hint="Use a duration such as 5m, 90s or 1h30m"
            )
        unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        seconds = sum(float(n) * unit[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInput(f"invalid duration {text!r}: must be positive")
    return seconds
