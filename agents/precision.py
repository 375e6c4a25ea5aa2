"""Mixed precision: bf16 autocast for the forward passes where the hardware has bf16, fp32 everywhere else.

``precision="auto"`` takes bf16 on CUDA devices that support it, else fp32 with a one-line note. Only the forwards
run under autocast (rollout, re-scoring, training); log-softmax, losses, the parameters and the optimizer state stay
in fp32 (the callers upcast logits and values before any loss). ``"bf16"`` forces it, on a CPU too (emulated and slow
where the CPU lacks AVX-512 BF16 or AMX, see :func:`bf16_supported`, with a warning); ``"fp32"`` turns it off.

**Why "auto" stays fp32 on CPUs that have bf16** (measured, ``benchmarks/RESULTS.md``): with the attention as bf16
matmuls around a float32 softmax (:func:`agents.policy.use_cpu_attention`) and the log-probs in chunks, a PPO update
of issue 14's 2x128 GPT-2 runs 1.4-1.7x faster in bf16 on an AVX-512 BF16 CPU, but the main job's 2x64 model
gains nothing (SFT 1.08x, RL stage 0.89x): at that width the per-op work bf16 does not speed up outweighs the faster
matmuls. So ``"bf16"`` is the switch for wider models. ``torch.compile`` of the training passes gained only 1.07x on
top (measured, not adopted).
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any

import torch

from textgym.error import InvalidArgumentError, suggest

__all__ = ["PRECISIONS", "autocast", "bf16_supported", "check_precision", "resolve_precision"]

PRECISIONS = ("auto", "fp32", "bf16")


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matmuls natively (CUDA's own check; AVX-512 BF16 or AMX on a CPU)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        cpu: Any = torch.cpu
        checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        return any(bool(check()) for check in checks if check is not None)
    return False


def check_precision(precision: object, name: str = "precision") -> str:
    """Return ``precision`` if it is one of :data:`PRECISIONS`, else raise naming it and the accepted ones."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise InvalidArgumentError(f"Unknown {name} {precision!r}. {suggest(str(precision), PRECISIONS)}")
    return precision


def resolve_precision(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None: fp32, no autocast)."""
    check_precision(precision)
    device = torch.device(device)
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type == "cpu" and not bf16_supported(device):
            # an AVX2-only CPU runs bf16 matmuls in a fallback kernel: 1.3 GFLOP/s against fp32's 82 (AMD Zen 3,
            # 1 thread, benchmarks/RESULTS.md); honour the explicit choice, but say so
            warnings.warn("precision='bf16': this CPU has no native bf16 (AVX-512 BF16 or AMX), so bf16 matmuls "
                          "are emulated, about 60x slower than fp32 on an AVX2 CPU. Pass precision='auto' or 'fp32'.",
                          RuntimeWarning, stacklevel=3)
        return torch.bfloat16
    if device.type == "cuda" and bf16_supported(device):
        return torch.bfloat16
    if device.type == "cuda":
        warnings.warn(f"precision='auto': {device} has no native bf16; training in fp32.", RuntimeWarning,
                      stacklevel=3)
    return None  # a CPU: fp32, the faster choice at the sizes measured (module docstring)


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``, or a no-op for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
