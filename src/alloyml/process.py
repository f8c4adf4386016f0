"""Processing vocabulary shared by adapters, the CLI and featurization: tempers and routes.

Temper designations follow ANSI H35.1 (The Aluminum Association, *American National Standard
Alloy and Temper Designation Systems for Aluminum*): the letter (F, O, H, W, T) and, for T, the
first digit give the class; further digits (T651, T7351) are stress-relief or variant suffixes.
Magnesium tempers use the same letters (ASTM B296).
"""

from __future__ import annotations

import re

from alloyml.schema import ROUTES

_T = re.compile(r"^T\s*(10|[1-9])")
_RRA = re.compile(r"\bRRA\b|retrogress", re.IGNORECASE)

_ROUTE_ALIASES = {
    "cast": "cast",
    "as-cast": "cast",
    "as cast": "cast",
    "sand cast": "cast_sand",
    "sand": "cast_sand",
    "die cast": "cast_die",
    "hpdc": "cast_die",
    "die": "cast_die",
    "permanent mould": "cast_perm_mould",
    "permanent mold": "cast_perm_mould",
    "lpdc": "cast_perm_mould",
    "extruded": "extruded",
    "extrusion": "extruded",
    "rolled": "rolled",
    "rolling": "rolled",
    "sheet": "rolled",
    "forged": "forged",
    "forging": "forged",
    "drawn": "drawn",
    "wrought": "wrought",
    "ecap": "ecap",
    "ecae": "ecap",
    "thixoformed": "thixoformed",
    "am": "am",
    "additive": "am",
    "powder": "powder",
}


def temper_class(temper: str | None) -> str | None:
    """Class of a temper designation, one of :data:`alloyml.schema.TEMPER_CLASSES`, or None.

    Examples:
        >>> [temper_class(t) for t in ["T651", "T7351", "H18", "O", "F", "W", "RRA", "t6", "x"]]
        ['T6', 'T7', 'H', 'O', 'F', 'W', 'RRA', 'T6', None]
    """
    if temper is None:
        return None
    text = str(temper).replace("\ufeff", "").strip()
    if not text:
        return None
    if _RRA.search(text):
        return "RRA"
    up = text.upper()
    m = _T.match(up)
    if m:
        # T10 (ANSI H35.1: cooled from shaping, cold worked, artificially aged) is its own
        # temper, not a T1 variant; alloyml has no class for it.
        return None if m.group(1) == "10" else f"T{m.group(1)}"
    if up[0] in "FOHW" and (len(up) == 1 or not up[1].isalpha()):
        return up[0]
    return None


def normalise_route(route: str | None) -> str | None:
    """Map a route as a scientist writes it (``cast``, ``Extruded``, ``HPDC``) to a canonical route.

    Returns None for an empty value; raises ``ValueError`` for a route alloyml does not know.
    """
    if route is None:
        return None
    key = str(route).strip().lower().replace("_", " ")
    if not key:
        return None
    if key.replace(" ", "_") in ROUTES:
        return key.replace(" ", "_")
    if key in _ROUTE_ALIASES:
        return _ROUTE_ALIASES[key]
    raise ValueError(f"unknown route {route!r}; known routes: {', '.join(ROUTES)}")
