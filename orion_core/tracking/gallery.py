"""Bounded galleries of recent embeddings, shared by tracks and entities."""

from __future__ import annotations

import numpy as np


class EmbeddingRing:
    """The last `size` embeddings, overwritten oldest first: memory stays fixed however long an object is seen.

    Recent views are the ones most likely to match the object's next appearance; a diversity
    scheme (keep the most distinct views) would instead hoard outliers such as occluded crops,
    because nothing new is ever close enough to replace them.
    """

    __slots__ = ("rows", "count", "cursor")

    def __init__(self, size: int, dim: int) -> None:
        self.rows = np.zeros((size, dim), np.float32)
        self.count = 0
        self.cursor = 0

    def add(self, embedding: np.ndarray) -> None:
        rows, cursor = self.rows, self.cursor
        rows[cursor] = embedding
        cursor += 1
        size = len(rows)
        self.cursor = 0 if cursor == size else cursor
        if self.count < size:
            self.count += 1

    def filled(self) -> np.ndarray:
        """The stored rows (a view; order is not chronological once the ring wrapped)."""
        return self.rows[: self.count]

    def ordered(self) -> np.ndarray:
        """The stored rows oldest first (a copy once the ring wrapped)."""
        if self.count < len(self.rows):
            return self.rows[: self.count]
        return np.concatenate([self.rows[self.cursor :], self.rows[: self.cursor]])

    def newest(self, k: int) -> np.ndarray:
        """The `k` most recent rows (fewer when fewer are stored), oldest first."""
        k = min(k, self.count)
        if self.cursor >= k:
            return self.rows[self.cursor - k : self.cursor]
        return self.rows[(self.cursor - k + np.arange(k)) % len(self.rows)]

    def prototype(self) -> np.ndarray | None:
        """L2-normalised mean of the stored rows, or None when empty."""
        if self.count == 0:
            return None
        mean = self.filled().mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return (mean / norm).astype(np.float32) if norm > 0 else None


def stack_rings(rings: list[EmbeddingRing]) -> tuple[np.ndarray, np.ndarray]:
    """(k, size, D) rows and (k,) counts of equally sized rings, for one batched product."""
    return np.stack([ring.rows for ring in rings]), np.array([ring.count for ring in rings])


def best_views(galleries: np.ndarray, counts: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """(k,) each query's best match among the stored rows of its own gallery (-inf if it has none).

    galleries (k, size, D) and counts (k,) as `stack_rings` gives them, queries (k, D): the
    statistic of lost-track recovery and of the confusers it is checked against."""
    similarity = np.einsum("kgd,kd->kg", galleries, queries)
    similarity[np.arange(galleries.shape[1])[None, :] >= counts[:, None]] = -np.inf
    return similarity.max(axis=1)
