"""Named, dated feature presets, so an old model's features can be rebuilt exactly.

A preset freezes everything that decides the feature columns: the feature groups (each group name
carries its own version, e.g. ``physics_v1``; changing what a group computes means adding
``physics_v2``, never editing ``v1``), the element list (columns of the wt % matrix), and the route
and temper category lists of the one-hot encodings. These are literal copies, *not* references to
:mod:`alloyml.schema`, so that adding an element or a route to the schema cannot silently change
an existing preset: add a new preset (``alloy_v2``) instead. A model records its preset name;
:func:`get_preset` returns the same definition forever.

The elemental tables themselves come from the installed matminer data files; their digest and
matminer's version are recorded with every feature table (see ``Featurizer.table_digest``).
"""

from __future__ import annotations

from dataclasses import dataclass

from alloyml.errors import ConfigError

#: Feature groups and what they compute (the implementations live in the sibling modules).
GROUPS: dict[str, str] = {
    "wt_pct_v1": "element contents in wt %, each row normalised to 100 (features.featurizer)",
    "magpie_v1": "matminer Magpie ElementProperty statistics, 132 columns (features.composition)",
    "physics_v1": "size mismatch, Miedema mixing enthalpy, entropy, VEC, dchi, density, 7xxx "
    "ratios, Li content and Mg-Li phase field (features.physics)",
    "process_v1": "heat-treatment stages, Hollomon-Jaffe exposure, RRA, deformation, route and "
    "temper one-hot (features.process)",
    "process_v2": "process_v1 plus the decoded thermal-mechanical state (ANSI H35.1 / ASTM B296 "
    "descriptors), route family, schedule known / stages implied (features.process)",
    "family_v1": "alloy family one-hot: Al series and cast series, Mg principal-element family "
    "(alloyml.families)",
}

_ELEMENTS_2026_11: tuple[str, ...] = (
    "Ag", "Al", "B", "Be", "Bi", "Ca", "Cd", "Ce", "Co", "Cr", "Cu", "Dy", "Er", "Eu", "Fe",
    "Ga", "Gd", "Ho", "La", "Li", "Mg", "Mn", "Nd", "Ni", "Pb", "Pr", "Sb", "Sc", "Si", "Sn",
    "Sr", "Tb", "Th", "Ti", "V", "Y", "Yb", "Zn", "Zr",
)  # fmt: skip

_ROUTES_2026_11: tuple[str, ...] = (
    "wrought", "cast", "cast_sand", "cast_die", "cast_perm_mould", "cast_book_mould",
    "extruded", "rolled", "forged", "drawn", "ecap", "thixoformed", "am", "powder",
)  # fmt: skip

_TEMPERS_2026_11: tuple[str, ...] = (
    "F", "O", "H", "W", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "RRA",
)  # fmt: skip


@dataclass(frozen=True)
class Preset:
    """A frozen feature definition.

    Attributes:
        name: registry key, e.g. ``"alloy_v1"``.
        date: ISO date the definition was frozen.
        groups: feature groups, in output column order (keys of :data:`GROUPS`).
        elements: element symbols of the wt % input, in column order.
        routes: categories of the ``route`` one-hot.
        tempers: categories of the ``temper_class`` one-hot.
        description: what the preset is for.
        continuous_only: the preset keeps only features continuous in composition (what a
            composition search needs); the model trained on it is then searchable as is.
    """

    name: str
    date: str
    groups: tuple[str, ...]
    elements: tuple[str, ...]
    routes: tuple[str, ...]
    tempers: tuple[str, ...]
    description: str
    continuous_only: bool = False

    def __post_init__(self) -> None:
        unknown = [g for g in self.groups if g not in GROUPS]
        if unknown:
            raise ConfigError(f"preset {self.name!r}: unknown feature groups {unknown}")


#: Every preset ever released. Never edit a released entry; add a new name.
PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="alloy_v1",
            date="2026-11-28",
            groups=("wt_pct_v1", "magpie_v1", "physics_v1", "process_v1"),
            elements=_ELEMENTS_2026_11,
            routes=_ROUTES_2026_11,
            tempers=_TEMPERS_2026_11,
            description="composition + alloy physics + process; default for training and search",
        ),
        Preset(
            name="alloy_v2",
            date="2026-11-29",
            groups=("wt_pct_v1", "magpie_v1", "physics_v1", "process_v2", "family_v1"),
            elements=_ELEMENTS_2026_11,
            routes=_ROUTES_2026_11,
            tempers=(*_TEMPERS_2026_11, "HT"),
            description="alloy_v1 plus the decoded process state, route family and alloy family; "
            "rows described by a temper and rows described by a schedule share one description",
        ),
        Preset(
            name="alloy_continuous_v1",
            date="2026-11-28",
            groups=("wt_pct_v1", "magpie_v1", "physics_v1", "process_v1"),
            elements=_ELEMENTS_2026_11,
            routes=_ROUTES_2026_11,
            tempers=_TEMPERS_2026_11,
            description="alloy_v1 without composition-discontinuous features (Magpie min/max/"
            "range/mode, Mg-Li phase one-hot): train on it when the model will drive a search",
            continuous_only=True,
        ),
        Preset(
            name="composition_v1",
            date="2026-11-28",
            groups=("wt_pct_v1", "magpie_v1", "physics_v1"),
            elements=_ELEMENTS_2026_11,
            routes=_ROUTES_2026_11,
            tempers=_TEMPERS_2026_11,
            description="composition-only descriptors (e.g. density models, composition search)",
        ),
        Preset(
            name="magpie_v1",
            date="2026-11-28",
            groups=("magpie_v1",),
            elements=_ELEMENTS_2026_11,
            routes=_ROUTES_2026_11,
            tempers=_TEMPERS_2026_11,
            description="matminer ElementProperty.from_preset('magpie') equivalent (132 columns)",
        ),
    )
}


def get_preset(preset: str | Preset) -> Preset:
    """Look up a preset by name (a :class:`Preset` passes through).

    Raises:
        ConfigError: unknown preset name, listing the known ones.
    """
    if isinstance(preset, Preset):
        return preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigError(
            f"unknown feature preset {preset!r}; known presets: {sorted(PRESETS)}"
        ) from None
