"""Regexes checked the way Envoy runs them: RE2 (``safe_regex`` with ``google_re2``).

Envoy compiles every ``safe_regex`` with RE2's default options (quietly) and refuses the
whole resource -- a NACK, so every later change to that proxy is stuck too -- when RE2
cannot parse it or its program is larger than the runtime key
``re2.max_program_size.error_level`` (default 100; ``source/common/common/regex.cc``).
Python's ``re`` accepts things RE2 does not (``\\Z``, lookaround, backreferences,
repetitions over 1000), and says nothing of program size, so it cannot be the judge.

The check compiles exactly the string that will be sent (e.g. ``(?:<pathRegex>).*``) with
the ``google-re2`` bindings. RE2 versions may count program size slightly differently;
``tests/e2e_envoy/test_regex.py`` checks the limit against the Envoy we ship.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

# Envoy's default for re2.max_program_size.error_level.
ENVOY_MAX_PROGRAM_SIZE = 100


@lru_cache(maxsize=4096)
def _compile(regex: str) -> tuple[Any, str]:
    """(compiled, "") or (None, RE2's error)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # as Envoy's RE2::Quiet; the error comes back in the exception
    try:
        return re2.compile(regex, options), ""
    except re2.error as exc:
        detail = exc.args[0] if exc.args else exc
        if isinstance(detail, bytes):
            detail = detail.decode(errors="replace")
        return None, str(detail)


def re2_syntax_error(regex: str) -> str | None:
    """RE2's reason for not compiling ``regex``, or None."""
    return _compile(regex)[1] or None


def program_size(regex: str) -> int:
    """RE2 program size of ``regex`` (which must compile).

    google-re2 counts ``.`` and negated classes in UTF-8 a few instructions higher than the
    RE2 inside Envoy 1.40 does (``(?:/a{90}).*``: 103 here, 97 there), never lower in the
    corpus the real-Envoy test checks: near the limit we refuse slightly early, never late.
    """
    compiled, error = _compile(regex)
    if error:
        raise ValueError(error)
    return int(compiled.programsize)


def envoy_regex_problem(regex: str) -> str | None:
    """Why Envoy would refuse ``regex`` as a ``safe_regex``, or None when it accepts it."""
    error = re2_syntax_error(regex)
    if error:
        return f"RE2 cannot compile it: {error}"
    size = program_size(regex)
    if size > ENVOY_MAX_PROGRAM_SIZE:
        return f"its RE2 program size is {size}, over Envoy's limit of {ENVOY_MAX_PROGRAM_SIZE}"
    return None


def full_match(regex: str, text: str) -> bool:
    """Whether ``regex`` matches all of ``text``, as Envoy's ``safe_regex`` decides; False
    for a regex RE2 cannot compile (such a rule never reaches Envoy)."""
    compiled, _error = _compile(regex)
    return compiled is not None and compiled.fullmatch(text) is not None
