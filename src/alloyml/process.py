"""Processing vocabulary shared by adapters, clean, featurization and predict: routes and states.

Two separate fields describe how a specimen was made:

* the **primary route** (``route``, :data:`alloyml.schema.ROUTES`): the casting method or the
  deformation process that shaped it, grouped into :data:`ROUTE_FAMILIES` by :func:`route_family`;
* the **thermal-mechanical state** (``temper``), decoded by :func:`decode_state` into a
  :class:`ProcessState` of physical descriptors (solution treated, quenched, natural or
  artificial ageing, under/peak/over-aged, cold work before or after ageing, stress relief,
  strain hardening). An undecodable state is explicitly unknown (``known=False``, every
  descriptor NaN), never a default.

Temper designations follow ANSI H35.1 (The Aluminum Association, *American National Standard
Alloy and Temper Designation Systems for Aluminum*): the letter (F, O, H, W, T) and, for T, the
first digit give the class; further digits (T651, T7351) are stress-relief or variant suffixes.
Magnesium tempers use the same letters (ASTM B296, *Standard Practice for Temper Designations of
Magnesium Alloys, Cast and Wrought*), with two differences handled here: T2 means annealed (cast
products only) and H1x/H2x have only a few registered second digits (H10, H11, H23, H24, H26).
The meaning of the T7x variants and of RRA follows ASM Handbook Vol. 2 (*Properties and
Selection: Nonferrous Alloys and Special-Purpose Materials*, "Alloy and Temper Designation
Systems for Aluminum and Aluminum Alloys") and ASM Handbook Vol. 4 (*Heat Treating*).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace

import pandas as pd

from alloyml.schema import ROUTES

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


NAN = math.nan

#: Families of the primary route: how the material was shaped.
ROUTE_FAMILIES: tuple[str, ...] = ("cast", "wrought", "powder", "am")

_FAMILY_OF_ROUTE: dict[str, str] = {
    "cast": "cast", "cast_sand": "cast", "cast_die": "cast", "cast_perm_mould": "cast",
    "cast_book_mould": "cast", "thixoformed": "cast",
    "wrought": "wrought", "extruded": "wrought", "rolled": "wrought", "forged": "wrought",
    "drawn": "wrought", "ecap": "wrought",
    "powder": "powder", "am": "am",
}  # fmt: skip


def route_family(route: str | None) -> str | None:
    """Family (one of :data:`ROUTE_FAMILIES`) of a canonical route, or None for no route.

    Thixoformed (semi-solid) material is counted as cast: it is shaped from a partly liquid
    charge, not deformed in the solid state. A missing value (None, NaN, ``pd.NA``) gives None;
    a route :func:`normalise_route` does not know raises ``ValueError``.

    Examples:
        >>> [route_family(r) for r in ["cast_die", "thixoformed", "ecap", "rolled", "am", None]]
        ['cast', 'cast', 'wrought', 'wrought', 'am', None]
    """
    if route is None or str(route) in ("nan", "NaN", "<NA>", "None"):
        return None
    key = normalise_route(str(route))
    return None if key is None else _FAMILY_OF_ROUTE[key]


# --------------------------------------------------------------------------------------------
# Process state
# --------------------------------------------------------------------------------------------

#: Citations of the decoding rules (the ``citation`` field of :class:`ProcessState`).
CITE_H35 = "ANSI H35.1 (Aluminum Association, Alloy and Temper Designation Systems for Aluminum)"
CITE_B296 = "ASTM B296 (Temper Designations of Magnesium Alloys, Cast and Wrought)"
CITE_ASM2 = (
    "ASM Handbook Vol. 2 (Properties and Selection: Nonferrous Alloys), Alloy and Temper "
    "Designation Systems for Aluminum and Aluminum Alloys"
)
CITE_B661 = "ASTM B661 / ASTM E44 (solution heat treatment is followed by rapid cooling)"
CITE_RRA = "B. Cina, US Patent 3,856,584 (1974); ASM Handbook Vol. 4 (retrogression and re-ageing)"
CITE_T4P = (
    "producers' designation, not registered in ANSI H35.1: T4 with a pre-ageing step right after "
    "the quench (6xxx automotive sheet, e.g. EP1190109)"
)
CITE_TEXT = "alloyml free-text rule (terms as defined in ASM Handbook Vol. 4, Heat Treating)"


@dataclass(frozen=True)
class ProcessState:
    """The thermal-mechanical state of a specimen, decoded from a temper or a free-text state.

    Descriptors are floats: 1.0 yes, 0.0 no, NaN unknown. ``ageing_degree`` is -1 for under-aged
    (including natural ageing, which stops at GP zones short of peak strength), 0 for peak-aged,
    +1 for over-aged or stabilised, with graded values for the T7x variants and RRA (see
    :func:`decode_state`); NaN when not aged or unknown.
    """

    text: str | None
    designation: str | None
    temper_class: str | None
    known: bool
    detail_known: bool
    heat_treated: float = NAN
    homogenised: float = NAN
    annealed: float = NAN
    solution_treated: float = NAN
    quenched: float = NAN
    natural_aged: float = NAN
    artificial_aged: float = NAN
    ageing_degree: float = NAN
    cold_work_before_ageing: float = NAN
    cold_work_after_ageing: float = NAN
    stretched: float = NAN
    compressed: float = NAN
    strain_hardened: float = NAN
    hardness_eighths: float = NAN
    stabilised: float = NAN
    citation: str = ""
    #: H2x: strain hardened more than wanted, then partially annealed (ANSI H35.1).
    partially_annealed: float = NAN
    #: T4P: a short low-temperature pre-ageing right after the quench.
    pre_aged: float = NAN
    #: RRA / T77: a retrogression step (short high-temperature anneal) between two ageings.
    retrogressed: float = NAN

    def descriptors(self) -> dict[str, float]:
        """The numeric descriptors (every float field) by name."""
        return {k: v for k, v in asdict(self).items() if k in STATE_DESCRIPTORS}


#: Names of the numeric descriptors of :class:`ProcessState`, in field order.
STATE_DESCRIPTORS: tuple[str, ...] = tuple(
    f.name for f in fields(ProcessState) if f.type in ("float", float)
)

#: Every descriptor "no": the starting point of designations the standards define fully.
_NONE: dict[str, float] = {k: 0.0 for k in STATE_DESCRIPTORS} | {
    "ageing_degree": NAN,
    "hardness_eighths": NAN,
    "homogenised": NAN,  # the designations do not say whether the ingot was homogenised
}


def _unknown(text: str | None) -> ProcessState:
    return ProcessState(text=text, designation=None, temper_class=None, known=False,
                        detail_known=False)  # fmt: skip


def _state(text: str | None, designation: str | None, cls: str | None, citation: str,
           **desc: float) -> ProcessState:  # fmt: skip
    return ProcessState(text=text, designation=designation, temper_class=cls, known=True,
                        detail_known=True, citation=citation, **(_NONE | desc))  # fmt: skip


# --- designations ---------------------------------------------------------------------------

_DESIGNATION = re.compile(r"^(?:RRA|F|O\d{0,2}|W\d{0,3}|H\d{0,4}|T4P|T(?:10|[1-9])\d{0,4}[A-Z]?)$")
#: Stress-relief suffixes (ANSI H35.1): 51/510/511 stretched, 52 compressed, 54 both.
_RELIEF = {"51": (1.0, 0.0), "510": (1.0, 0.0), "511": (1.0, 0.0), "52": (0.0, 1.0),
           "54": (1.0, 1.0)}  # fmt: skip
#: Degree of over-ageing of the T7x variants (ASM Handbook Vol. 2, temper designations): T73
#: is aged furthest past peak (best stress-corrosion resistance), T74 (formerly T736) between
#: T73 and T76, T76 less (exfoliation resistance), T79 only slightly; T77 is a three-step,
#: retrogression-type treatment with near-T6 strength and T76-like corrosion resistance.
_T7_DEGREE = {"3": 1.0, "4": 0.75, "6": 0.5, "7": 0.5, "9": 0.25}
#: RRA: matrix precipitates close to the peak-aged (T6) state, grain-boundary precipitates
#: coarsened as in T7x; encoded halfway between peak and over-aged, like T77 (Cina 1974).
RRA_DEGREE = 0.5
#: Ageing stages at or below this temperature (degC) are natural, room-temperature ageing (Hu
#: writes T4 as a 25 degC stage, Jiang writes pre-ageing at 20-25 degC).
NATURAL_AGEING_MAX_T_C = 30.0


def _split_suffix(rest: str) -> tuple[str, tuple[float, float]]:
    """Split the digits after the T class digit into (variant digits, (stretched, compressed))."""
    if rest in _RELIEF:
        return "", _RELIEF[rest]
    if rest[1:] in _RELIEF:
        return rest[:1], _RELIEF[rest[1:]]
    return rest, (0.0, 0.0)


def _decode_designation(code: str, text: str | None, system: str) -> ProcessState:
    """Decode a compact upper-case designation matching :data:`_DESIGNATION`."""
    std = CITE_B296 if system == "mg" else CITE_H35
    if code == "RRA":
        return _state(text, "RRA", "RRA", CITE_RRA, heat_treated=1.0, solution_treated=1.0,
                      quenched=1.0, artificial_aged=1.0, ageing_degree=RRA_DEGREE,
                      retrogressed=1.0)  # fmt: skip
    letter, digits = code[0], code[1:]
    if letter == "F":  # as fabricated: no special control of thermal or strain hardening
        return _state(text, "F", "F", std)
    if letter == "O":  # annealed (O1-O3 are H35.1 variants: O3 = homogenised)
        extra = {"homogenised": 1.0} if digits == "3" else {}
        return _state(text, code, "O", std, heat_treated=1.0, annealed=1.0, **extra)
    if letter == "W":  # solution heat treated, unstable (natural ageing still going on)
        st, co = _RELIEF.get(digits, (0.0, 0.0))
        return _state(text, code, "W", std, heat_treated=1.0, solution_treated=1.0,
                      quenched=1.0, stretched=st, compressed=co)  # fmt: skip
    if letter == "H":
        if not digits:  # strain hardened, subdivision not given
            return replace(
                _state(
                    text,
                    "H",
                    "H",
                    std,
                    strain_hardened=1.0,
                    heat_treated=NAN,
                    partially_annealed=NAN,
                    stabilised=NAN,
                ),
                detail_known=False,
            )
        group = digits[0]
        eighths = float(digits[1]) if len(digits) > 1 and digits[1] != "0" else NAN
        base = {"strain_hardened": 1.0, "hardness_eighths": eighths}
        if group == "1":  # H1x: strain hardened only
            return _state(text, code, "H", std, **base)
        if group == "2":  # H2x: strain hardened and partially annealed
            return _state(text, code, "H", std, heat_treated=1.0, partially_annealed=1.0, **base)
        if group == "3":  # H3x: strain hardened and stabilised by a low-temperature treatment
            return _state(text, code, "H", std, heat_treated=1.0, stabilised=1.0, **base)
        if group == "4":  # H4x: strain hardened and lacquered or painted (curing heat)
            return _state(text, code, "H", std, heat_treated=1.0, stabilised=NAN, **base)
        return replace(
            _state(
                text,
                code,
                "H",
                std,
                strain_hardened=1.0,
                heat_treated=NAN,
                stabilised=NAN,
                partially_annealed=NAN,
            ),
            detail_known=False,
        )
    # T tempers
    if code == "T4P":
        return _state(text, "T4P", "T4", CITE_T4P, heat_treated=1.0, solution_treated=1.0,
                      quenched=1.0, natural_aged=1.0, ageing_degree=-1.0, pre_aged=1.0)  # fmt: skip
    code = code.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")  # T6a, T5D: source-specific variants
    main = "10" if code.startswith("T10") else code[1]
    variant, (st, co) = _split_suffix(code[1 + len(main) :])
    relief = {"stretched": st, "compressed": co}
    sol = {"heat_treated": 1.0, "solution_treated": 1.0, "quenched": 1.0}
    shaped = {"heat_treated": 1.0, "solution_treated": 0.0, "quenched": 1.0}
    cls = None if main == "10" else f"T{main}"
    if main == "1":  # cooled from an elevated-temperature shaping process, naturally aged
        return _state(text, code, cls, std, natural_aged=1.0, ageing_degree=-1.0,
                      **shaped, **relief)  # fmt: skip
    if main == "2":
        if system == "mg":  # ASTM B296: T2 = annealed (cast products only)
            return _state(text, code, cls, std, heat_treated=1.0, annealed=1.0, **relief)
        # ANSI H35.1: cooled from shaping, cold worked, naturally aged
        return _state(text, code, cls, std, natural_aged=1.0, ageing_degree=-1.0,
                      cold_work_before_ageing=1.0, **shaped, **relief)  # fmt: skip
    if main == "3":  # solution treated, cold worked, naturally aged
        return _state(text, code, cls, std, natural_aged=1.0, ageing_degree=-1.0,
                      cold_work_before_ageing=1.0, **sol, **relief)  # fmt: skip
    if main == "4":  # solution treated, naturally aged
        return _state(text, code, cls, std, natural_aged=1.0, ageing_degree=-1.0,
                      **sol, **relief)  # fmt: skip
    if main == "5":  # cooled from shaping, artificially aged
        return _state(text, code, cls, std, artificial_aged=1.0, ageing_degree=0.0,
                      **shaped, **relief)  # fmt: skip
    if main == "6":  # solution treated, artificially aged (to about peak strength)
        return _state(text, code, cls, std, artificial_aged=1.0, ageing_degree=0.0,
                      **sol, **relief)  # fmt: skip
    if main == "7":  # solution treated, over-aged / stabilised
        degree = _T7_DEGREE.get(variant[:1], 1.0)
        retro = 1.0 if variant[:1] == "7" else 0.0
        cite = f"{std}; {CITE_ASM2}" if variant[:1] in _T7_DEGREE else std
        return _state(text, code, cls, cite, artificial_aged=1.0, ageing_degree=degree,
                      stabilised=1.0, retrogressed=retro, **sol, **relief)  # fmt: skip
    if main == "8":  # solution treated, cold worked, artificially aged
        return _state(text, code, cls, std, artificial_aged=1.0, ageing_degree=0.0,
                      cold_work_before_ageing=1.0, **sol, **relief)  # fmt: skip
    if main == "9":  # solution treated, artificially aged, cold worked
        return _state(text, code, cls, std, artificial_aged=1.0, ageing_degree=0.0,
                      cold_work_after_ageing=1.0, **sol, **relief)  # fmt: skip
    # T10: cooled from shaping, cold worked, artificially aged; no alloyml class (as before)
    return _state(text, code, cls, std, artificial_aged=1.0, ageing_degree=0.0,
                  cold_work_before_ageing=1.0, **shaped, **relief)  # fmt: skip


# --- free text ------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"(?<![A-Z0-9])(RRA|T4P|T(?:10|[1-9])\d{0,4}[A-Z]?|H\d{1,4}|W\d{0,3}|O\d?|F)(?![A-Z0-9])"
)
_STEP_SPLIT = re.compile(
    r"\s*(?:[+,;:]|\s/\s|->|→|\s[-–—ñ]\s|\bthen\b|\band\b|\bfollowed by\b|\bplus\b)\s*"
)
_W = {
    "as_fab": re.compile(
        r"\bas (?:cast|extruded|rolled|hot rolled|forged|drawn|fabricated|built|printed|"
        r"sintered|die cast|swaged|deposited|solidified|ecap(?:ed|'d)?|processed)\b"
    ),
    "rra": re.compile(r"\brra\b|retrogress"),
    "homog": re.compile(r"homogeni[sz]"),
    "sol": re.compile(r"\bsolution|\bsht\b|\bsolutioni[sz]"),
    "quench": re.compile(r"quench|\bwq\b|water cool"),
    "natural": re.compile(r"natural(?:ly)? ag|room temperature ag"),
    "pre_age": re.compile(r"\bpre ?ag"),
    "age": re.compile(r"ag(?:e|ed|eing|ing)\b|\bre ?ag|precipitation harden"),
    "peak": re.compile(r"\bpeak"),
    "under": re.compile(r"\bunder ?ag"),
    "over": re.compile(r"\bover ?ag"),
    "stabil": re.compile(r"stabili[sz]"),
    "anneal": re.compile(r"anneal"),
    "heat": re.compile(r"heat treat|\bht\b|\bheated\b|thermal treat|thermally treated"),
    "stretch": re.compile(r"stretch"),
    "compress": re.compile(r"compress"),
    "cold": re.compile(r"\bcold\b|room temperature|\brt\b|\bdeformed\b|pre ?strain|strained"),
    "deform": re.compile(r"extru|(?<!as )\broll(?!ed cast| cast)|forg|\becap|\becae|draw|swag"),
    "shape": re.compile(r"cast|extru|roll|forg|ecap|ecae|draw|swag|mou?ld|wrought|sheet|plate"),
    # an unlabelled treatment: a temperature and a time ("510 °C/16 h")
    "temp": re.compile(r"\d\s*(?:°|º|˚|\?)?\s*(?:c|k|degrees? c)\b.*\d\s*(?:h|hr|hours?|min)\b"),
    "hard": re.compile(r"\bhard (?:rolled|rolling|plate rolling|drawn)"),
}


def _norm_text(text: str) -> str:
    low = text.replace("\ufeff", "").replace("\xa0", " ").lower()
    low = re.sub(r"[-_‐–]+", " ", low)
    return re.sub(r"\s+", " ", low).strip()


def _hot_after(low: str, rest: str) -> bool:
    """Whether a hot-working step comes after a designation (``rest`` is the text after it)."""
    tail = _norm_text(rest)
    return any(
        _W["deform"].search(s) and not _W["cold"].search(s) for s in _STEP_SPLIT.split(tail) if s
    )


def _flags(step: str) -> set[str]:
    found = {k for k, rx in _W.items() if rx.search(step)}
    if "hard" in found:
        found |= {"cold"}  # hard rolled / drawn: strain hardened by cold work
    if _TOKEN.search(step.upper()):
        found.add("heat")  # a designation before a later hot-working step (see _decode_text)
    if found & {"shape", "as_fab"}:
        found.discard("temp")  # "extruded (573K)": a shaping temperature, not a treatment
    return found


def _decode_text(text: str, system: str) -> ProcessState:
    """Decode a free-text state (see :func:`decode_state`)."""
    low = _norm_text(text)
    if _W["rra"].search(low):
        state = _decode_designation("RRA", text, system)
        return replace(state, homogenised=1.0) if _W["homog"].search(low) else state
    up = text.replace("\ufeff", "").upper()
    tokens = list(_TOKEN.finditer(up))
    homog = 1.0 if _W["homog"].search(low) else NAN
    if tokens and _hot_after(low, up[tokens[-1].end() :]):
        tokens = []  # "extruded, T6, extruded at 335C": the temper was erased by hot working
    if tokens:
        codes = {_decode_designation(m.group(1), text, system).temper_class for m in tokens}
        between = [up[a.end() : b.start()] for a, b in zip(tokens, tokens[1:], strict=False)]
        if len(codes) > 1 and any(re.search(r"\bOR\b", s) for s in between):
            # "T5 or T6": heat treated, but which treatment is not stated
            return _heat_treated(text)
        state = _decode_designation(tokens[-1].group(1), text, system)
        return replace(state, homogenised=homog) if homog == 1.0 else state
    steps = [s for s in _STEP_SPLIT.split(low) if s and s.strip()]
    flags = [_flags(s) for s in steps]
    hot = [i for i, f in enumerate(flags) if "deform" in f and "cold" not in f]
    last_hot = hot[-1] if hot else -1
    thermal = {"homog", "sol", "quench", "natural", "age", "anneal", "heat", "pre_age", "temp"}
    before = set().union(*flags[: max(last_hot, 0)]) if last_hot > 0 else set()
    post_flags = flags[last_hot + 1 :]
    for i, f in enumerate(post_flags[:-1]):
        if f == {"temp"} and post_flags[i + 1] & {"age", "quench"}:
            f.add("sol")  # an unlabelled T/t step right before ageing or a quench: solution
    post = set().union(*post_flags) if post_flags else set()
    every = set().union(*flags) if flags else set()
    # A thermal treatment before the last hot-working step is an ingot/billet treatment: count
    # it as homogenisation (its other effects are erased by the hot working).
    if before & thermal:
        homog = 1.0
    if "homog" in post:
        homog = 1.0
    desc: dict[str, float] = {"homogenised": homog}
    age_idx = [i for i, f in enumerate(post_flags) if "age" in f or "natural" in f]
    cold_idx = [i for i, f in enumerate(post_flags) if "cold" in f and "age" not in f]
    if cold_idx and age_idx:
        desc["cold_work_before_ageing"] = 1.0 if min(cold_idx) < max(age_idx) else 0.0
        desc["cold_work_after_ageing"] = 1.0 if max(cold_idx) > max(age_idx) else 0.0
    elif age_idx:
        desc["cold_work_before_ageing"] = desc["cold_work_after_ageing"] = 0.0
    if "stretch" in post:
        desc["stretched"] = 1.0
    if "compress" in post:
        desc["compressed"] = 1.0
    aged = "age" in post and "natural" not in post
    natural = "natural" in post
    degree = (1.0 if "over" in post or ("stabil" in post and aged) else
              -1.0 if "under" in post or (natural and not aged) else
              0.0 if "peak" in post else NAN)  # fmt: skip
    shaped = "shape" in every
    if "anneal" in post and not (post & {"sol", "age", "natural"}):
        return replace(
            _decode_designation("O", text, system),
            citation=CITE_TEXT,
            designation=None,
            **{k: v for k, v in desc.items() if k == "homogenised"},
        )
    if "sol" in post:
        desc |= {"heat_treated": 1.0, "solution_treated": 1.0, "quenched": 1.0,
                 "natural_aged": 1.0 if natural else 0.0,
                 "artificial_aged": 1.0 if aged else 0.0}  # fmt: skip
        if aged or natural:
            desc["ageing_degree"] = degree
            cw_before = desc.get("cold_work_before_ageing", 0.0) == 1.0
            cw_after = desc.get("cold_work_after_ageing", 0.0) == 1.0
            if natural and not aged:
                cls = "T3" if cw_before else "T4"
            elif cw_after:
                cls = "T9"
            elif cw_before:
                cls = "T8"
            else:
                cls = "T7" if degree > 0 else "T6"
            desc["stabilised"] = 1.0 if cls == "T7" else 0.0
        else:
            cls = "W"
        if "pre_age" in post:
            desc["pre_aged"] = 1.0
        return _state(text, None, cls, f"{CITE_TEXT}; {CITE_B661}", **_partial(desc))
    if aged or natural:
        desc |= {"heat_treated": 1.0, "natural_aged": 1.0 if natural else 0.0,
                 "artificial_aged": 1.0 if aged else 0.0, "ageing_degree": degree,
                 "solution_treated": 0.0 if shaped else NAN,
                 "quenched": NAN}  # fmt: skip
        if shaped:  # aged straight after shaping: T5 (artificial) or T1 (natural)
            cls: str | None = "T5" if aged else "T1"
        elif natural and not aged:
            cls = "T4"
        else:
            cls = "T7" if degree > 0 else "T6" if degree in (0.0, -1.0) else None
        if cls == "T7":
            desc["stabilised"] = 1.0
        return _state(text, None, cls, CITE_TEXT, **_partial(desc))
    if "quench" in post:
        return _state(text, None, None, CITE_TEXT, **_partial(desc | {"quenched": 1.0}))
    if "homog" in post:
        return _state(text, None, None, CITE_TEXT, heat_treated=1.0, homogenised=1.0)
    if post & {"heat", "temp", "stabil", "pre_age"}:
        return replace(_heat_treated(text), homogenised=homog)
    if re.search(r"\b(?:strain|work) ?hard", low):  # "strain hardened": H, subdivision unknown
        return replace(_decode_designation("H", text, system), designation=None, citation=CITE_TEXT)
    if "cold" in post and (post & {"deform"} or "cold" in low):
        return _state(text, None, "H", CITE_TEXT, **_partial(desc | {"strain_hardened": 1.0}))
    if "as_fab" in every or (last_hot >= 0 and len(steps) > 1 and "shape" in every):
        return replace(
            _decode_designation("F", text, system),
            designation=None,
            citation=f"{CITE_TEXT}; {CITE_H35} (F = as fabricated)",
            homogenised=homog,
        )
    return _unknown(text)


def _partial(desc: dict[str, float]) -> dict[str, float]:
    """Descriptors a free text states; what it does not state is NaN, not 'no'."""
    return {k: desc.get(k, NAN) for k in STATE_DESCRIPTORS}


def _heat_treated(text: str) -> ProcessState:
    """Known to be heat treated after shaping, not how: every other descriptor unknown."""
    return ProcessState(text=text, designation=None, temper_class=None, known=True,
                        detail_known=False, heat_treated=1.0, citation=CITE_TEXT)  # fmt: skip


def decode_state(
    temper: str | None, temper_class: str | None = None, system: str = "al"
) -> ProcessState:
    """Decode a temper designation or a free-text state into a :class:`ProcessState`.

    Args:
        temper: what the source or the user wrote: an ANSI H35.1 / ASTM B296 designation
            (``T7451``, ``H18``, ``F``, ``T4P``, ``RRA``) or free text ("as-cast", "cast + T6",
            "solution treated + quenched + peak aged", "heat treated"). Case, spaces, hyphens
            and underscores do not matter.
        temper_class: used when ``temper`` is empty or undecodable (a source that gives only a
            class, e.g. ``T6``); decoded as a designation.
        system: ``"al"`` (ANSI H35.1) or ``"mg"`` (ASTM B296; T2 = annealed cast products).

    Rules (each with its source in the code):

    * Designations: F, O (O1-O3), W (W51...), H1x/H2x/H3x/H4x (second digit = eighths of full
      hardness: 2 quarter, 4 half, 6 three-quarter, 8 full, 9 extra hard; third digits are
      variants), T1-T10 with variant digits and the stress-relief suffixes 51/510/511
      (stretched), 52 (compressed), 54 (both). T7x: ``ageing_degree`` 1.0 for T73 and plain
      T7, 0.75 T74, 0.5 T76 and T77, 0.25 T79. T4P = T4 with pre-ageing. T10 has no alloyml
      class (``temper_class`` None), as before.
    * RRA / "retrogression and re-ageing": solution treated, quenched, artificially aged,
      ``ageing_degree`` 0.5 (peak-like matrix, over-aged grain boundaries), retrogressed.
    * Free text: the last designation written wins ("cast + T6", "T6 (peak aged)"); two
      different classes joined by "or" give "heat treated, detail unknown". Without a
      designation, the steps are read in order: as-fabricated phrases give F; solution
      treatment (+ quench, which solution heat treatment includes by definition) and
      natural/artificial ageing with under/peak/over give T4/T6/T7 (T3/T8/T9 with cold work
      before/after ageing), W without ageing; ageing without solution treatment after a
      shaping step gives T5 (T1 natural); "annealed" gives O; "homogenised" alone is heat
      treated with no class; "heat treated" with no detail is ``detail_known=False`` with
      every other descriptor NaN. A thermal step before the last hot-working step counts as
      homogenisation. Descriptors free text does not state are NaN, except the steps outside
      the class's own sequence (:data:`CLASS_IMPLIED_STEPS`), which take what every
      designation of the decoded class says (:func:`class_implied`).
    * Anything else (empty, a route word alone such as "extruded", "T0", "OA") is unknown:
      ``known=False`` and every descriptor NaN.

    Examples:
        >>> s = decode_state("T7451")
        >>> s.temper_class, s.solution_treated, s.ageing_degree, s.stretched
        ('T7', 1.0, 0.75, 1.0)
        >>> decode_state("as-cast").temper_class, decode_state("cast + T6").temper_class
        ('F', 'T6')
        >>> s = decode_state("heat treated")
        >>> s.known, s.detail_known, s.heat_treated, s.solution_treated
        (True, False, 1.0, nan)
        >>> decode_state("teleported").known
        False
    """
    raw = None if temper is None else str(temper)
    if raw is not None and raw.strip().lower() in ("nan", "<na>", "none"):
        raw = None
    state = _decode_one(raw, system) if raw is not None else _unknown(None)
    if (not state.known or not state.detail_known) and temper_class is not None:
        by_class = _decode_one(str(temper_class), system)
        if by_class.known:
            return replace(by_class, text=raw if raw is not None else by_class.text)
    if state.designation is None and state.temper_class is not None:
        # free text that names a class: on the steps outside its own sequence, what every
        # designation of the class says, it says too
        implied = class_implied(state.temper_class, system)
        fill = {
            k: v
            for k, v in implied.items()
            if k in CLASS_IMPLIED_STEPS and math.isnan(getattr(state, k))
        }
        if fill:
            state = replace(state, **fill)
    return state


#: Steps free text names when they happen and leaves unstated otherwise (annealing, strain
#: hardening, partial annealing, pre-ageing, retrogression): for these, and only these, free text
#: decoded to a class takes what every designation of the class says. The solution / ageing
#: descriptors the text leaves open stay open ("peak aged" does not say solution treated: T5 or
#: T6; "artificially aged" does not say how far).
CLASS_IMPLIED_STEPS: frozenset[str] = frozenset(
    {"annealed", "strain_hardened", "partially_annealed", "pre_aged", "retrogressed"}
)

#: Designation suffixes of a class whose common descriptors free text of that class implies:
#: the class itself, the stress-relief variants (ANSI H35.1 51/510/511/52/54) and, per class,
#: the registered variants (T7x degrees, T4P; H1x-H3x hardness digits, H111/H112/H116; O1-O3).
_CLASS_VARIANTS: dict[str, tuple[str, ...]] = {
    "T4": ("P",),
    "T7": ("3", "4", "6", "7", "9", "351", "451", "651"),
    "H": (*(f"{g}{d}" for g in "123" for d in "24689"), "111", "112", "116"),
    "O": ("1", "2", "3"),
    "W": ("51", "52"),
}


@functools.cache
def class_implied(temper_class: str, system: str = "al") -> dict[str, float]:
    """The descriptors on which every designation of ``temper_class`` agrees (value not NaN).

    A compilation that writes "solution treated + peak aged" for its whole T6 class does not
    say whether a row was stretched (T651) - that stays unknown - but a T6 of any variant is
    neither annealed nor strain hardened nor retrogressed, and the row says so like a row
    written ``T6``. Without it, the unknowns of free text made one source's T6 rows unlike
    every other source's.

    >>> imp = class_implied("T6")
    >>> imp["annealed"], imp["strain_hardened"], "stretched" in imp
    (0.0, 0.0, False)
    """
    relief = ("", "51", "510", "511", "52", "54") if temper_class.startswith("T") else ("",)
    codes = [temper_class + r for r in relief]
    codes += [temper_class + v for v in _CLASS_VARIANTS.get(temper_class, ())]
    states = [_decode_one(c, system) for c in codes]
    states = [st for st in states if st.known and st.temper_class == temper_class]
    if not states:
        return {}
    out: dict[str, float] = {}
    for k in STATE_DESCRIPTORS:
        vals = {getattr(st, k) for st in states}
        if len(vals) == 1 and not math.isnan(v := vals.pop()):
            out[k] = v
    return out


def _decode_one(text: str, system: str) -> ProcessState:
    clean = text.replace("\ufeff", "").replace("\xa0", " ").strip()
    if not clean:
        return _unknown(text)
    compact = re.sub(r"[\s\-_]+", "", clean).upper()
    if _DESIGNATION.match(compact):
        return _decode_designation(compact, text, system)
    return _decode_text(clean, system)


def state_frame(
    temper: Iterable[object], temper_class: Iterable[object] | None = None, system: str = "al"
) -> pd.DataFrame:
    """Decode many rows at once: one row per input, columns ``process_known``,
    ``process_detail_known`` and every :data:`STATE_DESCRIPTORS` name (1.0 / 0.0 / NaN).

    Missing values (None, NaN, ``pd.NA``) are unknown. Each distinct (temper, class) pair is
    decoded once. Pass ``temper_class`` to decode a class where ``temper`` is empty.

    Examples:
        >>> f = state_frame(["T651", "as-cast", None], [None, None, "T7"])
        >>> f[["process_known", "solution_treated", "ageing_degree"]].to_numpy().tolist()
        [[True, 1.0, 0.0], [True, 0.0, nan], [True, 1.0, 1.0]]
    """
    tempers = [None if _missing(t) else str(t) for t in temper]
    classes = (
        [None] * len(tempers)
        if temper_class is None
        else [None if _missing(c) else str(c) for c in temper_class]
    )
    if len(classes) != len(tempers):
        raise ValueError("temper and temper_class differ in length")
    cache: dict[tuple[str | None, str | None], ProcessState] = {}
    records = []
    for key in zip(tempers, classes, strict=True):
        if key not in cache:
            cache[key] = decode_state(key[0], key[1], system)
        st = cache[key]
        records.append(
            {"process_known": st.known, "process_detail_known": st.detail_known} | st.descriptors()
        )
    cols = ["process_known", "process_detail_known", *STATE_DESCRIPTORS]
    return pd.DataFrame.from_records(records, columns=cols)


def _missing(value: object) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def temper_class(temper: str | None) -> str | None:
    """Class of a temper designation or free-text state, or None.

    One of :data:`alloyml.schema.TEMPER_CLASSES`.

    A thin wrapper over :func:`decode_state` (``decode_state(temper).temper_class``).

    Examples:
        >>> [temper_class(t) for t in ["T651", "T7351", "H18", "O", "F", "W", "RRA", "t6", "x"]]
        ['T6', 'T7', 'H', 'O', 'F', 'W', 'RRA', 'T6', None]
    """
    return decode_state(temper).temper_class


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
