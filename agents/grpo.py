"""Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath) behind PPO's ``learn()``/``predict()``.

PPO's clipped objective without a critic: each rollout plays every drawn prompt ``group_size`` times; a sample's
advantage, on each of its tokens, is its episode return minus its group's mean, over the group's standard
deviation (:func:`agents.ppo.advantages.group_normalized_advantages`); the loss averages each episode's tokens,
then the episodes (``loss_aggregation="sequence"``, GRPO's own normalisation; ``"token"`` gives DAPO's). One pass
over each rollout by default (``n_epochs=1``: TRL's ``num_iterations``), no KL penalty (``kl_coef=0``: TRL's
``beta`` default since DAPO and Dr. GRPO).

One difference from the paper, stated: with ``kl_coef > 0`` the KL to the reference is PPO's, a per-token penalty
on the reward (here then normalised with the return), not the paper's k3 estimator added to the loss.
"""

from __future__ import annotations

from typing import Any

from agents.ppo.ppo import PPO
from textgym.error import InvalidArgumentError

__all__ = ["GRPO"]

FIXED = {"baseline": "group", "advantage_scale": "group", "vf_coef": 0.0}  # what makes it GRPO
DEFAULTS = {"loss_aggregation": "sequence", "n_epochs": 1, "kl_coef": 0.0}  # GRPO's (TRL's) where PPO's differ


class GRPO(PPO):
    """GRPO with PPO's interface (``learn``, ``predict``, callbacks, ``save``/``load``, torchrun).

    Args: as :class:`agents.ppo.PPO`, whose hyperparameters it takes, with GRPO's defaults
    (``loss_aggregation="sequence"``, ``n_epochs=1``, ``kl_coef=0``). ``baseline="group"``,
    ``advantage_scale="group"`` and ``vf_coef=0`` are what make it GRPO: another value is an error.
    """

    def __init__(self, policy: Any, env: Any, num_envs: int = 16, device: str = "cpu", **kwargs: Any) -> None:
        wrong = {k: kwargs[k] for k in FIXED if k in kwargs and kwargs[k] != FIXED[k]}
        if wrong:
            name, value = next(iter(wrong.items()))
            raise InvalidArgumentError(f"GRPO has {name}={FIXED[name]!r} (got {value!r}); for another, use PPO "
                                       f"with advantage_scale='group'.")
        super().__init__(policy, env, num_envs=num_envs, device=device, **{**DEFAULTS, **kwargs, **FIXED})
