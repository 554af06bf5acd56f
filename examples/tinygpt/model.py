"""A decoder-only transformer (GPT) in NumPy with hand-written backward passes.

Every module follows one small protocol:

* ``forward(x)`` computes the output and caches what ``backward`` needs;
* ``backward(dy)`` takes the gradient of the loss with respect to the output,
  returns the gradient with respect to the input, and *overwrites*
  ``self.grads`` (one entry per entry of ``self.params``);
* ``self.params`` maps names to arrays the optimizer updates in place.

The dynorm layers (:class:`dynorm.LayerNorm`, :class:`dynorm.RMSNorm`,
:class:`dynorm.DyT`, :class:`dynorm.DyISRU`) follow the same protocol, so they
slot into the blocks unchanged. Shapes: ``B`` batch, ``T`` time (context),
``C`` channels (width), ``H`` heads, ``D = C / H`` head size, ``V`` vocabulary.

The architecture is GPT-2's at toy scale: token + position embeddings, ``L``
pre-norm blocks ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))``, a final norm
and an output projection (tied to the token embedding by default).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import dynorm as dn
except ImportError:  # running from a source checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    import dynorm as dn


NORMS = ("layer_norm", "rms_norm", "dyt", "dyisru", "dyt_softplus", "dyisru_softplus")


# --------------------------------------------------------------------------- config


@dataclass
class GPTConfig:
    """Model hyper-parameters.

    ``alpha0_*`` are DyT's initial ``alpha`` for the attention norms, the MLP
    norms and the final norm; ``beta0_*`` are DyISRU's, and default (``None``)
    to ``1 / alpha0**2`` of the matching ``alpha0_*`` so that DyT and DyISRU
    start with the same slope at 0 (``alpha = 1 / sqrt(beta)``). The defaults,
    0.5 everywhere, are the published default; the DyT paper raises the
    attention norms' value above the others' for its LLMs (e.g. 0.8 / 0.2).
    """

    vocab_size: int
    block_size: int = 64  # maximum context T
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    norm: str = "layer_norm"
    tied: bool = True  # output projection = token embedding transposed
    alpha0_attn: float = 0.5
    alpha0_mlp: float = 0.5
    alpha0_final: float = 0.5
    beta0_attn: float | None = None
    beta0_mlp: float | None = None
    beta0_final: float | None = None
    init_std: float = 0.02
    emb_scale: float = 1.0  # constant on the embeddings: 1 in GPT-2, sqrt(n_embd) in Vaswani et al.
    dtype: Any = field(default=np.float32)

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose from {', '.join(NORMS)}")
        if self.n_embd % self.n_head:
            raise ValueError("n_embd must be divisible by n_head")
        self.dtype = np.dtype(self.dtype).type
        if self.dtype not in (np.float32, np.float64):
            raise TypeError("dtype must be float32 or float64")
        for where in ("attn", "mlp", "final"):
            if getattr(self, f"beta0_{where}") is None:
                setattr(self, f"beta0_{where}", 1.0 / getattr(self, f"alpha0_{where}") ** 2)


def make_norm(name: str, C: int, alpha0: float, beta0: float, dtype: Any) -> Any:
    """Build the dynorm layer called ``name`` (see :data:`NORMS`) for width ``C``.

    ``alpha0`` is used by the DyT variants, ``beta0`` by the DyISRU variants;
    LayerNorm (eps 1e-5, with bias, as GPT-2) and RMSNorm (eps 1e-6) ignore both.
    """
    if name == "layer_norm":
        return dn.LayerNorm(C, eps=1e-5, bias=True, dtype=dtype)
    if name == "rms_norm":
        return dn.RMSNorm(C, eps=1e-6, dtype=dtype)
    if name in ("dyt", "dyt_softplus"):
        return dn.DyT(C, alpha0=alpha0, bias=True, softplus=name.endswith("softplus"), dtype=dtype)
    if name in ("dyisru", "dyisru_softplus"):
        return dn.DyISRU(C, beta0=beta0, bias=True, softplus=name.endswith("softplus"), dtype=dtype)
    raise ValueError(f"unknown norm {name!r}")


# --------------------------------------------------------------------------- parts


class Linear:
    """Affine map on the last axis: ``y = x @ W + b`` with ``W`` of shape (in, out).

    Backward: flatten the leading axes to rows ``X`` (N, in) and ``dY`` (N, out);
    then ``dW = X^T dY``, ``db = sum_rows dY`` and ``dX = dY W^T``.
    """

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, std: float,
                 bias: bool = True, dtype: Any = np.float32) -> None:
        self.params: dict[str, np.ndarray] = {
            "weight": (std * rng.standard_normal((n_in, n_out))).astype(dtype)}
        if bias:
            self.params["bias"] = np.zeros(n_out, dtype=dtype)
        self.grads: dict[str, np.ndarray] = {}
        self._x: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        y = x @ self.params["weight"]
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        W = self.params["weight"]
        x2 = self._x.reshape(-1, W.shape[0])
        dy2 = dy.reshape(-1, W.shape[1])
        self.grads["weight"] = x2.T @ dy2
        if "bias" in self.params:
            self.grads["bias"] = dy2.sum(axis=0)
        return dy @ W.T

    __call__ = forward


class Embedding:
    """Token plus position embedding: ``x[b, t] = s * (wte[idx[b, t]] + wpe[t])``.

    ``s`` is a constant (``emb_scale``; 1 in GPT-2, ``sqrt(C)`` in the original
    Transformer). Backward: with ``g = s * dx``, the lookup scatters, so
    ``dwte[v] = sum of g[b, t] over the positions with idx[b, t] == v``
    (``np.add.at``) and ``dwpe[t] = sum_b g[b, t]``.
    With a tied output projection, ``logits = h @ wte^T`` (:meth:`unembed`)
    contributes ``dlogits^T h`` to ``dwte`` as well.
    """

    def __init__(self, vocab_size: int, block_size: int, C: int, rng: np.random.Generator,
                 std: float, dtype: Any = np.float32, scale: float = 1.0) -> None:
        self.scale = float(scale)
        self.params = {
            "wte": (std * rng.standard_normal((vocab_size, C))).astype(dtype),
            "wpe": (std * rng.standard_normal((block_size, C))).astype(dtype),
        }
        self.grads: dict[str, np.ndarray] = {}
        self._idx: np.ndarray | None = None
        self._h: np.ndarray | None = None

    def forward(self, idx: np.ndarray) -> np.ndarray:
        T = idx.shape[-1]
        if T > self.params["wpe"].shape[0]:
            raise ValueError(f"sequence length {T} exceeds block_size {self.params['wpe'].shape[0]}")
        self._idx = idx
        x = self.params["wte"][idx] + self.params["wpe"][:T]
        if self.scale != 1.0:
            x *= self.scale
        return x

    def backward(self, dx: np.ndarray) -> None:
        """Overwrite ``grads`` with the embedding gradients (the input ids have none)."""
        wte, wpe = self.params["wte"], self.params["wpe"]
        C, T = wte.shape[1], dx.shape[-2]
        if self.scale != 1.0:
            dx = dx * self.scale
        dwte = np.zeros_like(wte)
        np.add.at(dwte, self._idx.reshape(-1), dx.reshape(-1, C))
        dwpe = np.zeros_like(wpe)
        dwpe[:T] = dx.reshape(-1, T, C).sum(axis=0)
        self.grads = {"wte": dwte, "wpe": dwpe}

    def unembed(self, h: np.ndarray) -> np.ndarray:
        """Tied output projection ``logits = h @ wte^T`` (shape (..., V))."""
        self._h = h
        return h @ self.params["wte"].T

    def unembed_backward(self, dlogits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``dh = dlogits @ wte`` and this use's share of ``dwte``, ``dlogits^T h``.

        The caller adds the share to ``grads["wte"]`` after :meth:`backward`
        (which overwrites ``grads``).
        """
        wte = self.params["wte"]
        V, C = wte.shape
        dwte = dlogits.reshape(-1, V).T @ self._h.reshape(-1, C)
        return dlogits @ wte, dwte


