"""Benchmarks: the leaderboard runner and throughput comparisons against peers (see benchmarks/README)."""

from __future__ import annotations

__all__: list[str] = []
