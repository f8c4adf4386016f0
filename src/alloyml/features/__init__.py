"""Composition, alloy-physics and process descriptors, vectorised; named, dated presets.

One code path serves training, prediction and search:

* :func:`featurize` — a canonical frame in, a feature frame out (pipeline, batch prediction);
* :class:`Featurizer` — compiled once, ``.transform(wt_matrix, process_matrix)`` on numpy arrays
  (Optuna objectives, candidate screening);
* :func:`feature_labels`, :func:`feature_table`, :func:`citations` — labels, units, citations;
* :data:`PRESETS` / :func:`get_preset` — frozen feature definitions (``alloy_v1`` …).

Modules: :mod:`.elemental` (library tables), :mod:`.composition` (Magpie statistics),
:mod:`.physics` (alloy physics), :mod:`.process` (heat treatment, deformation, route, temper),
:mod:`.presets`, :mod:`.featurizer`.
"""

from alloyml.features.featurizer import (
    Featurizer,
    citations,
    feature_labels,
    feature_table,
    featurize,
    provenance,
)
from alloyml.features.presets import PRESETS, Preset, get_preset

__all__ = [
    "PRESETS",
    "Featurizer",
    "Preset",
    "citations",
    "feature_labels",
    "feature_table",
    "featurize",
    "get_preset",
    "provenance",
]
