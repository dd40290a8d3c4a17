"""CSV files of samples for `appliance model`: a header line naming the columns, then one row per
sample. Columns are found by name (order free; columns named in the header but not used are
ignored); blank lines and lines starting with '#' are skipped. A row with more fields than the
header names is refused: a stray comma shifts nothing silently. Errors name the file, the line and
the column."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class CsvError(Exception):
    pass


class Columns:
    """Parsed columns (float arrays) and the file line of every row (1-based)."""

    def __init__(self, path: str, data: dict[str, np.ndarray], lines: np.ndarray):
        self.path = path
        self.data = data
        self.lines = lines

    def __getitem__(self, name: str) -> np.ndarray:
        return self.data[name]

    def line_of(self, row: int | None) -> int | None:
        if row is None or not 0 <= row < self.lines.size:
            return None
        return int(self.lines[row])


def read_columns(path: str | Path, required: list[str], optional: Sequence[str] = ()) -> Columns:
    name = str(path)
    try:
        f = open(path, newline="")
    except FileNotFoundError:
        raise CsvError(f"{name}: cannot read: the file does not exist") from None
    except IsADirectoryError:
        raise CsvError(f"{name}: cannot read: a directory, not a CSV file") from None
    except OSError as exc:
        raise CsvError(f"{name}: cannot read: {exc.strerror}") from None
    with f:
        reader = csv.reader(f)
        header = None
        header_line = 0
        rows: list[list[str]] = []
        lines: list[int] = []
        try:
            for row in reader:
                line = reader.line_num
                if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
                    continue
                if header is None:
                    header = [c.strip() for c in row]
                    header_line = line
                    continue
                rows.append(row)
                lines.append(line)
        except UnicodeDecodeError:
            raise CsvError(f"{name}: not a text file: expected CSV with a header line") from None
        except csv.Error as exc:
            raise CsvError(f"{name}: line {reader.line_num}: not a CSV file: {exc}") from None
    if header is None:
        raise CsvError(f"{name}: empty: expected a header line with the columns {','.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise CsvError(
            f"{name}: line {header_line}: missing {'columns' if len(missing) > 1 else 'column'} {', '.join(missing)} "
            f"(found: {', '.join(header) or 'nothing'}; expected a header line {','.join(required)})"
        )
    wanted = [c for c in list(required) + list(optional) if c in header]
    index = {c: header.index(c) for c in wanted}
    out = {c: np.empty(len(rows)) for c in wanted}
    for r, (row, line) in enumerate(zip(rows, lines, strict=False)):
        if len(row) > len(header):
            raise CsvError(
                f"{name}: line {line}: {len(row)} fields, but the header (line {header_line}) names "
                f"{len(header)} ({','.join(header)}): an extra column or a stray comma?"
            )
        for c, i in index.items():
            if i >= len(row):
                raise CsvError(f"{name}: line {line}: no value for column {c} (row has {len(row)} fields)")
            text = row[i].strip()
            try:
                v = float(text)
            except ValueError:
                raise CsvError(f"{name}: line {line}: column {c}: {text!r} is not a number") from None
            if math.isnan(v) or math.isinf(v):
                raise CsvError(f"{name}: line {line}: column {c} is {text!r}, not a finite number")
            out[c][r] = v
    return Columns(name, out, np.array(lines, dtype=np.int64))