class GELU:
    """GELU, tanh approximation (as GPT-2): ``y = x/2 * (1 + tanh(u))``,
    ``u = k (x + 0.044715 x^3)``, ``k = sqrt(2/pi)``.

    Backward: ``dy/dx = (1 + t)/2 + x/2 (1 - t^2) k (1 + 3 * 0.044715 x^2)``
    with ``t = tanh(u)``, by the product and chain rules.
    """

    K = math.sqrt(2.0 / math.pi)
    A = 0.044715

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self._x: np.ndarray | None = None
        self._t: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._x = x
        self._t = np.tanh(self.K * (x + self.A * x * x * x))
        return 0.5 * x * (1.0 + self._t)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        x, t = self._x, self._t
        dudx = self.K * (1.0 + 3.0 * self.A * x * x)
        return dy * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dudx)

    __call__ = forward


class CausalSelfAttention:
    """Multi-head causal self-attention.

    Forward, per head (all heads and batch rows at once as (B, H, T, T) matmuls):
    ``[q, k, v] = x Wqkv + bqkv``; ``S = q k^T / sqrt(D)`` with ``S[i, j] = -inf``
    for ``j > i``; ``P = softmax_rows(S)``; ``Y = P v``; heads are concatenated
    and projected: ``out = Y Wo + bo``.

    Backward: ``dP = dY v^T`` and ``dv = P^T dY``; through the row softmax
    ``dS = P * (dP - rowsum(dP * P))`` (masked entries have ``P = 0``, hence
    ``dS = 0``); through the scaled product ``dq = dS k / sqrt(D)`` and
    ``dk = dS^T q / sqrt(D)``.
    """

    def __init__(self, C: int, n_head: int, block_size: int, rng: np.random.Generator,
                 std: float, proj_std: float, dtype: Any = np.float32) -> None:
        self.n_head = n_head
        self.qkv = Linear(C, 3 * C, rng, std, dtype=dtype)
        self.proj = Linear(C, C, rng, proj_std, dtype=dtype)
        # additive mask: 0 on and below the diagonal, -inf above it
        self._mask = np.triu(np.full((block_size, block_size), -np.inf, dtype=dtype), k=1)
        self._cache: tuple[np.ndarray, ...] | None = None

    def modules(self) -> dict[str, Any]:
        return {"qkv": self.qkv, "proj": self.proj}

    def forward(self, x: np.ndarray) -> np.ndarray:
        B, T, C = x.shape
        H, D = self.n_head, C // self.n_head
        qkv = self.qkv.forward(x).reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # each (B, H, T, D)
        scale = 1.0 / math.sqrt(D)
        s = q @ k.swapaxes(-1, -2)  # (B, H, T, T)
        s *= scale
        s += self._mask[:T, :T]
        s -= s.max(axis=-1, keepdims=True)
        p = np.exp(s, out=s)
        p /= p.sum(axis=-1, keepdims=True)
        y = (p @ v).transpose(0, 2, 1, 3).reshape(B, T, C)
        self._cache = (q, k, v, p)
        return self.proj.forward(y)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        q, k, v, p = self._cache
        B, H, T, D = q.shape
        scale = 1.0 / math.sqrt(D)
        dy = self.proj.backward(dout).reshape(B, T, H, D).transpose(0, 2, 1, 3)
        dqkv = np.empty((3, B, H, T, D), dtype=dout.dtype)
        np.matmul(p.swapaxes(-1, -2), dy, out=dqkv[2])  # dv
        dp = dy @ v.swapaxes(-1, -2)
        dp -= (dp * p).sum(axis=-1, keepdims=True)
        dp *= p  # now dS
        dp *= scale
        np.matmul(dp, k, out=dqkv[0])  # dq
        np.matmul(dp.swapaxes(-1, -2), q, out=dqkv[1])  # dk
        return self.qkv.backward(dqkv.transpose(1, 3, 0, 2, 4).reshape(B, T, 3 * H * D))

    __call__ = forward


