"""Shared machinery of the source adapters: reading tables, parsing messy cells, rejects.

An adapter is a module ``alloyml.sources.adapters.<name>`` with a function
``adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult``. It reads the raw file(s) with
:func:`read_table`, maps every input row either to a canonical row (see :mod:`alloyml.schema`)
or to a reject with a reason, and returns both plus the number of input rows. Physical checks
(sums, YS <= UTS, plausible ranges) belong to the clean stage, not to adapters; adapters reject
only what they cannot read.

Cell-parsing rules (:func:`parse_cell`), applied to every numeric cell of every source:

==========================  ==========================================  ===============
cell text                   rule                                        kind
==========================  ==========================================  ===============
``''``, ``—``, ``-``,       not reported -> NaN                         ``missing``
``n/a``, ``NA``, ``nr``
``0,25``                    decimal comma -> 0.25                       ``decimal_comma``
``<0.05``, ``≤0.05``,       below a limit -> half the limit (0.025);    ``below_limit``
``max 0.05``                the midpoint of [0, limit]
``0.1-0.3``, ``0.1–0.3``    a range -> its midpoint (0.2)               ``range``
``bal.``, ``Rem``,          the balance element; its value is computed  ``balance``
``balance``, ``remainder``  as 100 - sum(others) by :func:`fill_balance`
anything else               unreadable -> the row is rejected           (ValueError)
==========================  ==========================================  ===============
"""

from __future__ import annotations

import codecs
import csv
import importlib
import io
import json
import math
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alloyml.errors import SourceError
from alloyml.schema import ADAPTER_COLUMNS, ELEMENTS, REJECT_COLUMNS, conform
from alloyml.sources.registry import SourceSpec

_MISSING = {"", "-", "—", "–", "n/a", "na", "nan", "nr", "n.r.", "none", "null", "?"}
_BALANCE = {"bal", "bal.", "balance", "rem", "rem.", "remainder", "base"}
_NUM = r"[+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_BELOW = re.compile(rf"^(?:<|≤|<=|max\.?\s*)\s*({_NUM})$", re.IGNORECASE)
_RANGE = re.compile(rf"^({_NUM})\s*(?:-|–|—|to|~)\s*({_NUM})$")
_COMMA = re.compile(r"^[+-]?\d+,\d+$")


@dataclass(frozen=True)
class Cell:
    """A parsed cell: ``value`` (NaN when missing/balance) and the rule that produced it."""

    value: float
    kind: str


def parse_cell(raw: Any) -> Cell:
    """Parse one numeric cell by the rules in the module docstring.

    Raises:
        ValueError: the text matches no rule (the caller rejects the row naming the column).

    Examples:
        >>> parse_cell("0,25")
        Cell(value=0.25, kind='decimal_comma')
        >>> parse_cell("<0.05").value
        0.025
        >>> parse_cell("0.1-0.3").value
        0.2
    """
    if raw is None:
        return Cell(math.nan, "missing")
    if isinstance(raw, bool):
        raise ValueError(f"boolean {raw!r} in a numeric column")
    if isinstance(raw, int | float | np.integer | np.floating):
        v = float(raw)
        return Cell(v, "missing") if math.isnan(v) else Cell(v, "number")
    text = str(raw).replace("\ufeff", "").replace("\xa0", " ").strip()
    low = text.lower()
    if low in _MISSING:
        return Cell(math.nan, "missing")
    if low in _BALANCE:
        return Cell(math.nan, "balance")
    try:
        return Cell(float(text), "number")
    except ValueError:
        pass
    if _COMMA.match(text):
        return Cell(float(text.replace(",", ".")), "decimal_comma")
    m = _BELOW.match(text)
    if m:
        return Cell(float(m.group(1)) / 2.0, "below_limit")
    m = _RANGE.match(text)
    if m:
        lo, hi = float(m.group(1)), float(m.group(2))
        if lo <= hi:
            return Cell((lo + hi) / 2.0, "range")
    raise ValueError(f"cannot read {text!r} as a number")


