"""The examples in the package's docstrings run and give what they show.

One test per module whose source holds an example (``>>>``), found by reading the files, so that
a module that gains examples is picked up without listing it here.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MODULES = sorted(
    ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
    for p in (SRC / "alloyml").rglob("*.py")
    if ">>> " in p.read_text(encoding="utf-8")
)


def test_examples_are_found():
    assert len(MODULES) >= 8
    assert "alloyml.curation.clean" in MODULES and "alloyml.process" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module) if t.examples]
    assert tests, f"{name}: '>>>' in the source but no docstring example found"
    report: list[str] = []
    for t in tests:
        runner.run(t, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
    assert result.attempted == sum(len(t.examples) for t in tests)
