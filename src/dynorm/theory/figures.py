"""The two figures of the outlier experiment (needs matplotlib: ``pip install 'dynorm[plot]'``).

* ``outlier_fit.png``: LayerNorm's outlier points (input, output) with the
  fitted DyT and DyISRU curves, the bound ``+-sqrt(C-1)``, and in the
  background every channel of the perturbed rows after LayerNorm.
* ``outlier_residuals.png``: the residuals ``curve - LayerNorm`` at the
  outlier points, on a linear scale and as ``|residual|`` on a log scale.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .experiment import OutlierExperiment

__all__ = ["FIGURE_NAMES", "have_matplotlib", "write_figures"]

FIGURE_NAMES = ("outlier_fit.png", "outlier_residuals.png")
DYT_COLOR, DYISRU_COLOR, LN_COLOR = "tab:orange", "tab:blue", "black"


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_figures(result: OutlierExperiment, outdir: str | Path = ".") -> list[Path]:
    """Write the two PNGs into ``outdir`` (created if needed); return their paths.

    Uses matplotlib's non-interactive Agg backend; raises ``ImportError``
    when matplotlib is missing.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    fit_path, residual_path = (outdir / name for name in FIGURE_NAMES)
    bound = result.scale
    label_dyt = f"DyT  $\\sqrt{{C-1}}\\,\\tanh(\\alpha x)$, $\\alpha$ = {result.alpha:.4f}"
    label_dyisru = (
        f"DyISRU  $\\sqrt{{C-1}}\\,x/\\sqrt{{\\beta + x^2}}$, $\\beta$ = {result.beta:.2f}"
    )

    # Figure 1: the points and the curves.
    fig, ax = plt.subplots(figsize=(7.5, 5.0), dpi=120)
    reach = 1.1 * float(np.max(np.abs(result.x)))
    grid = np.linspace(-reach, reach, 801)
    ax.scatter(
        np.concatenate([result.rows.ravel(), -result.rows.ravel()]),
        np.concatenate([result.rows_normalized.ravel(), -result.rows_normalized.ravel()]),
        s=4, color="0.75", zorder=1, label="LayerNorm, all channels of the perturbed rows",
    )
    for sign in (1, -1):
        ax.axhline(sign * bound, color="0.5", lw=0.8, ls=":", zorder=0)
    ax.text(-reach, bound, f"  $\\sqrt{{C-1}}$ = {bound:.2f}", va="bottom", fontsize=8, color="0.4")
    ax.plot(grid, result.dyt(grid), color=DYT_COLOR, lw=1.8, zorder=2, label=label_dyt)
    ax.plot(grid, result.dyisru(grid), color=DYISRU_COLOR, lw=1.8, ls="--", zorder=3,
            label=label_dyisru)
    ax.scatter(result.x, result.y, s=30, color=LN_COLOR, zorder=4,
               label=f"LayerNorm outlier points ({result.x.size}, mirrored)")
    ax.set_xlabel("input x")
    ax.set_ylabel("output")
    ax.set_title(
        f"LayerNorm's outlier: +{result.shift:g}k on the largest of C = {result.channels} "
        f"channels, k = 1..{result.steps}"
    )
    ax.set_xlim(-reach, reach)
    ax.set_ylim(-1.25 * bound, 1.25 * bound)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.95)
    fig.tight_layout()
    fig.savefig(fit_path)
    plt.close(fig)

    # Figure 2: the residuals.
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.0), dpi=120)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.set_xlabel("input x")
    left.axhline(0.0, color="0.5", lw=0.8)
    # Each mirrored half on its own: no line through the empty middle.
    for side in (result.x < 0, result.x > 0):
        first = bool(side[0])
        left.plot(result.x[side], result.residual_dyt[side], "o-", color=DYT_COLOR, ms=4,
                  label=f"DyT, mean |r| = {result.mean_abs_residual_dyt:.3f}" if first else None)
        left.plot(result.x[side], result.residual_dyisru[side], "s--", color=DYISRU_COLOR, ms=4,
                  label=f"DyISRU, mean |r| = {result.mean_abs_residual_dyisru:.4f}"
                  if first else None)
    left.set_ylabel("residual  curve(x) - LayerNorm")
    left.set_title("residuals at the outlier points")
    left.legend(fontsize=8)
    right.semilogy(result.x, np.abs(result.residual_dyt), "o", color=DYT_COLOR, ms=4, label="DyT")
    right.semilogy(result.x, np.abs(result.residual_dyisru), "s", color=DYISRU_COLOR, ms=4,
                   label="DyISRU")
    right.set_ylabel("|residual| (log scale)")
    right.set_title(f"DyISRU is {result.ratio:.0f}x closer on average")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(residual_path)
    plt.close(fig)
    return [fit_path, residual_path]
