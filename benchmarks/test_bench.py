"""pytest-benchmark suite of the hot paths.

    pip install '.[bench]' && python -m pytest benchmarks --benchmark-group-by=group

Every (op, direction, shape) is one group holding the C backend, the NumPy
reference, ``np.copyto`` of the same bytes (the memory-bandwidth
yardstick) and PyTorch's CPU path with one thread when PyTorch happens to be
installed; compare within a group, from one run (the machine is shared and
noisy). ``python -m dynorm bench`` prints the same comparison as ratios.
Ops are those of the table (:mod:`dynorm.ops`); shapes are float32
(rows, C): (8, 768), (4096, 768), (16384, 4096); the NumPy reference at the
largest runs a couple of rounds only. Arrays are made when a test of their
case first runs, so collecting the suite costs nothing.
"""

from __future__ import annotations

import functools

import pytest

from dynorm.bench import DEFAULT_SHAPES, OPS, Case, make_case

IMPLS = ("c", "c-1t", "numpy", "copy", "torch")
DIRECTIONS = ("forward", "backward")


@functools.lru_cache(maxsize=1)  # one shape's arrays alive at a time
def _cases(op: str, shape: tuple[int, int]) -> dict[str, Case]:
    return {c.direction: c for c in make_case(op, shape, numpy_max_elements=1 << 26)}


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape", DEFAULT_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_bench(benchmark, shape: tuple[int, int], op: str, direction: str,  # type: ignore[no-untyped-def]
               impl: str) -> None:
    case = _cases(op, shape)[direction]
    if impl not in case.impls:
        pytest.skip(f"{impl} is not available here")
    rows, cols = shape
    benchmark.group = f"{op} {direction} {rows}x{cols}"
    benchmark.extra_info["bytes"] = case.arrays * rows * cols * 4
    fn = case.impls[impl]
    if impl in ("numpy", "torch") and rows * cols >= 1 << 24:
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
    else:
        benchmark(fn)
