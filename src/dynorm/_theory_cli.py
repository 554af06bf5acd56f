"""Subcommands ``reproduce`` and ``fit`` of ``python -m dynorm`` (see dynorm.cli).

* ``python -m dynorm reproduce [--outdir DIR]``: the outlier experiment's
  table, published against reproduced, and its two figures when matplotlib
  is installed.
* ``python -m dynorm fit ACTIVATIONS.npy [--target layer_norm|rms_norm]``:
  fit DyT and DyISRU to the normalization of saved activations. A missing or
  unreadable file, a non-float array or a 1-D array: one line on stderr and
  exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_NO_FIT = 1


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the outlier experiment: DyT vs DyISRU fitted to LayerNorm",
        description="Run the outlier experiment of docs/design.md §1, print the "
        "published and reproduced numbers, and write the figures (with matplotlib).",
    )
    p.add_argument("--outdir", default=".", help="where to write the PNGs (default: .)")
    p.add_argument("--no-figures", action="store_true", help="print the table only")
    p.add_argument("--seed", type=int, default=1, help="legacy NumPy seed (default 1)")
    p.add_argument("--channels", type=int, default=100, help="C (default 100)")
    p.add_argument("--sigma", type=float, default=2.0, help="std of the row (default 2)")
    p.add_argument("--steps", type=int, default=9, help="outlier steps k = 1..steps (default 9)")
    p.add_argument("--shift", type=float, default=5.0, help="outlier shift per step (default 5)")
    p.set_defaults(func=reproduce)

    p = subparsers.add_parser(
        "fit",
        help="fit DyT's alpha and DyISRU's beta to the LayerNorm/RMSNorm of saved activations",
        description="Load a float array of shape (..., C) from a .npy file, normalize each "
        "row with the target (no affine, no eps) and fit DyT and DyISRU to it.",
    )
    p.add_argument("activations", help="a .npy file with a float array of shape (..., C)")
    p.add_argument("--target", choices=("layer_norm", "rms_norm"), default="layer_norm",
                   help="the normalization to replace (default layer_norm)")
    p.add_argument("--eps", type=float, default=0.0, help="eps added to the variance (default 0)")
    p.set_defaults(func=fit)


def _error(command: str, message: str, status: int = EXIT_BAD_INPUT) -> int:
    print(f"dynorm {command}: error: {message}", file=sys.stderr)
    return status


def reproduce(args: argparse.Namespace) -> int:
    from dynorm.theory import PUBLISHED, outlier_experiment
    from dynorm.theory.figures import have_matplotlib, write_figures

    try:
        result = outlier_experiment(args.seed, args.channels, args.sigma, args.steps, args.shift)
    except ValueError as exc:
        return _error("reproduce", str(exc))
    defaults = (args.seed, args.channels, args.sigma, args.steps, args.shift) == (1, 100, 2.0, 9, 5.0)

    def published(key: str) -> str:
        return f"{PUBLISHED[key]:g}" if defaults else "-"

    published_ratio = (
        f"{PUBLISHED['mean_abs_residual_dyt'] / PUBLISHED['mean_abs_residual_dyisru']:.1f}"
        if defaults
        else "-"
    )
    print(
        f"Outlier experiment: seed {result.seed}, C = {result.channels}, "
        f"x = sort({result.sigma:g} * randn(C)), +{result.shift:g}k on the largest, "
        f"k = 1..{result.steps}, LayerNorm (population std, no eps), "
        f"{result.x.size} points mirrored"
    )
    print(f"Fits with s = sqrt(C-1) = {result.scale:.6g}: DyT s*tanh(alpha x), "
          f"DyISRU s*x/sqrt(beta + x^2)")
    print()
    rows = [
        ("alpha (DyT)", published("alpha"), f"{result.alpha:.10f}"),
        ("beta (DyISRU)", published("beta"), f"{result.beta:.8f}"),
        ("mean |residual| DyT", published("mean_abs_residual_dyt"),
         f"{result.mean_abs_residual_dyt:.10f}"),
        ("mean |residual| DyISRU", published("mean_abs_residual_dyisru"),
         f"{result.mean_abs_residual_dyisru:.10f}"),
        ("ratio DyT / DyISRU", published_ratio, f"{result.ratio:.4f}"),
    ]
    print(f"  {'':24}{'published':>12}{'reproduced':>18}")
    for name, paper, ours in rows:
        print(f"  {name:24}{paper:>12}{ours:>18}")
    print()
    if defaults:
        verdict = "match" if result.matches_published() else "DO NOT match"
        print(f"All four numbers {verdict} the published digits.")

    if args.no_figures:
        return 0 if (not defaults or result.matches_published()) else 1
    if not have_matplotlib():
        print("matplotlib is not installed: no figures written "
              "(pip install 'dynorm[plot]' to get them).")
    else:
        paths = write_figures(result, args.outdir)
        print("Figures written:")
        for path in paths:
            print(f"  {path.resolve()}")
    return 0 if (not defaults or result.matches_published()) else 1


def fit(args: argparse.Namespace) -> int:
    import numpy as np

    from dynorm.theory import FitError
    from dynorm.theory import fit as calibrate

    path = Path(args.activations)
    if not path.is_file():
        return _error("fit", f"no such file: {path}")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        return _error("fit", f"cannot read {path} as a .npy array: {exc}")
    if not isinstance(x, np.ndarray):
        return _error("fit", f"{path} is not a single .npy array")
    if not np.issubdtype(x.dtype, np.floating):
        return _error("fit", f"{path}: activations must be a float array, got dtype {x.dtype}")
    if x.ndim < 2:
        return _error("fit", f"{path}: need shape (..., C) with at least 2 axes, got {x.shape}")
    try:
        result = calibrate(x, args.target, eps=args.eps)
    except FitError as exc:
        return _error("fit", f"{path}: {exc}", EXIT_NO_FIT)
    except (TypeError, ValueError) as exc:
        return _error("fit", f"{path}: {exc}")
    print(result.report())
    return 0
