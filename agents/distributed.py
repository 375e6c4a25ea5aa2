"""Data parallelism over ``torch.distributed``, as ``torchrun`` launches it.

Under ``torchrun --nproc_per_node N`` (or any launcher that sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``), PPO and
SFT join the process group (``gloo`` on CPU, ``nccl`` on CUDA), each rank rolls out on its own env shard, and the
gradients are all-reduced into the mean over **every token of every rank** before each optimizer step, so N ranks
take the step one process would take on the union of their batches. Statistics that decisions read (advantage
normalisation, early stopping, the KL controller, timesteps) are reduced too; only rank 0 logs, evaluates and
saves. In a plain process everything here is a no-op.

Why not ``DistributedDataParallel``: DDP syncs gradients only for work done through its own ``forward``, while a
policy is called through several entry points (prefill, cached decode, teacher-forced forward, value head) and
several backward-free passes; DDP's reducer then raises or syncs at the wrong time. The all-reduce here is DDP's
(one flat buffer per step), called explicitly after ``backward``; FSDP would replace it for models that do not fit
one device, and is not needed at the sizes this project trains.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable

import torch

from agents.ppo.loss import masked_mean
from textgym.error import TextGymError

__all__ = ["DataParallel", "DistributedError"]

TIMEOUT_S = float(os.environ.get("TEXTGYM_DIST_TIMEOUT", "120"))
RANK_SEED_STRIDE = 1_000_003  # rank r's random streams start at seed + r * this (rank 0: the one-process stream)


class DistributedError(TextGymError, RuntimeError):
    """A collective failed: a rank died or stopped answering."""


class DataParallel:
    """This process's place in the process group (world 1 without one) and the collectives training needs.

    Args:
        device: The training device; picks the backend (``nccl`` on CUDA, ``gloo`` elsewhere) when this call
            starts the process group from ``torchrun``'s environment.
    """

    def __init__(self, device: torch.device) -> None:
        import torch.distributed as dist

        self.device = device
        launched = int(os.environ.get("WORLD_SIZE", "1")) > 1 and "MASTER_ADDR" in os.environ
        if dist.is_available() and launched and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            dist.init_process_group(backend, timeout=datetime.timedelta(seconds=TIMEOUT_S))
        self.active = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.active else 0
        self.world_size = dist.get_world_size() if self.active else 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, evaluates and writes checkpoints."""
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """This rank's seed for streams each rank draws on its own (sampling, batch order): ``seed`` on rank 0."""
        return seed + RANK_SEED_STRIDE * self.rank

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank (itself in one process): decisions that end loops must agree."""
        if not self.active:
            return flag
        return bool(self.sum(torch.tensor([float(flag)], device=self._comm_device)) > 0)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum over ranks of ``tensor`` (a new tensor; the input as it is in one process)."""
        if not self.active:
            return tensor
        out = tensor.detach().clone()
        self._all_reduce(out, "a sum")
        return out

    def mean_floats(self, values: dict[str, float]) -> dict[str, float]:
        """The mean over ranks of each value (one collective for all), for logged statistics."""
        if not self.active or not values:
            return values
        keys = sorted(values)
        total = self.sum(torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self._comm_device))
        return {k: float(v) / self.world_size for k, v in zip(keys, total.tolist(), strict=True)}

    def token_scale(self, mask: torch.Tensor) -> torch.Tensor | float:
        """A rank's factor on its token-mean loss so that averaged gradients are those of the all-rank token mean.

        ``local tokens * world / all tokens`` (1 in one process).
        """
        if not self.active:
            return 1.0
        local = mask.sum().to(torch.float64)
        total = self.sum(local.to(self._comm_device)).to(local.device)
        return (local * self.world_size / total.clamp(min=1)).to(torch.float32)

    def masked_mean(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``masked_mean`` over every rank's positions (no gradient flows through the reduction)."""
        if not self.active:
            return masked_mean(values, mask)
        mask = mask.to(values.dtype)
        both = self.sum(torch.stack([(values * mask).sum(), mask.sum()]).detach().double().to(self._comm_device))
        return (both[0] / both[1].clamp(min=1)).to(values.dtype).to(values.device)

    def average_gradients(self, parameters: Iterable[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over ranks (one flat buffer, as DDP's buckets)."""
        if not self.active:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([g.reshape(-1) for g in grads])
        self._all_reduce(flat, "the gradients")
        flat /= self.world_size
        offset = 0
        for grad in grads:
            grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
            offset += grad.numel()

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Give every rank rank 0's parameters and buffers (the same start whatever each rank's seed did)."""
        if not self.active:
            return
        import torch.distributed as dist

        for tensor in [*module.parameters(), *module.buffers()]:
            try:
                dist.broadcast(tensor.data, src=0)
            except RuntimeError as exc:
                raise self._error("broadcasting the parameters", exc) from exc

    @property
    def _comm_device(self) -> torch.device:
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def _all_reduce(self, tensor: torch.Tensor, what: str) -> None:
        import torch.distributed as dist

        try:
            dist.all_reduce(tensor)
        except RuntimeError as exc:  # gloo/nccl report a dead peer or a timeout as RuntimeError subclasses
            raise self._error(f"all-reducing {what}", exc) from exc

    def _error(self, what: str, exc: Exception) -> DistributedError:
        return DistributedError(
            f"Rank {self.rank} of {self.world_size} failed while {what}: another rank died or stopped answering "
            f"(timeout {TIMEOUT_S:g} s, $TEXTGYM_DIST_TIMEOUT). The cause is in that rank's output. "
            f"Backend error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
