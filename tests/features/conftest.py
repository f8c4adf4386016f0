"""Fixtures of the feature tests: compiled featurizers and composition-row builders."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from alloyml.features import Featurizer


@pytest.fixture(scope="session")
def alloy_fz() -> Featurizer:
    """The default preset, compiled once."""
    return Featurizer("alloy_v1")


@pytest.fixture(scope="session")
def comp_fz() -> Featurizer:
    """Composition-only preset (no process matrix needed), compiled once."""
    return Featurizer("composition_v1")


@pytest.fixture(scope="session")
def wt_rows() -> Callable[[Featurizer, list[dict[str, float]]], np.ndarray]:
    """Build a wt % matrix in a featurizer's column order from ``{symbol: amount}`` dicts."""

    def build(fz: Featurizer, comps: list[dict[str, float]]) -> np.ndarray:
        col = {e: i for i, e in enumerate(fz.elements)}
        out = np.zeros((len(comps), len(fz.elements)))
        for r, comp in enumerate(comps):
            for el, amount in comp.items():
                out[r, col[el]] = amount
        return out

    return build


@pytest.fixture(scope="session")
def at_rows() -> Callable[[Featurizer, list[dict[str, float]]], np.ndarray]:
    """Like ``wt_rows`` but the dicts are atomic fractions, converted to wt % first."""
    from alloyml.compositions import at_to_wt

    def build(fz: Featurizer, comps: list[dict[str, float]]) -> np.ndarray:
        col = {e: i for i, e in enumerate(fz.elements)}
        at = np.zeros((len(comps), len(fz.elements)))
        for r, comp in enumerate(comps):
            for el, amount in comp.items():
                at[r, col[el]] = amount
        return at_to_wt(at, fz.elements)

    return build


@pytest.fixture(scope="session")
def feat() -> Callable[[Featurizer, np.ndarray, str], np.ndarray]:
    """Pick one feature column by label: ``feat(fz, X, "vec")``."""

    def pick(fz: Featurizer, features: np.ndarray, label: str) -> np.ndarray:
        return features[:, fz.labels.index(label)]

    return pick