class MLP:
    """Position-wise feed-forward: ``out = GELU(x W1 + b1) W2 + b2``, hidden width 4C.

    Backward is the chain rule through the three parts in reverse order.
    """

    def __init__(self, C: int, rng: np.random.Generator, std: float, proj_std: float,
                 dtype: Any = np.float32) -> None:
        self.fc = Linear(C, 4 * C, rng, std, dtype=dtype)
        self.act = GELU()
        self.proj = Linear(4 * C, C, rng, proj_std, dtype=dtype)

    def modules(self) -> dict[str, Any]:
        return {"fc": self.fc, "proj": self.proj}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.proj.forward(self.act.forward(self.fc.forward(x)))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self.fc.backward(self.act.backward(self.proj.backward(dout)))

    __call__ = forward


class Block:
    """Pre-norm transformer block: ``h = x + attn(norm1(x))``, ``out = h + mlp(norm2(h))``.

    Backward: a residual connection passes its gradient through unchanged and
    adds the branch's, so ``dh = dout + norm2'(mlp'(dout))`` and
    ``dx = dh + norm1'(attn'(dh))`` (primes: the modules' backward maps).
    """

    def __init__(self, cfg: GPTConfig, rng: np.random.Generator) -> None:
        C, dt = cfg.n_embd, cfg.dtype
        proj_std = cfg.init_std / math.sqrt(2 * cfg.n_layer)  # GPT-2's residual scaling
        self.norm1 = make_norm(cfg.norm, C, cfg.alpha0_attn, cfg.beta0_attn, dt)
        self.attn = CausalSelfAttention(C, cfg.n_head, cfg.block_size, rng, cfg.init_std,
                                        proj_std, dtype=dt)
        self.norm2 = make_norm(cfg.norm, C, cfg.alpha0_mlp, cfg.beta0_mlp, dt)
        self.mlp = MLP(C, rng, cfg.init_std, proj_std, dtype=dt)

    def modules(self) -> dict[str, Any]:
        out: dict[str, Any] = {"norm1": self.norm1, "norm2": self.norm2}
        out.update({f"attn.{k}": m for k, m in self.attn.modules().items()})
        out.update({f"mlp.{k}": m for k, m in self.mlp.modules().items()})
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        h = x + self.attn.forward(self.norm1.forward(x))
        return h + self.mlp.forward(self.norm2.forward(h))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dh = dout + self.norm2.backward(self.mlp.backward(dout))
        return dh + self.norm1.backward(self.attn.backward(dh))

    __call__ = forward


