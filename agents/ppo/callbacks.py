"""Callbacks in Stable-Baselines3's style: called after every PPO update; returning False stops training.

SB3's own callback objects (``CheckpointCallback``, ``EvalCallback``, ``StopTrainingOnMaxEpisodes``, their
``CallbackList``, any ``stable_baselines3.common.callbacks.BaseCallback``) are accepted too and run on SB3's
schedule: ``on_training_start``, ``on_rollout_start``, ``on_step`` after every step of the vector env (so their
``n_calls``, ``save_freq`` and ``eval_freq`` count env steps, one token for every row, and ``num_timesteps``
counts the tokens generated so far), ``on_rollout_end`` and ``on_training_end``. What they record in
``model.logger`` joins the update's statistics (``eval/mean_reward`` from ``EvalCallback`` reaches
``progress.csv`` and TensorBoard).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgym.error import InvalidArgumentError, check_int

if TYPE_CHECKING:
    from agents.ppo.ppo import PPO
    from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["BaseCallback", "CallbackList", "CheckpointCallback", "EvalCallback", "SB3Callback", "as_callback"]


class BaseCallback:
    """Override :meth:`on_update`; ``self.model`` is the PPO object, ``self.n_calls`` the updates seen.

    The other hooks (``on_training_start`` ... ``on_training_end``) are SB3's schedule; ours need none of them.
    """

    wants_steps = False
    """Whether :meth:`on_step` must run after every env step (SB3's callbacks); it costs a host read per step."""

    def __init__(self) -> None:
        self.model: PPO | None = None
        self.n_calls = 0

    def init(self, model: PPO) -> None:
        """Bind the model (called by ``learn``)."""
        self.model = model

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        """Once, when ``learn`` starts."""

    def on_rollout_start(self) -> None:
        """Before each rollout."""

    def on_step(self, locals_: dict[str, Any]) -> bool:
        """After each env step of a rollout (only when :attr:`wants_steps`); False stops training."""
        return True

    def on_rollout_end(self) -> None:
        """After each rollout, before the optimisation."""

    def on_training_end(self) -> None:
        """Once, when ``learn`` returns."""

    def __call__(self, stats: dict[str, float]) -> bool:
        """Count the call and run :meth:`on_update`; True means go on."""
        self.n_calls += 1
        return self.on_update(stats) is not False

    def on_update(self, stats: dict[str, float]) -> bool | None:
        """After each update, with its statistics (which a callback may extend); False stops training."""
        return True


class CallbackList(BaseCallback):
    """Several callbacks, in order; training stops if any returns False."""

    def __init__(self, callbacks: Sequence[BaseCallback]) -> None:
        super().__init__()
        self.callbacks = list(callbacks)

        self.wants_steps = any(callback.wants_steps for callback in self.callbacks)

    def init(self, model: PPO) -> None:
        """Bind every callback."""
        super().init(model)
        for callback in self.callbacks:
            callback.init(model)

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        """Each callback's."""
        for callback in self.callbacks:
            callback.on_training_start(locals_)

    def on_rollout_start(self) -> None:
        """Each callback's."""
        for callback in self.callbacks:
            callback.on_rollout_start()

    def on_step(self, locals_: dict[str, Any]) -> bool:
        """Each callback's (all run even when one asks to stop)."""
        return all([callback.on_step(locals_) for callback in self.callbacks if callback.wants_steps])

    def on_rollout_end(self) -> None:
        """Each callback's."""
        for callback in self.callbacks:
            callback.on_rollout_end()

    def on_training_end(self) -> None:
        """Each callback's."""
        for callback in self.callbacks:
            callback.on_training_end()

    def on_update(self, stats: dict[str, float]) -> bool:
        """Run all of them (all run even when one asks to stop)."""
        return all([callback(stats) for callback in self.callbacks])


class SB3Callback(BaseCallback):
    """One of Stable-Baselines3's callback objects, run on SB3's schedule (see the module docstring)."""

    wants_steps = True

    def __init__(self, callback: Any) -> None:
        super().__init__()
        self.callback = callback

    def init(self, model: PPO) -> None:
        """SB3's ``init_callback``: it reads ``model.get_env()`` and ``model.logger``."""
        super().init(model)
        self.callback.init_callback(model)

    def on_training_start(self, locals_: dict[str, Any]) -> None:
        """SB3's ``on_training_start(locals, globals)``."""
        self.callback.on_training_start(locals_, {})

    def on_rollout_start(self) -> None:
        """SB3's ``on_rollout_start``."""
        self.callback.on_rollout_start()

    def on_step(self, locals_: dict[str, Any]) -> bool:
        """SB3's ``update_locals`` then ``on_step``."""
        self.callback.update_locals(locals_)
        return bool(self.callback.on_step())

    def on_rollout_end(self) -> None:
        """SB3's ``on_rollout_end``."""
        self.callback.on_rollout_end()

    def on_training_end(self) -> None:
        """SB3's ``on_training_end``."""
        self.callback.on_training_end()

    def on_update(self, stats: dict[str, float]) -> bool:
        """Nothing: SB3 callbacks have no per-update hook (their values come through the logger)."""
        return True


class _FunctionCallback(BaseCallback):
    def __init__(self, function: Callable[[dict[str, float]], bool | None]) -> None:
        super().__init__()
        self.function = function

    def on_update(self, stats: dict[str, float]) -> bool | None:
        return self.function(stats)


class CheckpointCallback(BaseCallback):
    """Save the model every ``save_freq`` updates to ``save_path/{name_prefix}_{timesteps}_steps``."""

    def __init__(self, save_freq: int, save_path: str | os.PathLike[str], name_prefix: str = "ppo") -> None:
        super().__init__()
        check_int("save_freq", save_freq, unit=" (updates)")
        self.save_freq, self.save_path, self.name_prefix = save_freq, Path(save_path), name_prefix
        self.saved: list[Path] = []

    def on_update(self, stats: dict[str, float]) -> bool:
        """Save on every ``save_freq``-th update."""
        if self.n_calls % self.save_freq == 0 and self.model is not None:
            path = self.save_path / f"{self.name_prefix}_{self.model.num_timesteps}_steps"
            self.model.save(path)
            self.saved.append(path)
        return True


class EvalCallback(BaseCallback):
    """Every ``eval_freq`` updates, score greedy decoding on ``eval_env`` (e.g. the validation split).

    ``n_eval_episodes`` is passed to :func:`agents.evaluation.evaluate`: ``"all"`` (default) every example of the
    split once, an int the first that many.
    Adds ``eval/mean_reward`` to the update's statistics, keeps ``best_mean_reward`` and, with
    ``best_model_save_path``, saves the best model there.
    """

    def __init__(self, eval_env: TextGenVectorEnv, eval_freq: int = 10, n_eval_episodes: int | str = "all",
                 best_model_save_path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        check_int("eval_freq", eval_freq, unit=" (updates)")
        self.eval_env, self.eval_freq, self.n_eval_episodes = eval_env, eval_freq, n_eval_episodes
        self.best_model_save_path = Path(best_model_save_path) if best_model_save_path else None
        self.best_mean_reward = float("-inf")
        self.evaluations: list[tuple[int, float]] = []

    def on_update(self, stats: dict[str, float]) -> bool:
        """Evaluate on every ``eval_freq``-th update."""
        from agents.evaluation import evaluate

        if self.n_calls % self.eval_freq or self.model is None or not self.model.parallel.is_main:
            return True  # under torchrun rank 0 evaluates
        mean = evaluate(self.model.policy, self.eval_env, self.n_eval_episodes).mean_reward
        stats["eval/mean_reward"] = mean
        self.evaluations.append((self.model.num_timesteps, mean))
        if mean > self.best_mean_reward:
            self.best_mean_reward = mean
            if self.best_model_save_path is not None:
                self.model.save(self.best_model_save_path)
        return True


def as_callback(callback: Any) -> BaseCallback:
    """A callback from None (one that does nothing), a BaseCallback, an SB3 callback, a list or a function.

    A function receives the update's statistics; False from it stops training.
    """
    if callback is None:
        return BaseCallback()
    if isinstance(callback, BaseCallback):
        return callback
    if _is_sb3_callback(callback):
        return SB3Callback(callback)
    if isinstance(callback, (list, tuple)):
        return CallbackList([as_callback(c) for c in callback])
    if callable(callback):
        return _FunctionCallback(callback)
    raise InvalidArgumentError(
        f"Expected callback to be a BaseCallback (ours or stable_baselines3's), a list of them or a function, got "
        f"{callback!r} ({type(callback).__name__})."
    )


def _is_sb3_callback(callback: Any) -> bool:
    # an SB3 callback exists only once SB3's callbacks module is loaded: no need to import it (seconds) to ask
    module = sys.modules.get("stable_baselines3.common.callbacks")
    return module is not None and isinstance(callback, module.BaseCallback)
