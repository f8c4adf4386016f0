"""The alloyml exception tree.

Every failure a user can meet is an :class:`AlloyMLError` with a message that says what was
wrong, where (source, row, column) and what to do. The command line turns these into a short
message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations


class AlloyMLError(Exception):
    """Base class of every error alloyml raises on purpose."""


class ConfigError(AlloyMLError):
    """``params.yaml`` or ``sources.yaml`` is missing a key or holds an invalid value."""


class SourceError(AlloyMLError):
    """A data source cannot be read: missing file, checksum mismatch, wrong sheet, bad header."""

    def __init__(
        self,
        message: str,
        *,
        source_id: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        where = []
        if source_id is not None:
            where.append(f"source {source_id!r}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)
        self.source_id = source_id
        self.row = row
        self.column = column


class ChecksumError(SourceError):
    """The bytes of a source file do not match the sha256 declared in ``sources.yaml``."""


class CompositionError(AlloyMLError, ValueError):
    """A composition string or element table is malformed (unknown element, negative, sum > 100)."""


class SchemaError(AlloyMLError):
    """A table does not satisfy the canonical schema."""


class AccountingError(AlloyMLError):
    """Rows were lost: ``rows_in != kept + merged + rejected`` for a source."""
