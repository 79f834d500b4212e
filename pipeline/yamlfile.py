"""Reading the hand-written YAML files in ``config/`` with errors that name the line.

``yaml.safe_load`` says where the syntax breaks, but once a file parses, a list where a
mapping belongs or a misspelt key only shows up later as a ``KeyError`` far from the file.
:class:`YamlFile` walks the parsed nodes instead, so every complaint is
``path:line: what is wrong``.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

_NULL = "tag:yaml.org,2002:null"


class YamlFile:
    def __init__(self, path: Path | str, error: type[ValueError] = ValueError) -> None:
        self.path = str(path)
        self.error = error
        try:
            text = Path(path).read_text(encoding="utf-8")
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except OSError as exc:
            raise error(f"{path}: cannot read: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise error(f"{where}: not valid YAML: {problem}") from None
        if root is None:
            raise error(f"{path}: the file is empty")
        self.root: Node = root

    def fail(self, node: Node, message: str) -> ValueError:
        return self.error(f"{self.path}:{node.start_mark.line + 1}: {message}")

    def mapping(
        self, node: Node | None, what: str, keys: Collection[str] | None = None
    ) -> dict[str, Node]:
        """A mapping's entries by key (none for an absent or empty value); with ``keys``,
        any other key is an error."""
        if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
            return {}
        if not isinstance(node, MappingNode):
            raise self.fail(node, f"{what} must be a mapping")
        entries: dict[str, Node] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or not key.value.strip():
                raise self.fail(key, f"{what}: a key must be a plain name")
            if keys is not None and key.value not in keys:
                raise self.fail(
                    key, f"{what}: unknown key {key.value!r} (expected one of {sorted(keys)})"
                )
            if key.value in entries:
                raise self.fail(key, f"{what}: {key.value!r} appears twice")
            entries[key.value] = value
        return entries

    def strings(self, node: Node | None, what: str) -> list[str]:
        """A list of non-empty strings (none for an absent or empty value)."""
        if node is None or (isinstance(node, ScalarNode) and node.tag == _NULL):
            return []
        if not isinstance(node, SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        values = []
        for item in node.value:
            if not isinstance(item, ScalarNode) or item.tag == _NULL or not item.value.strip():
                raise self.fail(item, f"{what}: each entry must be a non-empty string")
            values.append(item.value)
        return values

    def string(self, node: Node, what: str) -> str:
        """A non-empty string."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL or not node.value.strip():
            raise self.fail(node, f"{what} must be a non-empty string")
        return str(node.value)
