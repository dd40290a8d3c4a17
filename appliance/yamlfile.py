"""YAML for the configuration: safe, a duplicate key is an error, and every key's line and column is
kept so that a problem found later (by the schema) can say where it is in the file.

PyYAML's safe loader lets a second ``clock:`` block silently replace the first; an operator who
pasted a block twice then runs with half a configuration and no word about it.
"""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[Any, ...]


class YamlError(Exception):
    """A YAML file that cannot be used; ``line`` and ``column`` are 1-based when known."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        self.line, self.column = line, column
        where = f"line {line}, column {column}: " if line is not None else ""
        super().__init__(f"{where}{message}")


def _where(mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and records the position of every key and item."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.positions: dict[Path, tuple[int, int]] = {}
        self._path: list[Any] = []

    def construct_document(self, node):
        self._record(node, ())
        return super().construct_document(node)

    def _record(self, node, path: Path) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, tuple[int, int]] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node, deep=True)
                here = _where(key_node.start_mark)
                if key in seen:
                    dotted = ".".join(str(p) for p in (*path, key))
                    raise YamlError(
                        f"duplicate key {dotted} (first at line {seen[key][0]}): a second block would "
                        "silently replace the first; merge them into one",
                        *here,
                    )
                seen[key] = here
                self.positions[(*path, key)] = here
                self._record(value_node, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.positions[(*path, i)] = _where(item.start_mark)
                self._record(item, (*path, i))


def load(text: str) -> tuple[Any, dict[Path, tuple[int, int]]]:
    """The document and the (line, column) of every key path; YamlError for what cannot be used."""
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses unprintable characters (a NUL) here already
        data = loader.get_single_data()
        return data, loader.positions
    except YamlError:
        raise
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        raise YamlError(
            f"not valid YAML: character U+{exc.character:04X} is not allowed in YAML", line, column
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        if mark is None:
            raise YamlError(f"not valid YAML: {problem}") from None
        raise YamlError(f"not valid YAML: {problem}", *_where(mark)) from None
    finally:
        if loader is not None:
            loader.dispose()


def position(positions: dict[Path, tuple[int, int]], path: Path) -> tuple[int, int] | None:
    """Where the deepest existing prefix of ``path`` is (a missing key: where its parent is)."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in positions:
            return positions[tuple(path[:n])]
    return None
