"""alloyml: a reproducible ML pipeline for designing light alloys (7xxx Al, Mg-Li)."""

__version__ = "0.1.0"
