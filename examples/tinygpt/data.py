"""Character-level data that needs no download.

The corpus is the help text that every CPython install ships in the standard
library module :mod:`pydoc_data.topics` (the text behind ``help("if")`` and
friends): the values of its ``topics`` dict joined in sorted key order, about
465k characters of English prose and Python code.

* **Split.** Deterministic: the first 90% of the characters are training data,
  the last 10% validation data.
* **Vocabulary.** Fixed: the sorted set of characters of the whole corpus
  (train + validation), so every validation character has an id.
* **Batches.** A training batch is ``B`` windows of ``T + 1`` consecutive ids at
  offsets drawn from a :class:`numpy.random.Generator`; inputs are the first
  ``T`` ids and targets the last ``T`` (the next character at every position).
  The same seed gives the same data order, whatever the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def load_text() -> str:
    """Return the corpus: ``pydoc_data.topics.topics`` joined in sorted key order."""
    from pydoc_data import topics

    return "".join(topics.topics[key] for key in sorted(topics.topics))


@dataclass
class CharDataset:
    """Encoded train/validation splits of a text and its character vocabulary."""

    chars: list[str]
    train: np.ndarray  # (N_train,) int64 token ids
    val: np.ndarray  # (N_val,) int64 token ids

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.chars)}
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids: np.ndarray) -> str:
        return "".join(self.chars[int(i)] for i in ids)


def build_dataset(text: str | None = None, val_fraction: float = 0.1) -> CharDataset:
    """Encode ``text`` (default :func:`load_text`) and split off the last ``val_fraction``."""
    if text is None:
        text = load_text()
    if not 0.0 < val_fraction < 1.0:
        raise ValueError("val_fraction must lie in (0, 1)")
    chars = sorted(set(text))
    lookup = np.zeros(max(map(ord, chars)) + 1, dtype=np.int64)
    lookup[[ord(c) for c in chars]] = np.arange(len(chars))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    ids = lookup[codes]
    n_train = round(len(ids) * (1.0 - val_fraction))
    return CharDataset(chars=chars, train=ids[:n_train], val=ids[n_train:])


def random_batch(
    data: np.ndarray, batch_size: int, block_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``batch_size`` random windows; return inputs and next-token targets, each (B, T)."""
    if len(data) <= block_size + 1:
        raise ValueError("data shorter than one window")
    starts = rng.integers(0, len(data) - block_size - 1, size=batch_size)
    windows = data[starts[:, None] + np.arange(block_size + 1)]
    return windows[:, :-1], windows[:, 1:]


def eval_batches(
    data: np.ndarray, batch_size: int, block_size: int, n_batches: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A fixed list of evaluation batches: every model is scored on the very same windows."""
    rng = np.random.default_rng(seed)
    return [random_batch(data, batch_size, block_size, rng) for _ in range(n_batches)]
