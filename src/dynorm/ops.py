"""The op table: every op dynorm computes, declared once (docs/design.md §3).

Each :class:`Op` says what the rest of the package needs to know about one
op: its names, its formula, its scalar parameters (learnable or not, their
domains and defaults), whether it has a bias, the per-row statistics its
forward saves for backward, its reference forward and backward, and the
PyTorch expression the benchmarks compare with. The layers
(:mod:`dynorm.layers`), the functional API (:mod:`dynorm.functional`), the
backends, the self-check, the benchmarks and the op-generic tests are all
derived from :data:`OPS`; adding an op is one entry here plus its reference
functions (and, for the C backend, its entry in the C library's op list).

Conventions every entry follows:

* Every op has a per-channel ``weight`` (shape ``(C,)``, default 1) and,
  when ``bias`` is true, a per-channel ``bias`` (default 0).
* ``scalars`` are in the C library's order (``dn_args.s``); the learnable
  ones become 0-d parameters of the layer (``alpha``, or ``alpha_raw`` with
  ``softplus=True``), the others plain attributes (``eps``).
* ``forward(x, w, b, *scalars)`` returns ``(y, *stats)``: ``y`` like ``x``,
  each statistic of shape ``x.shape[:-1]``, all in ``x.dtype``.
* ``backward(dy, x, stats, w, *scalars)`` returns
  ``(dx, dweight, dbias, *dlearnable)``: ``dbias`` None for an op without a
  bias, one float per learnable scalar, in ``scalars`` order.
* Both are the NumPy reference (:mod:`dynorm.reference`), adapted to these
  signatures where the reference reads more naturally another way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import reference as ref

#: A scalar's domain: any finite value, or finite and >= 0.
Domain = Literal["finite", "nonnegative"]


@dataclass(frozen=True, eq=False)
class Scalar:
    """One scalar parameter of an op.

    Parameters
    ----------
    name : str
        Its name everywhere: the layer's parameter (``alpha``) or attribute
        (``eps``), the functional argument, the self-check's label.
    default : float
        The layers' default (as ``alpha0=0.5`` or ``eps=1e-5``) and the
        functional default of a non-learnable scalar.
    domain : {"finite", "nonnegative"}
        Values the op accepts; anything else is a ValueError.
    learnable : bool
        A learnable scalar is a 0-d parameter of the layer with a gradient; a
        non-learnable one a constant set at construction.
    doc : str
        What it is, one line (for the generated docstrings).
    sample : tuple of float
        The range the self-check and the tests draw its values from.
    """

    name: str
    default: float
    domain: Domain
    learnable: bool
    doc: str
    sample: tuple[float, float] = (0.5, 2.0)


@dataclass(frozen=True, eq=False)
class Op:
    """One op of the table (see the module docstring for the conventions).

    Parameters
    ----------
    name : str
        The functional name (``"dyt"``) and the C library's op name.
    layer : str
        The layer class's name (``"DyT"``).
    summary : str
        One line: what the op is.
    formula : str
        The forward formula, in the notation of :mod:`dynorm.reference`.
    scalars : tuple of Scalar
        The scalar parameters, in the C library's order.
    bias : bool
        Whether the op has a per-channel bias.
    stats : tuple of str
        The per-row statistics the forward saves for backward, in order.
    forward, backward : callable
        The reference forward and backward (see the module docstring).
    torch : str
        A PyTorch expression of the forward, of ``x``, ``w``, ``b``, the
        scalars by name and ``F`` (``torch.nn.functional``).
    layer_args : tuple of str
        The layer constructor's arguments after ``C`` and before ``dtype``:
        ``"<name>0"`` for a learnable scalar's initial value, ``"bias"``, a
        non-learnable scalar's name, ``"softplus"``. Empty: the rule
        (learnable scalars, bias, the others, softplus).
    """

    name: str
    layer: str
    summary: str
    formula: str
    scalars: tuple[Scalar, ...]
    bias: bool
    stats: tuple[str, ...]
    forward: Callable[..., tuple[Any, ...]]
    backward: Callable[..., tuple[Any, ...]]
    torch: str
    layer_args: tuple[str, ...] = ()

    @property
    def learnable(self) -> tuple[Scalar, ...]:
        """The learnable scalars, in order."""
        return tuple(s for s in self.scalars if s.learnable)

    @property
    def constants(self) -> tuple[Scalar, ...]:
        """The non-learnable scalars, in order."""
        return tuple(s for s in self.scalars if not s.learnable)

    @property
    def constructor_args(self) -> tuple[str, ...]:
        """The layer constructor's arguments between ``C`` and ``dtype``."""
        if self.layer_args:
            return self.layer_args
        return (tuple(s.name + "0" for s in self.learnable) + (("bias",) if self.bias else ())
                + tuple(s.name for s in self.constants)
                + (("softplus",) if self.learnable else ()))

    def checker(self, scalar: Scalar) -> Callable[[Any], float]:
        """The check of one of this op's scalars: the value as a float, or
        TypeError/ValueError naming it, its domain and (for a learnable
        non-negative one) the layer option that keeps it positive."""
        from ._validate import scalar_checker

        hint = ""
        if scalar.learnable and scalar.domain == "nonnegative":
            hint = f" ({self.layer}(softplus=True) keeps {scalar.name} positive during training)"
        return scalar_checker(scalar.name, scalar.domain, hint)

    def __repr__(self) -> str:
        return f"<op {self.name}>"


