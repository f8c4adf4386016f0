"""Data sources: the registry (``sources.yaml``), fetching, and one adapter per source family."""

from alloyml.sources.base import AdapterResult, RejectLog, get_adapter, parse_cell, read_table
from alloyml.sources.fetch import fetch
from alloyml.sources.registry import FileSpec, SourceSpec, load_sources

__all__ = [
    "AdapterResult",
    "FileSpec",
    "RejectLog",
    "SourceSpec",
    "fetch",
    "get_adapter",
    "load_sources",
    "parse_cell",
    "read_table",
]
