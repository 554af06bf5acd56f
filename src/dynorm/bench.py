"""Speed of every op, as ratios measured in one run (``python -m dynorm bench``).

The machines this runs on are shared and noisy, so absolute times mean
little. Each op is timed interleaved with ``np.copyto`` of an array of the
same shape (glibc memcpy, the memory-bandwidth yardstick) and reported as

* ``copy``: the op's bytes per second over copyto's, where a forward moves
  2 arrays (read x, write y: the same bytes as the copy) and a backward 3
  (read dy and x, write dx); 1.0 means "as fast as a memcpy". Given for the
  C backend on one thread (``1t``) and on all of ``dn.num_threads()``
  (``Nt``; large calls split by rows); copyto is always one thread;
* ``vs numpy``: how many times faster (all threads) than the NumPy reference;
* ``vs torch``: how many times faster than PyTorch's CPU path, both on one
  thread, when PyTorch happens to be installed (never a dependency).

Every call writes into preallocated outputs (``out=``): a fresh 256 MiB
result costs more in page faults than the copy itself. Times are the
minimum over repeats; the copy is re-timed beside every op.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .ops import BY_NAME
from .ops import OPS as _TABLE

#: Every op of the table, by name.
OPS = tuple(op.name for op in _TABLE)
DEFAULT_SHAPES = ((8, 768), (4096, 768), (16384, 4096))


@dataclass
class Case:
    """One op in one direction on one shape, with the callables to time."""

    op: str
    direction: str  # "forward" | "backward"
    shape: tuple[int, int]
    arrays: int  # arrays moved through memory: 2 forward, 3 backward
    impls: dict[str, Callable[[], object]]


def _layer(op: str, C: int, dtype: type):  # type: ignore[no-untyped-def]
    from .layers import LAYERS

    return LAYERS[op](C, dtype=dtype)


def _with_backend(name: str, fn: Callable[[], object]) -> Callable[[], object]:
    import dynorm as dn

    def run() -> object:
        with dn.use_backend(name):
            return fn()

    return run


def _one_thread(fn: Callable[[], object]) -> Callable[[], object]:
    import dynorm as dn

    def run() -> object:
        previous = dn.set_num_threads(1)
        try:
            return fn()
        finally:
            dn.set_num_threads(previous)

    return run


def _torch_impls(op: str, x: np.ndarray, dy: np.ndarray) -> dict[str, Callable[[], object]]:
    """PyTorch's forward and backward of ``op`` (its table entry's ``torch``
    expression, at the layer's initial parameters), one thread, or {}
    without torch."""
    try:
        import torch
    except ImportError:
        return {}
    torch.set_num_threads(1)
    entry = BY_NAME[op]
    C = x.shape[1]
    xt = torch.from_numpy(x).requires_grad_(True)
    dy_t = torch.from_numpy(dy)
    leaves = [xt, torch.ones(C, requires_grad=True)]
    names = {"x": xt, "w": leaves[1], "F": torch.nn.functional, "torch": torch}
    if entry.bias:
        names["b"] = torch.zeros(C, requires_grad=True)
        leaves.append(names["b"])
    for s in entry.scalars:
        if s.learnable:
            names[s.name] = torch.tensor(s.default, requires_grad=True)
            leaves.append(names[s.name])
        else:
            names[s.name] = s.default
    code = compile(entry.torch, f"<torch {op}>", "eval")

    def forward() -> object:
        with torch.no_grad():
            return eval(code, names)

    y = eval(code, names)

    def backward() -> object:
        for p in leaves:
            p.grad = None
        y.backward(dy_t, retain_graph=True)
        return xt.grad

    return {"forward": forward, "backward": backward}


def make_case(op: str, shape: tuple[int, int], numpy_max_elements: int = 1 << 27,
              torch: bool = True, seed: int = 0) -> tuple[Case, Case]:
    """The forward and backward cases of ``op`` at ``shape`` with their
    implementations: "c" (the default backend), "c-1t" (it on one thread, when
    it runs more), "numpy" (the reference; skipped above
    ``numpy_max_elements`` elements), "torch" (if installed and asked for) and
    "copy" (np.copyto of the same shape)."""
    import dynorm as dn

    rows, C = shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, C), dtype=np.float32)
    dy = rng.standard_normal((rows, C), dtype=np.float32)
    out = np.empty_like(x)
    dst = np.empty_like(x)

    def copy() -> None:
        np.copyto(dst, x)

    layer = _layer(op, C, np.float32)
    layer.forward(x, out=out)
    fwd: dict[str, Callable[[], object]] = {"c": lambda: layer.forward(x, out=out)}
    bwd: dict[str, Callable[[], object]] = {"c": lambda: layer.backward(dy, out=out)}
    if dn.num_threads() > 1:
        fwd["c-1t"] = _one_thread(fwd["c"])
        bwd["c-1t"] = _one_thread(bwd["c"])
    if "numpy" in dn.backends() and x.size <= numpy_max_elements:
        fwd["numpy"] = _with_backend("numpy", fwd["c"])
        bwd["numpy"] = _with_backend("numpy", bwd["c"])
    if torch:
        t = _torch_impls(op, x, dy)
        if t:
            fwd["torch"], bwd["torch"] = t["forward"], t["backward"]
    fwd["copy"] = bwd["copy"] = copy
    return Case(op, "forward", shape, 2, fwd), Case(op, "backward", shape, 3, bwd)


def make_cases(shapes: tuple[tuple[int, int], ...] = DEFAULT_SHAPES, ops: tuple[str, ...] = OPS,
               numpy_max_elements: int = 1 << 27, torch: bool = True,
               seed: int = 0) -> list[Case]:
    """Every (op, direction, shape) case (see :func:`make_case`)."""
    return [case for shape in shapes for op in ops
            for case in make_case(op, shape, numpy_max_elements, torch, seed)]


def _best_time(fn: Callable[[], object], budget: float, min_repeats: int) -> float:
    """Minimum wall time of ``fn`` over repeats within about ``budget`` seconds,
    each repeat running enough calls to last ~1 ms (for tiny ops)."""
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    inner = max(1, int(1e-3 / once))
    best, spent, n = float("inf"), 0.0, 0
    while n < min_repeats or (spent < budget and n < 1000):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        dt = time.perf_counter() - t0
        best = min(best, dt / inner)
        spent += dt
        n += 1
    return best


@dataclass
class Result:
    case: Case
    seconds: dict[str, float]

    def copy_ratio(self, impl: str = "c") -> float | None:
        """The op's bandwidth over copyto's (bytes moved per second)."""
        if impl not in self.seconds:
            return None
        return (self.case.arrays / 2) * self.seconds["copy"] / self.seconds[impl]

    def speedup(self, other: str, impl: str = "c") -> float | None:
        if other not in self.seconds or impl not in self.seconds:
            return None
        return self.seconds[other] / self.seconds[impl]


def run(cases: list[Case], budget: float = 0.5, min_repeats: int = 3) -> list[Result]:
    """Time every implementation of every case, copy interleaved with each."""
    results = []
    for case in cases:
        seconds: dict[str, float] = {}
        copy_times = []
        for name, fn in case.impls.items():
            if name == "copy":
                continue
            heavy = name in ("numpy", "torch") and case.shape[0] * case.shape[1] >= 1 << 24
            seconds[name] = _best_time(fn, budget / 4 if heavy else budget,
                                       1 if heavy else min_repeats)
            copy_times.append(_best_time(case.impls["copy"], budget / 2, min_repeats))
        seconds["copy"] = min(copy_times)
        results.append(Result(case, seconds))
    return results


def format_table(results: list[Result]) -> str:
    def fmt(v: float | None, spec: str) -> str:
        return "-" if v is None else format(v, spec)

    def fmt_t(t: float) -> str:
        return f"{t * 1e6:.1f}us" if t < 1e-3 else f"{t * 1e3:.2f}ms"

    lines = [f"{'op':<11}{'dir':<9}{'shape':>11}{'C 1t':>10}{'C Nt':>10}{'copy 1t':>9}"
             f"{'copy Nt':>9}{'vs numpy':>10}{'vs torch':>10}"]
    for r in results:
        shape = f"{r.case.shape[0]}x{r.case.shape[1]}"
        one = "c-1t" if "c-1t" in r.seconds else "c"
        lines.append(
            f"{r.case.op:<11}{r.case.direction:<9}{shape:>11}{fmt_t(r.seconds[one]):>10}"
            f"{fmt_t(r.seconds['c']):>10}{fmt(r.copy_ratio(one), '.2f'):>9}"
            f"{fmt(r.copy_ratio('c'), '.2f'):>9}{fmt(r.speedup('numpy'), '.0f'):>10}"
            f"{fmt(r.speedup('torch', one), '.2f'):>10}"
        )
    return "\n".join(lines)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "bench", help="speed of every op as ratios: vs memcpy, the NumPy reference, PyTorch"
    )
    p.add_argument("--shape", nargs=2, type=int, action="append", metavar=("ROWS", "C"),
                   help="a shape to time (repeatable); default: 8x768, 4096x768, 16384x4096")
    p.add_argument("--op", choices=OPS, action="append", help="an op to time (repeatable)")
    p.add_argument("--budget", type=float, default=0.5,
                   help="seconds spent timing each implementation (default 0.5)")
    p.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    import dynorm as dn

    shapes = tuple(tuple(s) for s in args.shape) if args.shape else DEFAULT_SHAPES
    ops = tuple(args.op) if args.op else OPS
    print(f"dynorm {dn.__version__}: backend {dn.backends()[0]}, isa {dn.isa()}, float32, "
          f"{dn.num_threads()} threads (Nt) and 1 (1t); ratios from one run "
          f"(copy = bandwidth / one-thread np.copyto's)")
    results = run(make_cases(shapes, ops, torch=not args.no_torch), budget=args.budget)  # type: ignore[arg-type]
    print(format_table(results))
    return 0
