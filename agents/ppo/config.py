"""PPOConfig: the Stable-Baselines3 PPO dialect plus the KL controller of RL from feedback; checks itself."""

from __future__ import annotations

from dataclasses import dataclass

from agents.precision import check_precision
from textgym.error import InvalidArgumentError, check_int

__all__ = ["ADVANTAGE_SCALES", "BASELINES", "LOSS_AGGREGATIONS", "REMOVED", "PPOConfig"]

BASELINES = ("value", "greedy", "group")
ADVANTAGE_SCALES = ("batch", "group")
LOSS_AGGREGATIONS = ("token", "sequence")
# removed fields -> what replaces them (a config that still names one gets this as its error)
REMOVED = {"adaptive_kl": "the adaptive KL controller runs when kl_target is set (and target_kl now only stops "
                          "epochs early, as in SB3): pass kl_target=... instead of adaptive_kl=True"}


@dataclass(frozen=True)
class PPOConfig:
    """Hyper-parameters, named as in ``stable_baselines3.PPO`` so configs port over; each field documented once."""

    learning_rate: float = 3e-4
    """Adam step size."""
    n_steps: int = 1
    """Episodes collected per env per rollout (each is up to ``max_new_tokens`` tokens)."""
    batch_size: int = 16
    """Episodes per minibatch; must divide ``n_steps * num_envs``."""
    n_epochs: int = 4
    """Passes over each rollout."""
    gamma: float = 1.0
    """Discount over tokens (1.0: the sequence score is what counts)."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    clip_range: float = 0.2
    """PPO's epsilon for the probability ratio."""
    clip_range_vf: float | None = None
    """Clip of the value prediction around the old one (None: no clipping)."""
    ent_coef: float = 0.0
    """Entropy bonus weight."""
    vf_coef: float = 0.5
    """Value loss weight."""
    max_grad_norm: float = 0.5
    """Gradient norm clip."""
    target_kl: float | None = None
    """SB3's early stopping: the epochs of an update stop at the first minibatch whose approximate KL to the
    rollout policy (per token, ``mean((r - 1) - log r)``) exceeds ``1.5 * target_kl``; that minibatch takes no
    step. None: every epoch runs."""
    kl_coef: float = 0.05
    """Initial weight of the per-token KL penalty ``-kl_coef * (log pi - log pi_ref)`` toward the frozen
    reference model."""
    kl_target: float | None = None
    """Target of the adaptive KL controller (Ziegler et al. 2019, section 2.2): the per-*sequence* KL to the
    reference (summed over tokens, averaged over episodes) that ``kl_coef`` is steered toward. None: ``kl_coef``
    stays fixed."""
    kl_horizon: int = 10_000
    """The controller's horizon in episodes: each update moves ``kl_coef`` by a factor
    ``1 + clip(KL / kl_target - 1, -0.2, 0.2) * episodes / kl_horizon``."""
    baseline: str = "value"
    """``"value"``: GAE with the value head (as SB3). ``"greedy"``: self-critical (Rennie et al. 2017): each
    rollout batch is replayed greedily on the same examples, and a token's advantage is its return to go minus
    the greedy episode's score, scaled (not centred) per minibatch; it reinforces exactly the samples that beat
    the model's own greedy output, which is what greedy evaluation measures. ``"group"``: leave-one-out (RLOO,
    Kool et al. 2019; Ahmadian et al. 2024): each rollout plays every example ``group_size`` times, and a
    sample's baseline is the mean score of the others on its example."""
    group_size: int = 4
    """Samples per example with ``baseline="group"``; must divide ``num_envs``."""
    advantage_scale: str = "batch"
    """How advantages are scaled before the clipped loss. ``"batch"``: per minibatch, over its real tokens (SB3's
    ``normalize_advantage``; centred too with the value baseline). ``"group"`` (GRPO, Shao et al. 2024; needs
    ``baseline="group"``): a sample's advantage, on each of its tokens, is its episode return minus its group's
    mean, over the group's standard deviation (+1e-4, as TRL), and the minibatch does not rescale it."""
    loss_aggregation: str = "token"
    """How the clipped loss averages a minibatch. ``"token"``: over all its real tokens (SB3; DAPO's token-level
    loss). ``"sequence"``: each episode's token mean, then the mean over episodes (GRPO's loss: a short and a long
    answer weigh the same)."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts: the logits are divided by it before sampling, and every log-prob PPO
    computes (old, new, reference) is of that same distribution, so the ratio and the KL compare like with like (as
    TRL does). Below 1 the samples stay closer to the greedy decode, which greedy evaluation measures."""
    seed: int | None = None
    """Seed of torch, the envs, sampling and the minibatch order."""
    precision: str = "auto"
    """``"auto"``: bf16 autocast for the forward passes on CUDA devices with bf16, fp32 elsewhere (on CPUs it measured
    no faster at CPU-sized models, :mod:`agents.precision`); ``"bf16"`` or ``"fp32"`` to force one. Losses, parameters
    and the optimizer state are fp32 either way."""

    def __post_init__(self) -> None:
        check_precision(self.precision)
        self._check_choices()
        positive = {"learning_rate": self.learning_rate, "clip_range": self.clip_range,
                    "max_grad_norm": self.max_grad_norm, "temperature": self.temperature}
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise InvalidArgumentError(f"Expected {name} > 0, got {value!r} ({type(value).__name__}).")
        for name in ("n_steps", "batch_size", "n_epochs"):
            check_int(name, getattr(self, name))
        check_int("group_size", self.group_size, minimum=2)
        for name, value in (("gamma", self.gamma), ("gae_lambda", self.gae_lambda)):
            if not 0.0 <= value <= 1.0:
                raise InvalidArgumentError(f"Expected {name} in [0, 1], got {value!r}.")
        for name, value in (("ent_coef", self.ent_coef), ("vf_coef", self.vf_coef), ("kl_coef", self.kl_coef)):
            if value < 0:
                raise InvalidArgumentError(f"Expected {name} >= 0, got {value!r}.")
        check_int("kl_horizon", self.kl_horizon)
        for name, optional in (("clip_range_vf", self.clip_range_vf), ("target_kl", self.target_kl),
                               ("kl_target", self.kl_target)):
            if optional is not None and not optional > 0:
                raise InvalidArgumentError(f"Expected {name} > 0 or None, got {optional!r}.")

    def _check_choices(self) -> None:
        for name, value, accepted in (("baseline", self.baseline, BASELINES),
                                      ("advantage_scale", self.advantage_scale, ADVANTAGE_SCALES),
                                      ("loss_aggregation", self.loss_aggregation, LOSS_AGGREGATIONS)):
            if value not in accepted:
                raise InvalidArgumentError(f"Unknown {name} {value!r}. Accepted: {', '.join(map(repr, accepted))}.")
        if self.advantage_scale == "group" and self.baseline != "group":
            raise InvalidArgumentError(f"advantage_scale='group' scales by each example's group of samples, which "
                                       f"baseline='group' plays; got baseline={self.baseline!r}.")

    def check_batch(self, num_envs: int) -> None:
        """Raise if ``batch_size`` does not divide the ``n_steps * num_envs`` episodes of a rollout."""
        rollout = self.n_steps * num_envs
        if self.baseline == "group" and num_envs % self.group_size:
            raise InvalidArgumentError(
                f"group_size={self.group_size} does not divide num_envs={num_envs}: with baseline='group' every "
                f"example is played group_size times in one rollout. Pick a divisor of {num_envs}."
            )
        if rollout % self.batch_size:
            raise InvalidArgumentError(
                f"batch_size={self.batch_size} does not divide the rollout of n_steps * num_envs = "
                f"{self.n_steps} * {num_envs} = {rollout} episodes. Pick a divisor of {rollout}."
            )
