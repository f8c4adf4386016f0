"""The source registry: valid and invalid ``sources.yaml`` documents kept as files.

Each ``tests/data/registry/invalid/*.yaml`` starts with ``# expect: a | b | c``: substrings the
:class:`ConfigError` message must contain (the source and the offending key).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alloyml.errors import ConfigError
from alloyml.sources.registry import FileSpec, SourceSpec, load_sources, parse_sources

CASES = Path(__file__).resolve().parents[1] / "data" / "registry"
VALID = sorted((CASES / "valid").glob("*.yaml"))
INVALID = sorted((CASES / "invalid").glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name} must start with '# expect: ...'"
    return [s.strip() for s in first.removeprefix("# expect:").split("|") if s.strip()]


def test_case_files_exist():
    assert len(VALID) >= 2
    assert len(INVALID) >= 15


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_registry(path):
    specs = load_sources(path)
    assert specs
    for sid, spec in specs.items():
        assert isinstance(spec, SourceSpec)
        assert spec.id == sid
        assert re.fullmatch(r"[a-z][a-z0-9_]*", sid)
        assert spec.system in ("al", "mg")
        assert spec.adapter
        assert spec.files and spec.main is spec.files[0]
        for f in spec.files:
            assert isinstance(f, FileSpec)
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256)
            assert not Path(f.path).is_absolute() and ".." not in Path(f.path).parts


def test_valid_full_registry_values():
    specs = load_sources(CASES / "valid" / "full.yaml")
    assert list(specs) == ["lab_7xxx_2026", "lab_mgli"]
    lab = specs["lab_7xxx_2026"]
    assert lab.system == "al"
    assert len(lab.files) == 2
    assert lab.main.path == "inhouse/7xxx_batch3.xlsx"
    assert lab.main.url == "https://example.org/7xxx_batch3.xlsx"
    assert lab.main.sha256 == lab.main.sha256.lower()  # upper-case input normalised
    assert lab.files[1].url is None
    assert lab.options["sheet"] == "Tensile"
    assert lab.options["header"] == 1
    assert lab.options["columns"] == {"Zn (wt%)": "Zn", "Rm (MPa)": "uts_mpa"}
    assert lab.doi == "10.1000/xyz123"
    assert lab.citation == "Our lab, batch 3"
    mg = specs["lab_mgli"]
    assert mg.system == "mg"
    assert mg.options == {}
    assert mg.doi is None


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_registry(path):
    with pytest.raises(ConfigError) as exc:
        load_sources(path)
    msg = str(exc.value)
    assert path.name in msg, msg
    for part in _expected(path):
        assert part in msg, f"{part!r} not in {msg!r}"


def test_spec_is_frozen():
    specs = load_sources(CASES / "valid" / "minimal.yaml")
    with pytest.raises(AttributeError):
        specs["lab_min"].system = "mg"  # type: ignore[misc]


def test_load_sources_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_sources(tmp_path / "sources.yaml")


def test_load_sources_not_yaml(tmp_path):
    p = tmp_path / "sources.yaml"
    p.write_text("sources: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sources(p)


@pytest.mark.parametrize("doc", [None, [], "sources", {"sources": {"id": "x"}}], ids=repr)
def test_parse_sources_needs_a_sources_list(doc):
    with pytest.raises(ConfigError, match="'sources:' list"):
        parse_sources(doc, where="mem.yaml")


def test_real_registry_loads(repo, sources):
    assert sources == load_sources(repo / "data" / "sources.yaml")
    assert len(sources) >= 7
    for spec in sources.values():
        for f in spec.files:
            assert f.url and f.url.startswith("https://"), (
                f"{spec.id}: {f.path} has no pinned origin URL"
            )
