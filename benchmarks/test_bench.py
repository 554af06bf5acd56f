"""pytest-benchmark suite of the hot paths.

    pip install '.[bench]' && python -m pytest benchmarks --benchmark-group-by=group

Every (op, direction, shape) is one group holding the C backend, the NumPy
reference, ``np.copyto`` of the same bytes (the memory-bandwidth
yardstick) and PyTorch's CPU path with one thread when PyTorch happens to be
installed; compare within a group, from one run (the machine is shared and
noisy). ``python -m dynorm bench`` prints the same comparison as ratios.
Shapes are float32 (rows, C): (8, 768), (4096, 768), (16384, 4096); the
NumPy reference at the largest runs a couple of rounds only.
"""

from __future__ import annotations

import pytest

from dynorm.bench import DEFAULT_SHAPES, OPS, make_cases

CASES = {(c.op, c.direction, c.shape): c
         for c in make_cases(DEFAULT_SHAPES, OPS, numpy_max_elements=1 << 26)}
IMPLS = ("c", "c-1t", "numpy", "copy", "torch")


def _params():  # type: ignore[no-untyped-def]
    for key, case in CASES.items():
        for impl in IMPLS:
            if impl in case.impls:
                yield pytest.param(key, impl, id=f"{key[0]}-{key[1]}-{key[2][0]}x{key[2][1]}-{impl}")


@pytest.mark.parametrize(("key", "impl"), list(_params()))
def test_bench(benchmark, key, impl) -> None:  # type: ignore[no-untyped-def]
    case = CASES[key]
    op, direction, (rows, cols) = key
    benchmark.group = f"{op} {direction} {rows}x{cols}"
    benchmark.extra_info["bytes"] = case.arrays * rows * cols * 4
    fn = case.impls[impl]
    if impl in ("numpy", "torch") and rows * cols >= 1 << 24:
        benchmark.pedantic(fn, rounds=3, iterations=1, warmup_rounds=0)
    else:
        benchmark(fn)
