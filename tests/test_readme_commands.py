"""The README's two set-up-and-go commands are the ones CI runs, and run.sh resolves the mirror."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Two commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [re.sub(r"\s+#.*$", "", line).strip() for line in block.strip().splitlines()]


def test_readme_has_exactly_two_commands_repro_and_test():
    cmds = readme_commands()
    assert len(cmds) == 2
    assert cmds[0].endswith("./run.sh repro") and cmds[1].endswith("./run.sh test")


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert readme_commands()[1] in ci_lines


def test_run_sh_refuses_a_mirror_that_does_not_exist(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "ALLOYML_DATA_MIRROR"}
    env["ALLOYML_DATA_MIRROR"] = "no/such/mirror"
    proc = subprocess.run(
        ["bash", str(REPO / "run.sh"), "test"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "no/such/mirror is not a directory" in proc.stderr
