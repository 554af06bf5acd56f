"""Reliability of the layers and the glue, on every backend: pickling and
copying at any time, out= never aliasing a parameter or gradient, a failed
forward leaving nothing stale, the exact edges of the overlap checks,
unaligned input, and the library's threads under fork and under a changing
thread count. Layers and ops come from the op table (dynorm.ops)."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dynorm as dn
from dynorm.functional import FUNCTIONS
from dynorm.ops import OPS, Op
from dynorm.selfcheck import LAYERS, randomize

C = 9
SRC = str(Path(dn.__file__).resolve().parent.parent)


def fresh(name: str, dtype: Any = np.float64) -> dn.Module:
    layer = LAYERS[name](C, dtype)
    randomize(layer, np.random.default_rng(0))
    return layer


def data(dtype: Any = np.float64, shape: tuple[int, ...] = (4, C)) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(1)
    return tuple(rng.standard_normal(shape).astype(dtype) for _ in range(2))


def run(layer: dn.Module, x: np.ndarray, dy: np.ndarray) -> dict[str, np.ndarray]:
    y = layer.forward(x).copy()
    dx = layer.backward(dy).copy()
    return {"y": y, "dx": dx, **{k: g.copy() for k, g in layer.grads.items()}}


def assert_same(got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> None:
    assert set(got) == set(want)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def python(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter importing this very dynorm."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin"})


# ------------------------------------------------------ pickle and deepcopy


@pytest.mark.parametrize("when", ["new", "after forward", "after backward"])
@pytest.mark.parametrize("name", LAYERS)
def test_pickle_and_deepcopy_at_any_time(backend: str, name: str, when: str) -> None:
    """A copy (pickled or deep-copied) made before or after forward/backward
    carries on exactly as the original: the same forward, backward and grads,
    and (taken after a forward) the same backward of the saved input."""
    x, dy = data()
    layer = fresh(name)
    if when != "new":
        layer.forward(x)
    if when == "after backward":
        layer.backward(dy)
    copies = [pickle.loads(pickle.dumps(layer)), copy.deepcopy(layer), copy.copy(layer)]
    if when != "new":
        want_dx = layer.backward(dy).copy()
        for c in copies[:2]:
            np.testing.assert_array_equal(c.backward(dy), want_dx)
    want = run(layer, x, dy)
    for c in copies:
        assert type(c) is type(layer) and repr(c) == repr(layer)
        assert_same(run(c, x, dy), want)
    # the copies own their arrays: running them changed nothing of the original
    assert_same(run(layer, x, dy), want)


def test_unpickle_without_the_c_extension() -> None:
    """Layers pickled after forward and backward (on the default backend)
    unpickle and run where ``dynorm._dynorm_c`` cannot be imported."""
    x, dy = data()
    blobs = {}
    for name in LAYERS:
        layer = fresh(name)
        run(layer, x, dy)
        blobs[name] = (pickle.dumps(layer), run(fresh(name), x, dy))
    code = f"""
        import pickle, sys
        sys.modules["dynorm._dynorm_c"] = None  # import fails: no C build
        import dynorm as dn
        assert dn.backends() == ["numpy"], dn.backends()
        x, dy, blobs = pickle.loads({pickle.dumps((x, dy, blobs))!r})
        for name, (blob, want) in blobs.items():
            layer = pickle.loads(blob)
            y, dx = layer.forward(x), layer.backward(dy)
            for k, v in {{"y": y, "dx": dx, **layer.grads}}.items():
                err = abs(v - want[k]).max()
                assert err <= 1e-12 * max(1.0, abs(want[k]).max()), (name, k, err)
        print("ok", len(blobs))
    """
    done = python(code)
    assert done.returncode == 0 and done.stdout.split() == ["ok", str(len(LAYERS))], done.stderr


# ----------------------------------------------- out= and the layer's arrays


def _layer_arrays(layer: dn.Module) -> list[tuple[str, np.ndarray]]:
    return [*(("param " + k, v) for k, v in layer.params.items()),
            *(("grad " + k, v) for k, v in layer.grads.items())]


@pytest.mark.parametrize("name", LAYERS)
def test_out_must_not_alias_a_parameter_or_gradient(backend: str, name: str) -> None:
    """``out`` is any of the layer's own arrays, or a view of a buffer that
    holds one: ValueError, on forward and backward alike, and the arrays
    keep their values. (With 1-D input, ``out=layer.grads["weight"]`` has
    the result's very shape.)"""
    layer = fresh(name)
    x = np.random.default_rng(2).standard_normal(C)
    dy = np.random.default_rng(3).standard_normal(C)
    layer.forward(x)
    layer.backward(dy)
    for what, a in _layer_arrays(layer):
        before = {k: v.copy() for k, v in _layer_arrays(layer)}
        if a.shape == (C,):
            outs = [a]
        else:  # a 0-d scalar: put it inside a buffer out spans
            buf = np.zeros(C)
            if what.startswith("param"):
                layer.params[what.split()[1]] = buf[3:4].reshape(())
            else:
                layer.grads[what.split()[1]] = buf[3:4].reshape(())
            outs = [buf]
        for out in outs:
            with pytest.raises(ValueError, match="out overlaps"):
                layer.forward(x, out=out)
            layer.forward(x)
            with pytest.raises(ValueError, match="out overlaps"):
                layer.backward(dy, out=out)
        if a.shape == (C,):
            for k, v in _layer_arrays(layer):
                np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_backward_into_its_own_weight_gradient_is_refused_on_every_backend() -> None:
    """The reported case: on each backend the same ValueError."""
    messages = set()
    for backend in dn.backends():
        with dn.use_backend(backend):
            layer = dn.LayerNorm(C, dtype=np.float32)
            x = np.ones(C, np.float32)
            x[0] = 3
            layer.forward(x)
            with pytest.raises(ValueError) as e1:
                layer.backward(np.ones(C, np.float32), out=layer.grads["weight"])
            with pytest.raises(ValueError) as e2:
                layer.forward(x, out=layer.params["bias"])
            messages.add((str(e1.value), str(e2.value)))
    assert messages == {("out overlaps LayerNorm's gradient 'weight'; pass an array of its own",
                         "out overlaps LayerNorm's parameter 'bias'; pass an array of its own")}


# ------------------------------------------------- a forward that fails


class _FailingLib:
    """The C library, but ``dnpy_forward`` reports an error."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib

    def __getattr__(self, name: str) -> Any:
        return getattr(self._lib, name)

    def dnpy_forward(self, *args: Any) -> int:
        return int(self._lib.DN_ERR_ARG)


@pytest.mark.parametrize("name", LAYERS)
def test_a_failed_forward_leaves_backward_nothing(name: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cb = pytest.importorskip("dynorm._cbackend")
    layer = fresh(name)
    if not cb.CBackend().supports(layer.op):
        pytest.skip(f"the C library has no op {layer.op.name!r}")
    x, dy = data()
    with dn.use_backend("c"):
        layer.forward(x)
        layer.backward(dy)  # a good forward, then one that fails in the C call
        monkeypatch.setattr(cb, "lib", _FailingLib(cb.lib))
        with pytest.raises(ValueError, match="dynorm C core"):
            layer.forward(x * 2)
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(dy)
        monkeypatch.undo()
        want = run(fresh(name), x, dy)
        assert_same(run(layer, x, dy), want)


# -------------------------------------------------- edges of the overlap check


def _fn(op: Op) -> Any:
    scalars = [s.default for s in op.learnable]
    return lambda x, **kw: FUNCTIONS[op.name](x, *scalars, **kw)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_out_overlapping_x_by_one_element_is_refused(backend: str, op: Op) -> None:
    n = 3 * C
    buf = np.random.default_rng(4).standard_normal(2 * n)
    f = _fn(op)
    for start in (n - 1, 1 - n):  # out's first element is x's last, or the reverse
        x = buf[max(0, -start):][:n].reshape(3, C)
        out = buf[max(0, start):][:n].reshape(3, C)
        assert np.shares_memory(x, out)
        with pytest.raises(ValueError, match="overlaps the input"):
            f(x, out=out)
    layer = getattr(dn, op.layer)(C, dtype=np.float64)
    x, out = buf[:n].reshape(3, C), buf[n - 1:2 * n - 1].reshape(3, C)
    with pytest.raises(ValueError, match="overlaps the input"):
        layer.forward(x, out=out)
    layer.forward(x.copy())
    dy, out = buf[:n].reshape(3, C), buf[n - 1:2 * n - 1].reshape(3, C)
    with pytest.raises(ValueError, match="overlaps the input"):
        layer.backward(dy, out=out)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_out_touching_x_is_accepted(backend: str, op: Op) -> None:
    """Adjacent slices of one buffer (out right after x, or right before):
    no overlap, accepted, and the results those of separate arrays."""
    n = 3 * C
    rng = np.random.default_rng(5)
    f = _fn(op)
    layer_type = getattr(dn, op.layer)
    for out_first in (False, True):
        buf = rng.standard_normal(2 * n)
        lo, hi = buf[:n].reshape(3, C), buf[n:].reshape(3, C)
        x, out = (hi, lo) if out_first else (lo, hi)
        want = f(x.copy())
        assert f(x, out=out) is out
        np.testing.assert_array_equal(out, want)
        # a layer: forward, then backward with dy and dx touching
        x0 = x.copy()
        ref_layer, layer = layer_type(C, dtype=np.float64), layer_type(C, dtype=np.float64)
        dy = rng.standard_normal((3, C))
        want = run(ref_layer, x0, dy)
        buf[...] = rng.standard_normal(2 * n)
        x[...] = x0
        np.testing.assert_array_equal(layer.forward(x, out=out), want["y"])
        buf[...] = 0.0
        dyv, dxv = (hi, lo) if out_first else (lo, hi)
        layer.forward(x0)
        dyv[...] = dy
        np.testing.assert_array_equal(layer.backward(dyv, out=dxv), want["dx"])


# ------------------------------------------------------------- unaligned


def _unaligned(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` one byte into a buffer: C-contiguous, not aligned."""
    u = np.frombuffer(bytearray(a.nbytes + 1), a.dtype, count=a.size, offset=1)
    u = u.reshape(a.shape)
    u[...] = a
    assert not u.flags.aligned and u.flags.c_contiguous
    return u


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LAYERS)
def test_unaligned_input_equals_an_aligned_copy(backend: str, name: str, dtype: Any) -> None:
    x, dy = data(dtype, (5, C))
    for isa in dn.available_isas():
        with dn.use_isa(isa):
            want = run(fresh(name, dtype), x, dy)
            layer = fresh(name, dtype)
            layer.params["weight"] = _unaligned(layer.params["weight"])
            if "bias" in layer.params:
                layer.params["bias"] = _unaligned(layer.params["bias"])
            assert_same(run(layer, _unaligned(x), _unaligned(dy)), want)
            op = layer.op
            kwargs = {"weight": _unaligned(layer.params["weight"])}
            if op.bias:
                kwargs["bias"] = _unaligned(layer.params["bias"])
            f = FUNCTIONS[op.name]
            s = [getattr(layer, sc.name) for sc in op.learnable]
            np.testing.assert_array_equal(f(_unaligned(x), *s, **kwargs), f(x, *s, **kwargs))