class RejectLog:
    """Collects rejected input rows of one source with a reason code and the offending column."""

    def __init__(self, source_id: str) -> None:
        self.source_id = source_id
        self._rows: list[dict[str, Any]] = []
        self._seen: set[int] = set()

    def add(
        self,
        source_row: int,
        reason: str,
        column: str | None = None,
        detail: str = "",
        raw: dict[str, Any] | None = None,
    ) -> None:
        """Reject ``source_row`` (first reason wins; a row is rejected once)."""
        if source_row in self._seen:
            return
        self._seen.add(int(source_row))
        self._rows.append(
            {
                "source_id": self.source_id,
                "source_row": int(source_row),
                "reason": reason,
                "column": column or "",
                "detail": detail,
                "raw": json.dumps(raw, default=str, ensure_ascii=False) if raw else "",
            }
        )

    def __contains__(self, source_row: int) -> bool:
        return int(source_row) in self._seen

    @property
    def rejected_rows(self) -> set[int]:
        return set(self._seen)

    def frame(self) -> pd.DataFrame:
        df = pd.DataFrame(self._rows, columns=list(REJECT_COLUMNS))
        df["source_row"] = df["source_row"].astype("int64")
        return df.sort_values("source_row", kind="stable").reset_index(drop=True)


@dataclass
class AdapterResult:
    """What an adapter returns: canonical rows, rejects, and the count of input rows."""

    rows: pd.DataFrame
    rejects: pd.DataFrame
    rows_in: int
    notes: dict[str, Any] = field(default_factory=dict)

    def check_accounting(self) -> None:
        """Every input row is either a canonical row or a reject, exactly once."""
        kept = set(self.rows["source_row"].astype(int))
        rej = set(self.rejects["source_row"].astype(int))
        source_id = self.rows["source_id"].iloc[0] if len(self.rows) else None
        if kept & rej:
            raise SourceError(
                f"rows both kept and rejected: {sorted(kept & rej)[:10]}", source_id=source_id
            )
        if len(self.rows) != len(kept):
            raise SourceError("an input row was emitted twice", source_id=source_id)
        if len(kept) + len(rej) != self.rows_in:
            raise SourceError(
                f"rows_in={self.rows_in} but kept={len(kept)} + rejected={len(rej)}",
                source_id=source_id,
            )


#: Delimiters tried, in order, when a CSV's header line does not split on commas.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")
_ZIP_MAGIC = b"PK\x03\x04"


def sniff_delimiter(text: str, n_lines: int = 50) -> str:
    """The delimiter of a delimited text table (``,`` unless the lines say otherwise).

    A delimiter fits when the header and the next ``n_lines`` non-blank lines all split (quotes
    respected) into the same number of fields, more than one. The comma is kept whenever it
    fits, so comma files read exactly as before; otherwise the first of ``;``, tab, ``|`` that
    fits is used (European sheets: ``;`` with decimal commas, whose comma counts vary by row).
    When none fits, the comma is returned and the caller's column checks report the problem.
    """
    lines = [ln for ln in text.splitlines()[: 4 * n_lines] if ln.strip()][: n_lines + 1]
    if not lines:
        return ","
    for delim in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=delim)}
        if len(counts) == 1 and counts.pop() > 1:
            return delim
    return ","


def _decode(data: bytes, path: Path, source_id: str, encoding: str) -> str:
    """``data`` as text, or a :class:`SourceError` that says where it fails and how to fix it."""
    if data.startswith(_ZIP_MAGIC):
        raise SourceError(
            f"{path.name} is a zip archive (an Excel workbook?), not a text table: give it an "
            ".xlsx name, or export the sheet as CSV",
            source_id=source_id,
        )
    if b"\x00" in data[:8192]:
        raise SourceError(
            f"{path.name} is not a text file (it holds NUL bytes): export the sheet as CSV "
            "(UTF-8) or save it as .xlsx",
            source_id=source_id,
        )
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise SourceError(
            f"unknown encoding {encoding!r} in options.encoding (e.g. utf-8, latin-1, cp1252)",
            source_id=source_id,
        ) from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path.name} is not {encoding} text: byte 0x{data[exc.start]:02x} on line {line} "
            "cannot be decoded. Save the sheet as UTF-8 (Excel: 'CSV UTF-8'), or declare its "
            "encoding in the source spec, e.g. options: {encoding: latin-1} (cp1252 for "
            "Windows Excel exports)",
            source_id=source_id,
        ) from None


