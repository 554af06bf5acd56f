"""The README's examples run, and its set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(PYTHON_BLOCKS) >= 2


@pytest.mark.parametrize("code", PYTHON_BLOCKS, ids=lambda c: c.splitlines()[-1][:40])
def test_readme_example_runs(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {"__name__": "__readme__"})


def test_setup_commands_match_ci() -> None:
    commands = ["pip install . && python -m dynorm", "pip install '.[test]' && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    for command in commands:
        assert f"\n{command}\n" in README
        assert f'\n    "{command}"\n' in ci