class CrossEntropy:
    """Mean softmax cross-entropy over all positions.

    Forward: ``loss = mean_n [logsumexp(z_n) - z_n[y_n]]`` (max-shifted).
    Backward: ``dz_n = (softmax(z_n) - onehot(y_n)) / N``.
    """

    def __init__(self) -> None:
        self._probs: np.ndarray | None = None
        self._targets: np.ndarray | None = None

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        z = logits - logits.max(axis=-1, keepdims=True)
        e = np.exp(z)
        sum_e = e.sum(axis=-1, keepdims=True)
        z_y = np.take_along_axis(z, targets[..., None], axis=-1)
        self._probs = e / sum_e
        self._targets = targets
        return float(np.mean(np.log(sum_e) - z_y, dtype=np.float64))

    def backward(self) -> np.ndarray:
        dz = self._probs.copy()
        V = dz.shape[-1]
        flat = dz.reshape(-1, V)
        flat[np.arange(flat.shape[0]), self._targets.reshape(-1)] -= 1.0
        dz /= flat.shape[0]
        return dz


# --------------------------------------------------------------------------- model


class GPT:
    """The whole model: ``logits = head(norm_f(blocks(embed(idx))))``.

    Parameters are addressed by dotted names (``"blocks.0.attn.qkv.weight"``);
    :meth:`parameters` and :meth:`gradients` return flat dicts with those names,
    which is all the optimizer sees.
    """

    def __init__(self, cfg: GPTConfig, seed: int = 0) -> None:
        self.cfg = cfg
        rng = np.random.default_rng(seed)
        dt = cfg.dtype
        self.embed = Embedding(cfg.vocab_size, cfg.block_size, cfg.n_embd, rng, cfg.init_std, dt,
                               scale=cfg.emb_scale)
        self.blocks = [Block(cfg, rng) for _ in range(cfg.n_layer)]
        self.norm_f = make_norm(cfg.norm, cfg.n_embd, cfg.alpha0_final, cfg.beta0_final, dt)
        self.head = None if cfg.tied else Linear(cfg.n_embd, cfg.vocab_size, rng, cfg.init_std,
                                                 bias=False, dtype=dt)

    def modules(self) -> Iterator[tuple[str, Any]]:
        """Every module that owns parameters, with its dotted prefix."""
        yield "embed", self.embed
        for i, block in enumerate(self.blocks):
            for name, module in block.modules().items():
                yield f"blocks.{i}.{name}", module
        yield "norm_f", self.norm_f
        if self.head is not None:
            yield "head", self.head

    def parameters(self) -> dict[str, np.ndarray]:
        return {f"{p}.{k}": v for p, m in self.modules() for k, v in m.params.items()}

    def gradients(self) -> dict[str, np.ndarray]:
        """Gradients of the last :meth:`backward`, same keys as :meth:`parameters`."""
        return {f"{p}.{k}": v for p, m in self.modules() for k, v in m.grads.items()}

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters().values())

    def forward(self, idx: np.ndarray) -> np.ndarray:
        """Token ids (B, T) -> logits (B, T, V)."""
        x = self.embed.forward(idx)
        for block in self.blocks:
            x = block.forward(x)
        h = self.norm_f.forward(x)
        return self.embed.unembed(h) if self.head is None else self.head.forward(h)

    def backward(self, dlogits: np.ndarray) -> None:
        """Fill every module's ``grads`` from ``dL/dlogits`` (B, T, V)."""
        if self.head is None:
            dh, dwte_head = self.embed.unembed_backward(dlogits)
        else:
            dh = self.head.backward(dlogits)
        dx = self.norm_f.backward(dh)
        for block in reversed(self.blocks):
            dx = block.backward(dx)
        self.embed.backward(dx)
        if self.head is None:
            self.embed.grads["wte"] += dwte_head  # the tied weight's two uses add up

    __call__ = forward