def read_table(
    path: Path,
    source_id: str,
    *,
    sheet: str | int | None = None,
    header: int = 0,
    dtype: Any = object,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> pd.DataFrame:
    """Read a CSV or Excel sheet as raw objects, with clear errors.

    Header names lose BOMs and surrounding spaces; blank header cells become ``unnamed_<i>``.
    The returned index is the 0-based data-row number in the file (use it as ``source_row``).

    Text files (``.csv``, ``.tsv``, ``.txt``) are decoded with ``encoding`` (default UTF-8, a BOM
    allowed); the delimiter is ``delimiter`` when given, a tab for ``.tsv``, else found by
    :func:`sniff_delimiter` (comma, or ``;``/tab/``|`` when the comma does not fit).

    Errors (as :class:`SourceError` naming the source): missing or empty file, a text file that
    is not valid in its encoding (the message gives the line and the fix), binary data or a
    zip archive under a text name, a ``.xlsx`` that is not a workbook, a sheet that does not
    exist (the message lists the sheets), duplicate header names, no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"file {path} not found", source_id=source_id)
    if path.stat().st_size == 0:
        raise SourceError(f"file {path.name} is empty", source_id=source_id)
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            with path.open("rb") as fh:
                magic = fh.read(4)
            if magic != _ZIP_MAGIC:
                raise SourceError(
                    f"{path.name} is not an Excel workbook (an .xlsx file is a zip archive and "
                    "this one is not): if it is a CSV, rename it to .csv; otherwise re-save it "
                    "from Excel as .xlsx",
                    source_id=source_id,
                )
            with pd.ExcelFile(path, engine="openpyxl") as book:
                names = book.sheet_names
                use = 0 if sheet is None else sheet
                if isinstance(use, str) and use not in names:
                    raise SourceError(
                        f"sheet {use!r} not in {path.name}; sheets are {names}", source_id=source_id
                    )
                if isinstance(use, int) and not 0 <= use < len(names):
                    raise SourceError(
                        f"sheet index {use} out of range; {path.name} has {len(names)} sheets",
                        source_id=source_id,
                    )
                grid = book.parse(use, header=None, dtype=object)
        elif suffix in (".csv", ".tsv", ".txt"):
            text = _decode(path.read_bytes(), path, source_id, encoding or "utf-8-sig")
            if delimiter is None:
                delimiter = "\t" if suffix == ".tsv" else sniff_delimiter(text)
            grid = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                header=None,
                dtype=object,
                keep_default_na=False,
                na_values=[""],
                skip_blank_lines=False,
            )
            del text
        else:
            raise SourceError(
                f"unsupported file type {suffix!r} for {path.name}", source_id=source_id
            )
    except SourceError:
        raise
    except zipfile.BadZipFile as exc:
        raise SourceError(
            f"{path.name} is a damaged or incomplete Excel workbook ({exc}): re-save it from Excel",
            source_id=source_id,
        ) from None
    except (ValueError, OSError, KeyError, pd.errors.ParserError) as exc:
        raise SourceError(f"cannot read {path.name}: {exc}", source_id=source_id) from None
    if len(grid) <= header:
        raise SourceError(f"{path.name} has no header row {header}", source_id=source_id)
    names = ["" if pd.isna(c) else str(c).replace("\ufeff", "").strip() for c in grid.iloc[header]]
    names = [n if n else f"unnamed_{i}" for i, n in enumerate(names)]
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        raise SourceError(
            f"duplicate header name(s) {dups} in {path.name}: rename them so each column is "
            "unambiguous",
            source_id=source_id,
        )
    df = grid.iloc[header + 1 :].copy()
    df.columns = names
    # Fully blank lines are layout, not data rows. The index stays the 0-based data-row number
    # in the file (first line after the header = 0), so ``source_row`` points into the file.
    df = df.dropna(how="all")
    df.index = df.index - (header + 1)
    if len(df) == 0:
        raise SourceError(f"{path.name} has a header but no data rows", source_id=source_id)
    return df


def require_columns(
    df: pd.DataFrame, columns: Iterable[str], source_id: str, file: str = ""
) -> None:
    """Raise a :class:`SourceError` naming every required column that is absent."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        where = f" in {file}" if file else ""
        raise SourceError(
            f"missing required column(s) {missing}{where}; found {list(df.columns)}",
            source_id=source_id,
        )


def parse_numeric_columns(
    df: pd.DataFrame,
    columns: dict[str, str],
    rejects: RejectLog,
    *,
    balance_ok: Iterable[str] = (),
    row_ids: Iterable[int] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Parse raw numeric columns, renaming them ``{raw_name: canonical_name}``.

    Returns ``(values, kinds)``: float values (NaN = not reported or balance) and the rule kind
    per cell. A cell that matches no rule rejects its row (reason ``non_numeric``, naming the raw
    column); ``balance`` in a column not in ``balance_ok`` rejects its row too
    (``balance_in_wrong_column``).
    """
    balance_ok = set(balance_ok)
    ids = list(row_ids) if row_ids is not None else list(range(len(df)))
    values = pd.DataFrame(index=df.index, columns=list(columns.values()), dtype=float)
    kinds = pd.DataFrame(index=df.index, columns=list(columns.values()), dtype=object)
    for raw_col, canon in columns.items():
        col_vals = np.empty(len(df))
        col_kinds = []
        for i, cell in enumerate(df[raw_col].to_numpy()):
            try:
                parsed = parse_cell(cell)
            except ValueError as exc:
                rejects.add(ids[i], "non_numeric", raw_col, str(exc), df.iloc[i].to_dict())
                parsed = Cell(math.nan, "error")
            if parsed.kind == "balance" and canon not in balance_ok:
                rejects.add(
                    ids[i], "balance_in_wrong_column", raw_col,
                    f"{cell!r} marks the balance but {canon} is not the balance element",
                    df.iloc[i].to_dict(),
                )  # fmt: skip
            col_vals[i] = parsed.value
            col_kinds.append(parsed.kind)
        values[canon] = col_vals
        kinds[canon] = col_kinds
    return values, kinds


def fill_balance(comp: pd.DataFrame, balance: str) -> pd.Series:
    """Balance element wt % = 100 - sum of the other reported elements (NaN counts as 0)."""
    others = [c for c in comp.columns if c in ELEMENTS and c != balance]
    return 100.0 - comp[others].fillna(0.0).sum(axis=1)


def finish(
    rows: pd.DataFrame, spec: SourceSpec, rejects: RejectLog, rows_in: int, **notes: Any
) -> AdapterResult:
    """Drop rejected rows, add provenance columns, conform to the schema, check accounting."""
    rows = rows.loc[~rows["source_row"].astype(int).isin(rejects.rejected_rows)].copy()
    rows["source_id"] = spec.id
    rows["system"] = spec.system
    rows["row_uid"] = [f"{spec.id}:{int(r)}" for r in rows["source_row"]]
    if "doi" not in rows and spec.doi:
        rows["doi"] = spec.doi
    # reset the index before conform: resetting its column-by-column result copies every block
    rows = conform(rows[[c for c in rows.columns if c in ADAPTER_COLUMNS]].reset_index(drop=True))
    result = AdapterResult(rows=rows, rejects=rejects.frame(), rows_in=rows_in, notes=dict(notes))
    result.check_accounting()
    return result


def one_hot(values: pd.Series, prefix: str) -> pd.DataFrame:
    """One ``prefix=value`` float column per distinct stripped text (missing -> ``NA``).

    Examples:
        >>> list(one_hot(pd.Series(["T6", " T6", None]), "temper").columns)
        ['temper=NA', 'temper=T6']
    """
    s = values.astype("string").str.strip().fillna("NA")
    return pd.get_dummies(s, prefix=prefix, prefix_sep="=", dtype=float)


def adapter_module(name: str) -> Any:
    """Import and return the module ``alloyml.sources.adapters.<name>``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SourceError(f"invalid adapter name {name!r}")
    try:
        return importlib.import_module(f"alloyml.sources.adapters.{name}")
    except ModuleNotFoundError:
        raise SourceError(
            f"no adapter named {name!r}: add src/alloyml/sources/adapters/{name}.py or use the "
            "generic 'table' adapter with a column map"
        ) from None


def get_adapter(name: str) -> Callable[[SourceSpec, list[Path]], AdapterResult]:
    """Import ``alloyml.sources.adapters.<name>`` and return its ``adapt`` function."""
    return adapter_module(name).adapt