# ------------------------------------------------------ threads in the library


def test_a_forked_child_makes_large_calls() -> None:
    """After the parent made threaded calls (>= 1 MiB, 2 threads), a forked
    child's large forward and backward complete and are right."""
    if "c" not in dn.backends():
        pytest.skip("threads live in the C library")
    code = """
        import os, sys
        import numpy as np
        import dynorm as dn
        dn.set_num_threads(2)
        x = np.random.default_rng(0).standard_normal((512, 1024), dtype=np.float32)  # 2 MiB
        layer = dn.DyT(1024)
        y = layer.forward(x).copy()
        dx = layer.backward(x).copy()
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(layer.forward(x), y) and np.array_equal(layer.backward(x), dx)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        ctx = __import__("multiprocessing").get_context("fork")
        with ctx.Pool(1) as pool:
            print("pool", pool.apply_async(np.sum, (layer.forward(x),)).get(timeout=60) != 0)
    """
    done = python(code, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["child", "0", "pool", "True"], done.stdout + done.stderr


def test_set_num_threads_while_other_threads_call() -> None:
    """Changing the thread count while other threads make large calls
    raises nothing anywhere, and every result stays right."""
    if "c" not in dn.backends():
        pytest.skip("threads live in the C library")
    x = np.random.default_rng(6).standard_normal((512, 768), dtype=np.float32)  # 1.5 MiB
    assert dn.backends()[0] == "c"  # the default, active in every thread
    want_y = dn.LayerNorm(768).forward(x)
    layer = dn.LayerNorm(768)
    layer.forward(x)
    want_dx = layer.backward(x).copy()
    errors: list[BaseException] = []
    before = dn.num_threads()

    def work() -> None:
        try:
            layer = dn.LayerNorm(768)
            for _ in range(15):
                y = layer.forward(x)
                dx = layer.backward(x)
                assert np.array_equal(y, want_y)
                np.testing.assert_allclose(dx, want_dx, rtol=1e-5, atol=1e-6)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    n = 0
    while any(t.is_alive() for t in threads):
        dn.set_num_threads(1 + n % 3)
        n += 1
    for t in threads:
        t.join()
    dn.set_num_threads(before)
    assert not errors, errors
    assert n > 0
