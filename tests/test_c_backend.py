"""The C kernels against the NumPy reference, on every ISA this CPU runs.

Each op, forward and backward, float32 and float64, is run through the C
backend under each instruction set and compared with the reference backend
on the same input. Errors are measured row by row, normwise:

    err = max_j |c_j - r_j| / max(max_j |r_j|, max_j scale_j)

where ``scale`` is the magnitude the rounding error is proportional to when
the result itself cancels (``r * |g|`` for the norms' dx, whose exact value
for C = 1 is ``r g eps / (x^2 + eps)``); parameter gradients, which are sums
over rows, are measured against the sum of the magnitudes of their terms.
The asserted bounds (BOUND below) are the ones README.md documents. The ops
are those of the table (dynorm.ops): a new op is run here with no edit, its
rounding-error scales (``magnitudes``) derived from its reference unless it
has its own entry in ``MAGNITUDES``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dynorm as dn

cb = pytest.importorskip("dynorm._cbackend")

from dynorm._backend import NumpyBackend  # noqa: E402
from dynorm.ops import BY_NAME  # noqa: E402
from dynorm.ops import OPS as TABLE  # noqa: E402
from dynorm.reference import DYISRU_CLAMP  # noqa: E402

C = cb.CBackend()
REF = NumpyBackend()
ISAS = C.isas()

# Documented bounds (README "Accuracy of the C kernels"): normwise relative.
BOUND = {np.float32: 2e-6, np.float64: 1e-13}
#: Every op of the table; one the library does not have (the C backend runs
#: the reference for it) is skipped, saying so.
OPS = [pytest.param(op.name, marks=pytest.mark.skipif(
    not C.supports(op), reason=f"the C library has no op {op.name!r}")) for op in TABLE]
C_OPS = [op.name for op in TABLE if C.supports(op)]
#: The scalars the ops run with here, by name (off the defaults: a kernel
#: that ignored its argument would not pass by chance).
SCALARS = {"alpha": 0.7, "beta": 2.5, "eps": 1e-5}

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    # the isa fixture only selects the ISA: it is the same for every example
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=ISAS)
def isa(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    previous = C.current_isa()
    C.set_isa(request.param)
    yield request.param
    C.set_isa(previous)


def make_input(rng: np.random.Generator, rows: int, cols: int, scale: float, shift: float,
               outliers: int, dtype: type) -> np.ndarray:
    x = shift + scale * rng.standard_normal((rows, cols))
    for _ in range(outliers):
        i, j = rng.integers(rows), rng.integers(cols)
        x[i, j] *= 50.0
    return x.astype(dtype)


def rowwise_err(c: np.ndarray, r: np.ndarray, scale: np.ndarray | None = None,
                floor: float = 0.0) -> float:
    c64, r64 = c.astype(np.float64), r.astype(np.float64)
    num = np.maximum(np.abs(c64 - r64).max(axis=-1) - floor, 0.0)
    den = np.abs(r64).max(axis=-1)
    if scale is not None:
        den = np.maximum(den, np.abs(scale).max(axis=-1))
    return float((num / np.maximum(den, 1e-300)).max())


def vec_err(c: np.ndarray | float, r: np.ndarray | float, scale: np.ndarray | float,
            floor: float = 0.0) -> float:
    """Relative error against max(|r|, scale), ignoring differences below
    ``floor`` (terms that underflow in the kernel's dtype, e.g. sech^2 of a
    saturated float32 DyT, whose true sum lies below float32's range)."""
    c64, r64, s64 = (np.asarray(v, np.float64) for v in (c, r, scale))
    d = np.maximum(np.abs(c64 - r64) - floor, 0.0)
    return float((d / np.maximum(np.maximum(np.abs(r64), s64), 1e-300)).max())


def params(rng: np.random.Generator, cols: int, dtype: type, with_w: bool, with_b: bool):  # type: ignore[no-untyped-def]
    w = rng.uniform(0.5, 1.5, cols).astype(dtype) if with_w else None
    b = rng.uniform(-0.5, 0.5, cols).astype(dtype) if with_b else None
    return w, b


def scalars(op: str) -> tuple[float, ...]:
    """``op``'s scalars: those of SCALARS, else the middle of their sample range."""
    return tuple(SCALARS.get(s.name, sum(s.sample) / 2) for s in BY_NAME[op].scalars)


def run_forward(be, op: str, x, w, b, s=None):  # type: ignore[no-untyped-def]
    """``(y, stats)`` of op through backend ``be``; stats a tuple of arrays."""
    entry = BY_NAME[op]
    y = np.empty_like(x)
    stats = np.empty((len(entry.stats), x.shape[0]), x.dtype) if entry.stats else None
    be.forward(entry, x, be.param(w), be.param(b if entry.bias else None),
               scalars(op) if s is None else s, y, None if stats is None else be.param(stats))
    return y, () if stats is None else tuple(stats)


def run_backward(be, op: str, dy, x, stats, w, s=None):  # type: ignore[no-untyped-def]
    """``(dx, dw, db, scalar)``: db None without a bias, scalar the first
    learnable scalar's gradient (None without one)."""
    entry = BY_NAME[op]
    cols = x.shape[1]
    dx, dw = np.empty_like(x), np.empty(cols, x.dtype)
    db = np.empty(cols, x.dtype) if entry.bias else None
    ds = tuple(np.empty((), x.dtype) for _ in entry.learnable)
    st = be.param(np.stack(stats)) if stats else None
    be.backward(entry, dy, x, st, be.param(w), scalars(op) if s is None else s, dx,
                be.param(dw), be.param(db), tuple(be.param(d) for d in ds))
    return dx, dw, db, (float(ds[0]) if ds else None)


def _norm_magnitudes(op: str, dy, x, stats, w):  # type: ignore[no-untyped-def]
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    g = dy64 * (1.0 if w is None else w.astype(np.float64))
    rstd = stats[-1].astype(np.float64)[:, None]
    xh = ((x64 - stats[0].astype(np.float64)[:, None]) if len(stats) == 2 else x64) * rstd
    return np.abs(rstd * g), np.abs(dy64 * xh).sum(0), np.abs(dy64).sum(0), 0.0


def _dyt_magnitudes(op: str, dy, x, stats, w):  # type: ignore[no-untyped-def]
    alpha = scalars(op)[0]
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    g = dy64 * (1.0 if w is None else w.astype(np.float64))
    z = np.float64(x.dtype.type(alpha)) * x64
    t = np.tanh(z)
    s = 1 / np.cosh(z) ** 2  # not 1 - t^2, which is 0 in saturation
    # sech^2(z) has relative condition 2|z| in z, and a kernel forms
    # z = alpha x in the input's precision: its dx is accurate relative
    # to |g alpha s| (1 + 2|z|) (inherent, not a kernel error)
    return np.abs(g * alpha * s) * (1 + 2 * np.abs(z)), np.abs(dy64 * t).sum(0), \
        np.abs(dy64).sum(0), np.abs(g * x64 * s * (1 + 2 * np.abs(z))).sum()


def _dyisru_magnitudes(op: str, dy, x, stats, w):  # type: ignore[no-untyped-def]
    beta, eps = scalars(op)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    g = dy64 * (1.0 if w is None else w.astype(np.float64))
    xc = np.clip(x64, -DYISRU_CLAMP, DYISRU_CLAMP)
    q = np.float64(beta) + eps + xc * xc
    return None, np.abs(dy64 * xc / np.sqrt(q)).sum(0), np.abs(dy64).sum(0), \
        np.abs(0.5 * g * xc * q**-1.5).sum()


def _generic_magnitudes(op: str, dy, x, stats, w):  # type: ignore[no-untyped-def]
    """From the reference: dw's terms dy * f(x) summed in magnitude (f the op
    at weight 1, bias 0), db's |dy|, and the scalar gradient at |dy|, |x|,
    |w| (all its terms of one sign for an element-wise op odd in x with an
    even derivative in the scalar, as DyT and DyISRU are)."""
    entry = BY_NAME[op]
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    s = scalars(op)
    f = entry.forward(x64, None, None, *s)[0]
    absw = None if w is None else np.abs(w.astype(np.float64))
    _, _, _, *ds = entry.backward(np.abs(dy64), np.abs(x64), tuple(stats), absw, *s)
    return None, np.abs(dy64 * f).sum(0), np.abs(dy64).sum(0), abs(ds[0]) if ds else 0.0


#: Op-specific scales of the rounding error, where the generic one is too loose
#: or too tight; keyed by the table's names.
MAGNITUDES = {"layer_norm": _norm_magnitudes, "rms_norm": _norm_magnitudes,
              "dyt": _dyt_magnitudes, "dyisru": _dyisru_magnitudes}


def magnitudes(op: str, dy, x, stats, w):  # type: ignore[no-untyped-def]
    """Scales of the rounding error: for dx, and the sums of |terms| of the
    parameter gradients (dw, db, the scalar)."""
    return MAGNITUDES.get(op, _generic_magnitudes)(op, dy, x, stats, w)


def check_op(op: str, x, dy, w, b, dtype) -> None:  # type: ignore[no-untyped-def]
    tol = BOUND[dtype]
    with np.errstate(all="ignore"):
        yc, sc = run_forward(C, op, x, w, b)
        yr, sr = run_forward(REF, op, x, w, b)
        assert rowwise_err(yc, yr) <= tol, f"{op} forward"
        # saved statistics: rstd relative to itself, the mean relative to the
        # row's spread 1/rstd as well (a mean near 0 has no relative accuracy)
        spread = 1 / np.abs(sr[-1].astype(np.float64)) if sr else None
        for a, r in zip(sc, sr):
            scale = np.maximum(np.abs(r), spread) if r is not sr[-1] else np.abs(r)
            assert vec_err(a, r, scale) <= tol, f"{op} saved statistics"
        # backward from the reference's own statistics, so both see the same input
        dxc, dwc, dbc, sc_ = run_backward(C, op, dy, x, sr, w)
        dxr, dwr, dbr, sr_ = run_backward(REF, op, dy, x, sr, w)
        sdx, sdw, sdb, ssc = magnitudes(op, dy, x, sr, w)
    # sech^2 / q^-1.5 in the dtype's subnormal range carry only absolute
    # precision: a few subnormal ULPs times |g alpha| (or |g c|)
    g_max = float(np.abs(dy).max()) * (1.0 if w is None else float(np.abs(w).max()))
    sub_floor = 4 * float(np.finfo(dtype).smallest_subnormal) * g_max * 2.5
    assert rowwise_err(dxc, dxr, sdx, sub_floor) <= tol, f"{op} dx"
    assert vec_err(dwc, dwr, sdw) <= tol, f"{op} dweight"
    if dbc is not None:
        assert vec_err(dbc, dbr, sdb) <= tol, f"{op} dbias"
    if sc_ is not None:
        # each term g x s may underflow to 0 in the kernel's dtype
        floor = 2 * float(np.finfo(dtype).tiny) * float(np.abs(dy.astype(np.float64) * x).sum())
        assert vec_err(sc_, sr_, ssc, floor) <= tol, f"{op} scalar gradient"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
@SETTINGS
@given(
    rows=st.integers(1, 6),
    cols=st.one_of(st.integers(1, 40), st.sampled_from([63, 64, 65, 127, 255, 768, 1000, 4099])),
    log_scale=st.floats(-3, 4),
    shift=st.sampled_from([0.0, 0.0, 3.0, -100.0]),
    outliers=st.integers(0, 3),
    with_w=st.booleans(),
    with_b=st.booleans(),
    seed=st.integers(0, 2**31),
)
def test_c_matches_reference(isa: str, op: str, dtype: type, rows: int, cols: int,
                             log_scale: float, shift: float, outliers: int, with_w: bool,
                             with_b: bool, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scale = 10.0**log_scale
    x = make_input(rng, rows, cols, scale, shift * scale, outliers, dtype)
    dy = rng.standard_normal((rows, cols)).astype(dtype)
    w, b = params(rng, cols, dtype, with_w, with_b)
    check_op(op, x, dy, w, b, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_streaming_stores_agree(isa: str, op: str, dtype: type) -> None:
    """The non-temporal store path (head peel, aligned body, tail) gives the
    same bits as ordinary stores."""
    from dynorm._dynorm_c import lib

    rng = np.random.default_rng(7)
    # a misaligned start: row 0 of a view one element into a buffer
    buf = rng.standard_normal(5 * 77 + 1).astype(dtype)
    x = buf[1:].reshape(5, 77)
    dy = rng.standard_normal((5, 77)).astype(dtype)
    w, b = params(rng, 77, dtype, True, True)
    plain = run_forward(C, op, np.ascontiguousarray(x), w, b)[0]
    old = lib.dn_set_stream_threshold(1)
    try:
        streamed = run_forward(C, op, np.ascontiguousarray(x), w, b)[0]
        _, stats = run_forward(C, op, x.copy(), w, b)
        dx_s = run_backward(C, op, dy, x.copy(), stats, w)[0]
    finally:
        lib.dn_set_stream_threshold(old)
    dx_p = run_backward(C, op, dy, x.copy(), stats, w)[0]
    np.testing.assert_array_equal(streamed, plain)
    np.testing.assert_array_equal(dx_s, dx_p)


def _llc_share_from_sysfs() -> int | None:
    """CPU 0's highest-level data cache over the CPUs sharing it, read here
    independently of the C parser; None where sysfs does not say."""
    import glob
    import os

    def read(d: str, name: str) -> str:
        with open(os.path.join(d, name)) as f:
            return f.read().strip()

    best = None
    for d in glob.glob("/sys/devices/system/cpu/cpu0/cache/index*"):
        try:
            level, kind, size, shared = (read(d, name) for name in
                                         ("level", "type", "size", "shared_cpu_list"))
        except OSError:
            continue
        if kind == "Instruction":
            continue
        scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1], 1)
        nbytes = int(size.rstrip("KM")) * scale
        cpus = 0
        for part in shared.split(","):
            lo, _, hi = part.partition("-")
            cpus += int(hi or lo) - int(lo) + 1
        if best is None or int(level) > best[0]:
            best = (int(level), nbytes // cpus)
    return None if best is None else best[1]


def test_default_stream_threshold_is_half_a_cpus_cache_share() -> None:
    """The default streaming threshold is half of one CPU's share of the
    last-level cache (a call may be one chunk of several running at once),
    at least 1 MiB."""
    from dynorm._dynorm_c import lib

    share = _llc_share_from_sysfs()
    if share is None:
        pytest.skip("no cache description in sysfs on this system")
    old = lib.dn_set_stream_threshold(0)
    try:
        assert lib.dn_get_stream_threshold() == max(share // 2, 1 << 20)
    finally:
        lib.dn_set_stream_threshold(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_nan_and_inf_stay_in_their_row(isa: str, op: str, dtype: type) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 37)).astype(dtype)
    x[1, 5] = np.nan
    x[2, 9] = np.inf
    dy = rng.standard_normal((4, 37)).astype(dtype)
    with np.errstate(all="ignore"):
        yc, stats = run_forward(C, op, x, None, None)
        yr, _ = run_forward(REF, op, x, None, None)
        dxc = run_backward(C, op, dy, x, stats, None)[0]
    for r in (0, 3):
        assert np.isfinite(yc[r]).all() and np.isfinite(dxc[r]).all()
    # NaN/Inf where (and only where) the reference has them
    np.testing.assert_array_equal(np.isnan(yc), np.isnan(yr))
    np.testing.assert_array_equal(np.isposinf(yc), np.isposinf(yr))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dyisru_saturates_where_x_squared_overflows(isa: str, dtype: type) -> None:
    big = np.finfo(dtype).max
    x = np.array([[big, -big, np.inf, -np.inf, 1e30 if dtype == np.float32 else 1e300, 0.0]],
                 dtype=dtype)
    w = np.full(6, 2.0, dtype)
    b = np.full(6, 0.5, dtype)
    y, _ = run_forward(C, "dyisru", x, w, b, s=(4.0, 1e-5))
    np.testing.assert_array_equal(y[0], np.array([2.5, -1.5, 2.5, -1.5, 2.5, 0.5], dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_forward_and_backward(isa: str, dtype: type) -> None:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 50)).astype(dtype)
    dy = rng.standard_normal((3, 50)).astype(dtype)
    for op in C_OPS:
        y_expected, stats = run_forward(C, op, x, None, None)
        dx_expected = run_backward(C, op, dy, x, stats, None)[0]
        entry = BY_NAME[op]
        xi = x.copy()
        no_w = C.param(None)  # weight and bias 1 and 0
        stats = np.stack(stats) if stats else None
        C.forward(entry, xi, no_w, no_w, scalars(op), xi,
                  None if stats is None else C.param(stats.copy()))
        np.testing.assert_array_equal(xi, y_expected)
        dyi = dy.copy()
        cols = x.shape[1]
        dw = np.empty(cols, dtype)
        C.backward(entry, dyi, x, None if stats is None else C.param(stats), no_w, scalars(op),
                   dyi, C.param(dw), no_w,
                   tuple(no_w for _ in entry.learnable))
        np.testing.assert_array_equal(dyi, dx_expected)


def test_float32_within_1e5_of_float64_reference_with_outliers(isa: str) -> None:
    """The issue's bound: float32 outputs and gradients within 1e-5 relative to
    the float64 reference, on normally distributed data with outliers."""
    rng = np.random.default_rng(5)
    x64 = rng.standard_normal((64, 768))
    x64[rng.integers(64, size=20), rng.integers(768, size=20)] *= 40
    dy64 = rng.standard_normal((64, 768))
    w64, b64 = rng.uniform(0.5, 1.5, 768), rng.uniform(-0.5, 0.5, 768)
    x32, dy32, w32, b32 = (a.astype(np.float32) for a in (x64, dy64, w64, b64))
    for op in C_OPS:
        with np.errstate(all="ignore"):
            y32, s32 = run_forward(C, op, x32, w32, b32)
            y64, s64 = run_forward(REF, op, x64, w64, b64)
            dx32, dw32, db32, sc32 = run_backward(C, op, dy32, x32, s32, w32)
            dx64, dw64, db64, sc64 = run_backward(REF, op, dy64, x64, s64, w64)
            sdx, sdw, sdb, ssc = magnitudes(op, dy64, x64, s64, w64)
        assert rowwise_err(y32, y64) <= 1e-5, op
        assert rowwise_err(dx32, dx64, sdx) <= 1e-5, op
        assert vec_err(dw32, dw64, sdw) <= 1e-5, op
        if db32 is not None:
            assert vec_err(db32, db64, sdb) <= 1e-5, op
        if sc32 is not None:
            assert vec_err(sc32, sc64, ssc) <= 1e-5, op


def test_bad_isa_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="choose from"):
        C.set_isa("sse9")


def test_public_api_runs_on_c_by_default() -> None:
    assert dn.backends()[0] == "c"
    assert set(dn.available_isas()) == set(ISAS)


@pytest.fixture
def threaded():  # type: ignore[no-untyped-def]
    """Every call split over threads (no size threshold); the count restored after."""
    from dynorm._dynorm_c import lib

    old_threshold = lib.dn_set_parallel_threshold(1)
    old_count = dn.num_threads()
    yield
    lib.dn_set_parallel_threshold(old_threshold)
    dn.set_num_threads(old_count)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS)
