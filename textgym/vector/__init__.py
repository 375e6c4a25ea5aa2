"""Vectorized, device-resident environments and their adapters for third-party agents."""

from __future__ import annotations

from typing import Any

__all__ = ["SB3VecEnv", "TextGenVectorEnv", "TorchToNumpy"]

_LAZY = {
    "TextGenVectorEnv": "textgym.vector.torch_env",
    "SB3VecEnv": "textgym.vector.sb3",
    "TorchToNumpy": "textgym.vector.to_numpy",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
