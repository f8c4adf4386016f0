"""The rounds of one campaign on disk: numbering, manifests, pending and measured candidates."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alloyml.errors import AlloyMLError
from alloyml.search.space import Design

MANIFEST = "round.json"
RECORD = "record.json"
MEASURED = "measured.csv"
_ROUND = re.compile(r"^round-(\d+)$")


class RoundError(AlloyMLError):
    """A round command cannot run (no such round, sheet does not match, nothing to record)."""


def candidate_id(campaign: str, n: int, k: int) -> str:
    return f"{campaign}-r{n}-c{k}"


def source_id(campaign: str, n: int) -> str:
    """Source id of a recorded round in ``data/sources.yaml`` (lower_snake_case)."""
    return re.sub(r"[^a-z0-9_]", "_", f"round_{campaign.lower()}_{n}")


@dataclass
class Rounds:
    """The rounds folder of one campaign (``<root>/<campaign>/round-N``)."""

    root: Path
    campaign: str

    @property
    def folder(self) -> Path:
        return Path(self.root) / self.campaign

    def numbers(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.iterdir():
            m = _ROUND.match(p.name)
            if m and (p / MANIFEST).is_file():
                out.append(int(m.group(1)))
        return sorted(out)

    def next_number(self) -> int:
        nums = self.numbers()
        return (nums[-1] + 1) if nums else 1

    def dir(self, n: int) -> Path:
        return self.folder / f"round-{n}"

    def manifest(self, n: int) -> dict[str, Any]:
        path = self.dir(n) / MANIFEST
        if not path.is_file():
            known = ", ".join(str(k) for k in self.numbers()) or "none yet"
            raise RoundError(
                f"campaign {self.campaign!r} has no round {n} in {self.folder} (rounds: {known}); "
                f"run `alloyml round propose {self.campaign}` first"
            )
        return json.loads(path.read_text(encoding="utf-8"))

    def record(self, n: int) -> dict[str, Any] | None:
        path = self.dir(n) / RECORD
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def measured_rows(self, n: int) -> pd.DataFrame:
        """Kept rows of round ``n`` (empty when nothing was recorded)."""
        path = self.dir(n) / MEASURED
        if not path.is_file():
            return pd.DataFrame(columns=["candidate_id"])
        return pd.read_csv(path, dtype={"candidate_id": str})

    def candidates(self, upto: int | None = None) -> list[dict[str, Any]]:
        """Every candidate of rounds ``<= upto`` with ``round``, ``id``, ``design`` and whether
        a row of it was kept (``measured``)."""
        out = []
        for n in self.numbers():
            if upto is not None and n > upto:
                continue
            measured = set(self.measured_rows(n)["candidate_id"].astype(str))
            for c in self.manifest(n)["candidates"]:
                out.append(c | {"round": n, "measured": c["id"] in measured})
        return out

    def pending_and_measured(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        cands = self.candidates()
        return [c for c in cands if not c["measured"]], [c for c in cands if c["measured"]]


def design_of(candidate: dict[str, Any]) -> Design:
    return Design.from_dict(candidate["design"])