def _eps(default: float) -> Scalar:
    return Scalar("eps", default, "nonnegative", False,
                  "added to the variance (or mean square) under the square root",
                  sample=(default, default))


def _dyt_forward(x, w, b, alpha):  # type: ignore[no-untyped-def]
    return (ref.dyt_forward(x, alpha, w, b),)


def _dyt_backward(dy, x, stats, w, alpha):  # type: ignore[no-untyped-def]
    dx, dalpha, dw, db = ref.dyt_backward(dy, x, alpha, w)
    return dx, dw, db, dalpha


def _dyisru_forward(x, w, b, beta, eps):  # type: ignore[no-untyped-def]
    return (ref.dyisru_forward(x, beta, w, b, eps),)


def _dyisru_backward(dy, x, stats, w, beta, eps):  # type: ignore[no-untyped-def]
    dx, dbeta, dw, db = ref.dyisru_backward(dy, x, beta, w, eps)
    return dx, dw, db, dbeta


LAYER_NORM = Op(
    name="layer_norm",
    layer="LayerNorm",
    summary="LayerNorm over the last axis",
    formula="y = (x - <x>) / sqrt(var + eps) * w + b",
    scalars=(_eps(1e-5),),
    bias=True,
    stats=("mean", "rstd"),
    forward=lambda x, w, b, eps: ref.layer_norm_forward(x, w, b, eps),
    backward=lambda dy, x, stats, w, eps: ref.layer_norm_backward(dy, x, stats[0], stats[1], w),
    torch="F.layer_norm(x, (x.shape[-1],), w, b, eps)",
    layer_args=("eps", "bias"),
)

RMS_NORM = Op(
    name="rms_norm",
    layer="RMSNorm",
    summary="RMSNorm over the last axis",
    formula="y = x / sqrt(<x^2> + eps) * w",
    scalars=(_eps(1e-6),),
    bias=False,
    stats=("rstd",),
    forward=lambda x, w, b, eps: ref.rms_norm_forward(x, w, eps),
    backward=lambda dy, x, stats, w, eps: (*ref.rms_norm_backward(dy, x, stats[0], w), None),
    torch="F.rms_norm(x, (x.shape[-1],), w, eps)",
)

DYT = Op(
    name="dyt",
    layer="DyT",
    summary="Dynamic Tanh, element-wise",
    formula="y = w * tanh(alpha * x) + b",
    scalars=(Scalar("alpha", 0.5, "finite", True, "the slope of tanh at 0",
                    sample=(0.3, 1.5)),),
    bias=True,
    stats=(),
    forward=_dyt_forward,
    backward=_dyt_backward,
    torch="w * torch.tanh(alpha * x) + b",
)

DYISRU = Op(
    name="dyisru",
    layer="DyISRU",
    summary="Dynamic Inverse Square Root Unit, element-wise",
    formula="y = w * x / sqrt(beta + eps + x^2) + b",
    scalars=(Scalar("beta", 4.0, "nonnegative", True,
                    "the squared width of the linear region (4.0 = 1/0.5^2: the slope "
                    "of DyT with alpha = 0.5)", sample=(0.5, 8.0)),
             Scalar("eps", 1e-5, "nonnegative", False, "added to beta under the square root",
                    sample=(1e-5, 1e-5))),
    bias=True,
    stats=(),
    forward=_dyisru_forward,
    backward=_dyisru_backward,
    torch="w * (x * torch.rsqrt(beta + eps + x * x)) + b",
)

#: Every op, in the C library's order.
OPS: tuple[Op, ...] = (LAYER_NORM, RMS_NORM, DYT, DYISRU)

#: The ops by name.
BY_NAME: dict[str, Op] = {op.name: op for op in OPS}
