"""The allowlist file: YAML `entities: [{title, wiki, aliases: [...]}]`, refused with the line at fault."""

from __future__ import annotations

from pathlib import Path

import yaml

from wikiguard.domain.allowlist import Allowlist, AllowlistError, Entity, canonical_entity, normalise_title
from wikiguard.domain.errors import WikiguardError

_NULL = "tag:yaml.org,2002:null"
_ENTITY_KEYS = frozenset({"title", "wiki", "aliases"})


class AllowlistFileError(WikiguardError):
    """An allowlist file that cannot be used; the message names the file and the line."""


def load_allowlist(path: str | Path) -> Allowlist:
    """Read and check an allowlist file.

    The document is composed into nodes (not just loaded) so every complaint can point at the
    line a person has to fix. Other top-level keys are ignored, unknown entity keys are refused
    (a typo such as `wik:` would otherwise silently drop a field).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AllowlistFileError(f"{path}: cannot read allowlist: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise AllowlistFileError(f"{path}, line {line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise AllowlistFileError(f"{path}: not valid YAML: {exc}") from exc
    return _Reader(path).allowlist(root)


class _Reader:
    def __init__(self, path: Path):
        self.path = path
        # (wiki, normalised title) -> (canonical entity, line where it was declared)
        self.seen: dict[tuple[str, str], tuple[str, int]] = {}

    def fail(self, node: yaml.Node | None, message: str) -> AllowlistFileError:
        where = f", line {node.start_mark.line + 1}" if node is not None else ""
        return AllowlistFileError(f"{self.path}{where}: {message}")

    def allowlist(self, root: yaml.Node | None) -> Allowlist:
        if not isinstance(root, yaml.MappingNode):
            raise self.fail(root, "expected a mapping with an 'entities' list")
        entries = next((v for k, v in root.value if k.value == "entities"), None)
        if entries is None:
            raise self.fail(root, "missing 'entities'")
        if not isinstance(entries, yaml.SequenceNode):
            raise self.fail(entries, "'entities' must be a list")
        if not entries.value:
            raise self.fail(entries, "'entities' is empty: nothing would be watched")
        entities = [self.entity(node, n) for n, node in enumerate(entries.value, start=1)]
        try:
            return Allowlist.of(entities)
        except AllowlistError as exc:  # checked above with lines; kept so nothing slips through
            raise AllowlistFileError(f"{self.path}: {exc}") from exc

    def entity(self, node: yaml.Node, number: int) -> Entity:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"entity {number} must be a mapping with 'title' and 'wiki'")
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if key.value not in _ENTITY_KEYS:
                raise self.fail(key, f"entity {number} has unknown key {key.value!r}")
            if key.value in fields:
                raise self.fail(key, f"entity {number} repeats key {key.value!r}")
            fields[key.value] = value
        title = self.text(node, fields, "title", number)
        wiki = self.text(node, fields, "wiki", number)
        alias_nodes = self.aliases(fields.get("aliases"), number)
        canonical = canonical_entity(wiki, title)
        for name_node in (fields["title"], *alias_nodes):
            self.claim(name_node, wiki, str(name_node.value), canonical)
        return Entity(title=title, wiki=wiki, aliases=tuple(str(a.value) for a in alias_nodes))

    def text(self, entity: yaml.Node, fields: dict[str, yaml.Node], key: str, number: int) -> str:
        node = fields.get(key)
        if node is None:
            raise self.fail(entity, f"entity {number} has no '{key}'")
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL or not str(node.value).strip():
            raise self.fail(node, f"entity {number}: '{key}' must be a non-empty string")
        return str(node.value).strip()

    def aliases(self, node: yaml.Node | None, number: int) -> list[yaml.ScalarNode]:
        if node is None or node.tag == _NULL:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"entity {number}: 'aliases' must be a list of titles")
        for item in node.value:
            if not isinstance(item, yaml.ScalarNode) or item.tag == _NULL or not str(item.value).strip():
                raise self.fail(item, f"entity {number}: every alias must be a non-empty string")
        return list(node.value)

    def claim(self, node: yaml.Node, wiki: str, name: str, canonical: str) -> None:
        key = (wiki, normalise_title(name, wiki))
        line = node.start_mark.line + 1
        owner = self.seen.get(key)
        if owner is not None:
            what = "is listed twice" if owner[0] == canonical else f"already names {owner[0]}"
            raise self.fail(node, f"{wiki}:{name!r} {what} (line {owner[1]})")
        self.seen[key] = (canonical, line)
