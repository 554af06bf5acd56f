"""Optimization: AdamW, global-norm gradient clipping, cosine schedule with warm-up.

Parameters and gradients are flat dicts ``name -> ndarray`` (see
:meth:`model.GPT.parameters`); the optimizer updates the parameter arrays in
place, so the layers that own them see the new values.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np


def decays(name: str, p: np.ndarray) -> bool:
    """nanoGPT's rule: weight decay on every tensor with ``ndim >= 2``.

    That is the matmul weights *and* the token/position embeddings; biases,
    norm weights/biases and DyT's ``alpha`` / DyISRU's ``beta`` (0-d) are not decayed.
    """
    return p.ndim >= 2


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter).

    For each parameter ``p`` with gradient ``g`` at step ``t`` (from 1)::

        m = b1 m + (1 - b1) g          v = b2 v + (1 - b2) g^2
        p = p - lr * wd * p            (decayed tensors only)
        p = p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
    """

    def __init__(self, params: dict[str, np.ndarray], betas: tuple[float, float] = (0.9, 0.99),
                 eps: float = 1e-8, weight_decay: float = 0.1,
                 decay: Callable[[str, np.ndarray], bool] = decays) -> None:
        self.params = params
        self.b1, self.b2 = betas
        self.eps = eps
        self.weight_decay = weight_decay
        self.decayed = {name: decay(name, p) for name, p in params.items()}
        self.m = {name: np.zeros_like(p) for name, p in params.items()}
        self.v = {name: np.zeros_like(p) for name, p in params.items()}
        self.t = 0

    def step(self, grads: dict[str, np.ndarray], lr: float) -> None:
        self.t += 1
        c1 = 1.0 - self.b1 ** self.t
        c2 = 1.0 - self.b2 ** self.t
        for name, p in self.params.items():
            g, m, v = grads[name], self.m[name], self.v[name]
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * (g * g)
            if self.decayed[name] and self.weight_decay:
                p *= 1.0 - lr * self.weight_decay
            denom = np.sqrt(v / c2)
            denom += self.eps
            p -= (lr / c1) * m / denom  # in place: p stays the layer's own array


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so their joint L2 norm is at most ``max_norm``.

    Returns the norm before clipping.
    """
    total = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values()))
    if max_norm > 0 and total > max_norm:
        scale = max_norm / (total + 1e-6)
        for g in grads.values():
            g *= scale
    return total


def cosine_lr(step: int, max_lr: float, min_lr: float, warmup: int, total: int) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up to ``max_lr`` over
    ``warmup`` steps, then a half cosine down to ``min_lr`` at ``total``."""
    if step < warmup:
        return max_lr * (step + 1) / warmup
    if step >= total:
        return min_lr
    progress = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (max_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
