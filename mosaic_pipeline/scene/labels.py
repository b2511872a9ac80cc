"""Raw annotation labels -> benchmark classes, the way the ScanNet++ toolkit maps them (docs/scannetpp.md).

The toolkit (``semantic/prep/map_semantic.py`` ``map_classes`` and ``semantic/transforms/mesh.py``
``MapLabelToIndex``) reads ``metadata/semantic_benchmark/map_benchmark.csv`` (columns ``class, count,
semantic_map_to, instance_map_to``), leaves out rows whose ``count`` is below a threshold, and for the
chosen column:

- an empty cell: the raw label is kept as it is (``x -> x``);
- ``None``: the raw label is dropped (it is no class);
- any other text: the raw label becomes that text (``desk -> table``);
- a raw label with no row at all (or a row left out by the count threshold): dropped.

The cells are read as text, so ``None`` stays the word None. (pandas >= 2 reads the word as a missing
value by default, which would turn the toolkit's "drop" into "keep"; we follow the toolkit's written rule.)
A mapped label outside the class list (``top100_instance.txt``) is kept as an instance, the toolkit's
"not an instance class": it occludes and is in the visibility table, but no question is asked about it.
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..errors import FileInputError
from ..params import LabelMappingParams

REQUIRED_COLUMNS = ("class", "count")
NONE_CELL = "None"


class LabelStatus(str, Enum):
    """What the mapping does to one raw label (docs/scannetpp.md, "Label mapping")."""

    KEPT = "kept"  # a class as it is (empty cell, x -> x, or no map file)
    MAPPED = "mapped"  # renamed to a class (desk -> table)
    UNLISTED = "unlisted"  # mapped, but the name is not in the class list: an instance no question is about
    DROPPED = "dropped"  # None in the map file: not an instance (its faces are background)
    UNMAPPED = "unmapped"  # no row in the map file (or below min_count): dropped, as the toolkit does

    @property
    def is_instance(self) -> bool:
        return self not in (LabelStatus.DROPPED, LabelStatus.UNMAPPED)

    @property
    def is_class(self) -> bool:
        return self in (LabelStatus.KEPT, LabelStatus.MAPPED)


@dataclass(frozen=True)
class LabelMapping:
    """``targets``: raw label -> mapped name or None (dropped); None = no map file (every label as it is).
    ``classes``: the class list; None = every mapped label is a class."""

    targets: dict[str, str | None] | None
    classes: frozenset[str] | None
    map_file: Path | None = None
    class_list: Path | None = None

    def resolve(self, raw: str) -> tuple[str | None, LabelStatus]:
        """The mapped name (None when dropped) and what happened to ``raw``."""
        if self.targets is None:
            mapped = raw
        elif raw not in self.targets:
            return None, LabelStatus.UNMAPPED
        else:
            mapped = self.targets[raw]
            if mapped is None:
                return None, LabelStatus.DROPPED
        if self.classes is not None and mapped not in self.classes:
            return mapped, LabelStatus.UNLISTED
        return mapped, LabelStatus.KEPT if mapped == raw else LabelStatus.MAPPED

    def describe(self) -> str:
        """One line: which files the mapping comes from."""
        how = f"{self.map_file}" if self.map_file else "none (labels as they are)"
        classes = f"{self.class_list} ({len(self.classes)} classes)" if self.class_list else "none (every label)"
        return f"map file: {how}; class list: {classes}"


IDENTITY = LabelMapping(None, None)


def release_label_mapping(release_root: Path, params: LabelMappingParams) -> LabelMapping:
    """The mapping of a release: its map file and first existing class list (paths of ``params``,
    relative to ``release_root`` unless absolute). Raises FileInputError naming the file, line and column."""
    root = Path(release_root)
    map_path = root / params.map_file if params.map_file else None
    targets = read_map_file(map_path, params.column, params.min_count) if map_path and map_path.is_file() else None
    class_list = next((root / rel for rel in params.class_lists if (root / rel).is_file()), None)
    classes = read_class_list(class_list) if class_list else None
    return LabelMapping(targets, classes, map_path if targets is not None else None, class_list)


def read_class_list(path: Path) -> frozenset[str]:
    """One class a line (``top100_instance.txt``, ``instance_classes.txt``); blank lines are skipped."""
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise FileInputError(path, f"unreadable class list ({exc})") from exc
    return frozenset(line.strip() for line in lines if line.strip())


def read_map_file(path: Path, column: str, min_count: float) -> dict[str, str | None]:
    """raw label -> mapped name (None: dropped) of the rows with ``count >= min_count`` (module docstring).

    Repeated rows of one raw label combine as in the toolkit's ``map_classes``: a named target replaces
    an earlier one, an empty cell maps x -> x only when no earlier row mapped x, and ``None`` never
    undoes an earlier mapping."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FileInputError(path, f"unreadable CSV ({exc})") from exc
    missing = [c for c in (*REQUIRED_COLUMNS, column) if c not in header]
    if missing:
        raise FileInputError(path, f"missing column(s) (has {', '.join(header) or 'none'})", field=", ".join(missing))
    mapped: dict[str, str] = {}
    none_rows: set[str] = set()
    for line_no, row in enumerate(rows, start=2):
        raw, cell = row["class"], row[column]
        if raw is None or cell is None:
            raise FileInputError(path, "row has fewer cells than the header", field=f"line {line_no}")
        if not _count_at_least(row["count"], min_count):
            continue
        if cell == "":
            mapped.setdefault(raw, raw)
        elif cell == NONE_CELL:
            none_rows.add(raw)
        else:
            mapped[raw] = cell
    return {**{raw: None for raw in sorted(none_rows - set(mapped))}, **mapped}


def _count_at_least(value: str, min_count: float) -> bool:
    try:
        count = float(value)
    except (TypeError, ValueError):
        return False  # the toolkit's `count >= thresh` is False for a missing count
    return not math.isnan(count) and count >= min_count