def test_threads_give_the_same_rows_and_gradients(op: str, dtype: type, threaded) -> None:  # type: ignore[no-untyped-def]
    """Split over threads inside the library, rows are the same bits;
    parameter gradients (sums of per-thread partials) agree to rounding; and
    the result does not depend on scheduling (two runs give identical bits)."""
    rng = np.random.default_rng(2)
    x = make_input(rng, 203, 67, 1.0, 0.5, 3, dtype)
    dy = rng.standard_normal((203, 67)).astype(dtype)
    w, b = params(rng, 67, dtype, True, True)
    dn.set_num_threads(1)
    y1, s1 = run_forward(C, op, x, w, b)
    g1 = run_backward(C, op, dy, x, s1, w)
    dn.set_num_threads(3)
    y3, s3 = run_forward(C, op, x, w, b)
    g3 = run_backward(C, op, dy, x, s3, w)
    g3b = run_backward(C, op, dy, x, s3, w)
    np.testing.assert_array_equal(y3, y1)
    for a, r in zip(s3, s1):
        np.testing.assert_array_equal(a, r)
    np.testing.assert_array_equal(g3[0], g1[0])
    for a, r, again in zip(g3[1:], g1[1:], g3b[1:]):
        if r is not None:
            np.testing.assert_allclose(a, r, rtol=BOUND[dtype], atol=BOUND[dtype])
            np.testing.assert_array_equal(a, again)


def test_thread_count_is_validated() -> None:
    before = dn.num_threads()
    for bad in (0, -1, 1025, 2.0, True, "2"):
        with pytest.raises(ValueError, match=">= 1 and <= 1024"):
            dn.set_num_threads(bad)  # type: ignore[arg-type]
    assert dn.num_threads() == before >= 1
    previous = dn.set_num_threads(3)
    try:
        assert previous == before and dn.num_threads() == 3
    finally:
        dn.set_num_threads(before)
