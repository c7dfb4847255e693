"""Kubernetes YAML to Python objects, fast: libyaml's parser and a lean object builder.

PyYAML's ``CSafeLoader`` parses in C but still builds every object in Python: the implicit
tag of each plain scalar is found by regular expressions, then a generic constructor walks
the nodes through generators and per-object bookkeeping. On a 9 MB manifest of 25,000
objects that was most of the time ``osm local run`` took before it was ready (issue 12.9).

``FastLoader`` keeps libyaml and PyYAML's rules but (1) remembers the tag of each plain
scalar text it has resolved (manifests repeat the same few thousand values) and (2) builds
the documents made only of mappings, sequences and the common scalar tags (str, int, bool,
null, float) with one small recursive function. Anything else in a document — merge keys
(``<<``), explicit or unusual tags, timestamps, keys that are not hashable — sends that
document through PyYAML's own constructor, so the result is always exactly
``yaml.safe_load``'s (``tests/mesh/catalog/test_yamlload.py`` compares them).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_BASE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
STR = "tag:yaml.org,2002:str"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
_SIMPLE_SCALARS = (
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:float",
)
# Plain scalar text -> its implicit tag. The resolver is a pure function of the text, so the
# cache is shared; bounded so a file of unique values cannot grow it without end.
_RESOLVED: dict[str, str] = {}
_RESOLVED_MAX = 200_000


class _Unusual(Exception):
    """The document needs PyYAML's full constructor."""


class FastLoader(_BASE):  # type: ignore[misc,valid-type]
    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is ScalarNode and implicit[0]:
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) < _RESOLVED_MAX:
                    _RESOLVED[value] = tag
            return tag
        return str(super().resolve(kind, value, implicit))

    def build_document(self, node: Node) -> Any:
        """The document's object, as ``construct_document`` would give it."""
        try:
            return self._build(node, {})
        except (_Unusual, TypeError):
            return self.construct_document(node)

    def _build(self, node: Node, shared: dict[int, Any]) -> Any:
        cls, tag = node.__class__, node.tag
        if cls is ScalarNode:
            if tag == STR:
                return node.value
            if tag in _SIMPLE_SCALARS:
                return self.yaml_constructors[tag](self, node)
            raise _Unusual(tag)
        # An alias shares its anchor's node: share the object too, as PyYAML does.
        seen = shared.get(id(node))
        if seen is not None:
            return seen
        if cls is MappingNode and tag == MAP:
            mapping: dict[Any, Any] = {}
            shared[id(node)] = mapping
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Unusual("merge key")
                key = self._build(key_node, shared)
                hash(key)  # TypeError (unhashable key): PyYAML reports it
                mapping[key] = self._build(value_node, shared)
            return mapping
        if cls is SequenceNode and tag == SEQ:
            sequence: list[Any] = []
            shared[id(node)] = sequence
            sequence.extend(self._build(item, shared) for item in node.value)
            return sequence
        raise _Unusual(tag)
