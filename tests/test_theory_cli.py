"""``python -m dynorm reproduce`` and ``python -m dynorm fit``: output and exit status."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dynorm as dn
from dynorm import cli
from dynorm.theory import figures

HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def run_module(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m dynorm ARGS`` with this very dynorm importable, no stdin."""
    src = str(Path(dn.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": src, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "dynorm", *args], check=False,
                          capture_output=True, text=True, env=env, timeout=300, stdin=subprocess.DEVNULL, cwd=cwd)


def test_reproduce_prints_the_table_and_writes_figures(tmp_path: Path) -> None:
    run = run_module("reproduce", "--outdir", str(tmp_path / "figs"))
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    for name, published, reproduced in [
        ("alpha (DyT)", "0.0486", "0.0486101351"),
        ("beta (DyISRU)", "301.06", "301.0599538"),
        ("mean |residual| DyT", "0.328", "0.3278770025"),
        ("mean |residual| DyISRU", "0.0048", "0.0048142085"),
        ("ratio DyT / DyISRU", "68.3", "68.10"),
    ]:
        line = next(line for line in out.splitlines() if line.strip().startswith(name))
        assert published in line and reproduced in line, line
    assert "All four numbers match the published digits." in out
    if HAVE_MATPLOTLIB:
        for name in figures.FIGURE_NAMES:
            path = tmp_path / "figs" / name
            assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert str(path.resolve()) in out
    else:
        assert "pip install 'dynorm[plot]'" in out


def test_reproduce_without_matplotlib_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(figures, "have_matplotlib", lambda: False)
    assert cli.main(["reproduce", "--outdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "pip install 'dynorm[plot]'" in out
    assert not any(tmp_path.iterdir())


def test_reproduce_other_configuration_has_no_published_column(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["reproduce", "--no-figures", "--seed", "3", "--channels", "64"]) == 0
    out = capsys.readouterr().out
    assert "seed 3, C = 64" in out and "published digits" not in out


def test_reproduce_bad_configuration_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["reproduce", "--no-figures", "--channels", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


@pytest.mark.parametrize("target", ["layer_norm", "rms_norm"])
def test_fit_prints_the_calibration_report(tmp_path: Path, target: str) -> None:
    x = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    x[:, 0] *= 20.0
    path = tmp_path / "acts.npy"
    np.save(path, x)
    run = run_module("fit", str(path), "--target", target)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Fit of DyT and DyISRU to {target}" in run.stdout
    assert "alpha =" in run.stdout and "beta =" in run.stdout and "tail" in run.stdout
    assert run.stderr == ""


def write(tmp_path: Path, name: str, array: np.ndarray | None = None, raw: bytes = b"") -> Path:
    path = tmp_path / name
    if array is not None:
        np.save(path, array)
    else:
        path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda d: d / "missing.npy", "no such file"),
        (lambda d: write(d, "ints.npy", np.arange(12).reshape(3, 4)), "float"),
        (lambda d: write(d, "flat.npy", np.linspace(0, 1, 8)), "2 axes"),
        (lambda d: write(d, "junk.npy", raw=b"not an npy file"), "cannot read"),
        (lambda d: write(d, "objects.npy", np.array([[1.0, None]], dtype=object)), "cannot read"),
        (lambda d: write(d, "nan.npy", np.full((2, 4), np.nan)), "NaN"),
    ],
    ids=["missing", "int", "1-D", "junk", "object", "nan"],
)
def test_fit_bad_input_is_one_line_on_stderr_and_exit_2(tmp_path: Path, make, needle: str) -> None:
    run = run_module("fit", str(make(tmp_path)))
    assert run.returncode == 2, run.stdout + run.stderr
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and run.stderr.startswith("dynorm fit: error: ")
    assert needle in run.stderr


def test_fit_with_no_minimum_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Rows (-t, t): LayerNorm gives (-1, 1) = sign(x), a step that DyT only
    # approaches as alpha -> infinity.
    path = write(tmp_path, "step.npy", np.array([[-1.0, 1.0], [-2.0, 2.0], [-3.0, 3.0]]))
    assert cli.main(["fit", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dynorm fit: error: ")
    assert "no minimum" in err and "alpha grows" in err
