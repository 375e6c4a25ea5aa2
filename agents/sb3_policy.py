"""An SB3 ``ActorCriticPolicy`` around :class:`agents.policy.TransformerPolicy`, for stock ``stable_baselines3.PPO``.

    from stable_baselines3 import PPO
    from agents.sb3_policy import TransformerActorCriticPolicy
    from textgym.vector import SB3VecEnv
    model = PPO(TransformerActorCriticPolicy, SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=8)),
                policy_kwargs={"model": "tiny"})

The transformer's LM head is the ``action_net`` and its value head the ``value_net``; ``ortho_init`` is off
(the LM has its own initialisation). Observations arrive as floats from SB3's buffers and are cast back to
token ids. Unlike :class:`agents.ppo.PPO`, it re-encodes the whole prefix at every step (no KV cache): it is the
peer our PPO is measured against (DESIGN §6).
"""

from __future__ import annotations

from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy

from agents.policy import TransformerPolicy as LMWithValueHead
from textgym.error import InvalidArgumentError

__all__ = ["TransformerActorCriticPolicy"]


def __getattr__(name: str) -> object:
    if name == "TransformerPolicy":  # renamed: it shared its name with agents.policy.TransformerPolicy
        raise AttributeError(
            "agents.sb3_policy.TransformerPolicy was renamed TransformerActorCriticPolicy (agents.policy."
            "TransformerPolicy is the LM + value head it wraps)."
        )
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TransformerActorCriticPolicy(ActorCriticPolicy):
    """Actor-critic over a causal LM. ``policy_kwargs``: ``model`` (``"tiny"``, a name/path or an instance)."""

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, lr_schedule: Any,
                 model: Any = "tiny", **kwargs: Any) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise InvalidArgumentError(
                f"TransformerActorCriticPolicy needs a Discrete action space, got {action_space}."
            )
        if not isinstance(observation_space, spaces.Dict) or "input_ids" not in observation_space.spaces:
            raise InvalidArgumentError(
                "TransformerActorCriticPolicy needs textgym's Dict(input_ids, attention_mask) observations, got "
                f"{observation_space}."
            )
        # a plain attribute: a PreTrainedModel instance cannot be set on a Module before Module.__init__
        object.__setattr__(self, "_model_spec", model)
        kwargs["ortho_init"] = False
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build(self, lr_schedule: Any) -> None:
        length = self.observation_space["input_ids"].shape[0]  # type: ignore[index]
        num_actions = int(self.action_space.n)  # type: ignore[attr-defined]
        self.transformer = LMWithValueHead(self._model_spec, num_actions, max_positions=length)
        self.action_net = self.transformer.lm.get_output_embeddings()
        self.value_net = self.transformer.value_head
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _heads(self, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.transformer.next_token(obs["input_ids"].long(), obs["attention_mask"].long())
        return out.logits, out.values

    def _distribution(self, logits: torch.Tensor) -> Distribution:
        return self.action_dist.proba_distribution(action_logits=logits)  # type: ignore[call-arg]

    def forward(self, obs: Any, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions, values and log-probs for a batch of observations."""
        logits, values = self._heads(obs)
        distribution = self._distribution(logits)
        actions = distribution.get_actions(deterministic=deterministic)
        return actions, values[:, None], distribution.log_prob(actions)

    def evaluate_actions(self, obs: Any, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Values, log-probs of ``actions`` and entropies (SB3's training step)."""
        logits, values = self._heads(obs)
        distribution = self._distribution(logits)
        return values[:, None], distribution.log_prob(actions), distribution.entropy()  # type: ignore[return-value]

    def get_distribution(self, obs: Any) -> Distribution:
        """The action distribution at each observation."""
        return self._distribution(self._heads(obs)[0])

    def predict_values(self, obs: Any) -> torch.Tensor:
        """Value estimates ``[B, 1]``."""
        return self._heads(obs)[1][:, None]
