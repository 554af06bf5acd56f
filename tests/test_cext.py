"""The C library on its own (cext/, no Python involved), driven from pytest
so that the README's one test command covers it: its unit tests on every
ISA this CPU runs, and the same tests under AddressSanitizer + UBSan. Each
builds into a temporary directory, leaving the source tree clean."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

CEXT = Path(__file__).resolve().parent.parent / "cext"

pytestmark = pytest.mark.skipif(
    shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None
    or not (CEXT / "Makefile").exists(),
    reason="needs make, a C compiler and the cext/ sources",
)


def make(target: str, build: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-C", str(CEXT), f"BUILD={build}", target],
        capture_output=True, text=True, timeout=timeout,
    )


def closing_line(out: str) -> str:
    return next(line for line in reversed(out.splitlines()) if "passed" in line)


@pytest.mark.parametrize("target", ["test", "sanitize"])
def test_c_unit_tests(target: str, tmp_path: Path) -> None:
    run = make(target, tmp_path / "build")
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    line = closing_line(run.stdout)
    assert line.endswith(" 0 failed") and int(line.split()[0]) > 10000, line
    assert "runtime error" not in run.stderr and "ERROR: AddressSanitizer" not in run.stderr
