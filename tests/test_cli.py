"""``python -m dynorm``: version, backends, ISA, self-check; exit status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import dynorm as dn
from dynorm import cli
from dynorm.selfcheck import LAYERS


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m dynorm ARGS`` with this very dynorm importable, no stdin."""
    src = str(Path(dn.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": src}
    return subprocess.run([sys.executable, "-m", "dynorm", *args], capture_output=True,
                          text=True, env=env, timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("args", [(), ("info",), ("info", "--seed", "3")], ids=str)
def test_info_prints_all_ok(args: tuple[str, ...]) -> None:
    run = run_module(*args)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert f"dynorm {dn.__version__}" in out
    assert "backends:" in out and "(active)" in out
    assert f"isa: {dn.isa()}" in out
    # one row per backend and instruction set, an OK per layer in each
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()
            if line.startswith("  ") and "/" in line.split()[0] and "OK" in line}
    expected = set()
    for backend in dn.backends():
        with dn.use_backend(backend):
            expected |= {f"{backend}/{isa}" for isa in dn.available_isas()}
    assert set(rows) == expected
    for cells in rows.values():
        assert cells[::2] == ["OK"] * len(LAYERS)
    assert "FAIL" not in out and "all OK" in out


def test_exit_status_is_one_on_failure(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    import dynorm.selfcheck

    monkeypatch.setattr(dynorm.selfcheck, "run_selfcheck",
                        lambda seed=0: [("LayerNorm", True, 1e-12), ("DyT", False, 0.5)])
    assert cli.main([]) == 1
    out = capsys.readouterr().out
    assert "DyT" in out and "FAIL" in out and "FAILED: DyT" in out


def test_unknown_subcommand_is_an_error() -> None:
    run = run_module("no-such-command")
    assert run.returncode == 2 and "invalid choice" in run.stderr
