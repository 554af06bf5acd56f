"""dynorm.theory: the paper, executable.

* :mod:`.derivation` -- RMSNorm and its Jacobian, the two decouplings that
  lead to DyT (derivative space, via an ODE) and DyISRU (function space,
  exact), the bounds and the initial-value map ``beta0 = 1/alpha0^2``.
* :mod:`.lsq` -- a one-parameter least-squares fitter (safeguarded Newton in
  ``log p``) used for every fit.
* :mod:`.experiment` -- the outlier experiment of docs/design.md §1,
  reproducing alpha = 0.0486, beta = 301.06, mean |residual| 0.328 / 0.0048.
* ``softplus`` / ``softplus_inverse``: the parametrisation that keeps alpha
  and beta positive (re-exported from :mod:`dynorm.reference`).
* :mod:`.calibration` -- :func:`fit`: fit DyT and DyISRU to the LayerNorm or
  RMSNorm of real activations.
"""

from dynorm.reference import softplus, softplus_inverse

from .calibration import Calibration, ResidualStats, fit
from .derivation import (
    alpha_from_beta,
    beta_from_alpha,
    decoupled_ode_rhs,
    decoupled_prefactor,
    dyisru_curve,
    dyt_alpha_from_prefactor,
    dyt_curve,
    integrate_ode,
    layer_norm,
    layer_norm_bound,
    layer_norm_jacobian,
    leave_one_out_beta,
    rms_norm,
    rms_norm_bound,
    rms_norm_jacobian,
    rms_norm_jacobian_diagonal,
)
from .experiment import PUBLISHED, OutlierExperiment, outlier_experiment, outlier_rows
from .lsq import FitError, IsruModel, ScalarFit, TanhModel, fit_scalar, minimize_scalar_lsq

__all__ = [
    "PUBLISHED",
    "Calibration",
    "FitError",
    "IsruModel",
    "OutlierExperiment",
    "ResidualStats",
    "ScalarFit",
    "TanhModel",
    "alpha_from_beta",
    "beta_from_alpha",
    "decoupled_ode_rhs",
    "decoupled_prefactor",
    "dyisru_curve",
    "dyt_alpha_from_prefactor",
    "dyt_curve",
    "fit",
    "fit_scalar",
    "integrate_ode",
    "layer_norm",
    "layer_norm_bound",
    "layer_norm_jacobian",
    "leave_one_out_beta",
    "minimize_scalar_lsq",
    "outlier_experiment",
    "outlier_rows",
    "rms_norm",
    "rms_norm_bound",
    "rms_norm_jacobian",
    "rms_norm_jacobian_diagonal",
    "softplus",
    "softplus_inverse",
]
