"""SB3VecEnv: a Stable-Baselines3 ``VecEnv`` over :class:`~textgym.vector.torch_env.TextGenVectorEnv`.

Stock ``stable_baselines3`` algorithms (``PPO("MultiInputPolicy", ...)``, ``A2C``) and ``evaluate_policy`` run
on it unmodified. Per step it copies the observation to the host once, returns float32 rewards and bool
dones, and for finished rows adds ``terminal_observation``, ``TimeLimit.truncated`` and Monitor-style
``episode`` statistics (return, length, time) to their info dicts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvObs, VecEnvStepReturn

from textgym.envs.episode import row_info
from textgym.error import InvalidArgumentError
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["SB3VecEnv"]


def _host(tree: dict[str, Any]) -> dict[str, np.ndarray]:
    return {key: value.cpu().numpy() for key, value in tree.items()}


class SB3VecEnv(VecEnv):
    """Adapt a ``SAME_STEP`` :class:`TextGenVectorEnv` to Stable-Baselines3.

    Args:
        venv: The vector env. ``get_attr``/``set_attr``/``env_method`` reach its attributes and methods
            (every index sees the same object: the rows share one env).
    """

    def __init__(self, venv: TextGenVectorEnv) -> None:
        if not isinstance(venv, TextGenVectorEnv):
            raise InvalidArgumentError(
                f"SB3VecEnv wraps a TextGenVectorEnv (gym.make_vec(id, num_envs=...)), got {type(venv).__name__}."
            )
        if venv.autoreset_mode != AutoresetMode.SAME_STEP:
            raise InvalidArgumentError(
                f"SB3VecEnv needs autoreset_mode=SAME_STEP (SB3 resets finished envs in the same step), got "
                f"{venv.autoreset_mode}."
            )
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: Any = None
        self._returns = np.zeros(venv.num_envs, dtype=np.float64)
        self._lengths = np.zeros(venv.num_envs, dtype=np.int64)
        self._start = time.perf_counter()

    def reset(self) -> VecEnvObs:
        """Reset every row, with the seed given to :meth:`seed` if any (row i gets seed + i)."""
        seed = self._seeds[0]
        obs, _ = self.venv.reset(seed=seed)
        self._reset_seeds()
        self._returns[:] = 0
        self._lengths[:] = 0
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return _host(obs)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step the vector env and translate its output to SB3's conventions."""
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        rewards_np = rewards.cpu().numpy().astype(np.float32)
        terminated_np, truncated_np = terminated.cpu().numpy(), truncated.cpu().numpy()
        dones = terminated_np | truncated_np
        self._returns += rewards_np
        self._lengths += 1
        info_list: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(dones)
        if len(finished):
            final_obs = _host(infos["final_obs"])
            final = infos["final_info"]
            elapsed = round(time.perf_counter() - self._start, 6)
            for i in finished:
                info = info_list[i]
                info["terminal_observation"] = {k: v[i] for k, v in final_obs.items()}
                info["TimeLimit.truncated"] = bool(truncated_np[i] and not terminated_np[i])
                info["episode"] = {"r": float(self._returns[i]), "l": int(self._lengths[i]), "t": elapsed}
                info.update(row_info(final, int(i)))
            self._returns[finished] = 0
            self._lengths[finished] = 0
        return _host(obs), rewards_np, dones, info_list

    def close(self) -> None:
        """Close the vector env."""
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The vector env's attribute, once per index."""
        return [getattr(self.venv, attr_name)] * len(list(self._get_indices(indices)))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the vector env (shared by all rows)."""
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
                   ) -> list[Any]:
        """Call a method of the vector env once; its result is repeated for each index.

        ``action_masks`` (what sb3-contrib's ``MaskablePPO`` calls) answers one row per index instead.
        """
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        if method_name == "action_masks":
            masks = result.cpu().numpy()
            return [masks[i] for i in self._get_indices(indices)]
        return [result] * len(list(self._get_indices(indices)))

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """True only for SB3's ``Monitor``, whose ``episode`` statistics this adapter provides itself."""
        from stable_baselines3.common.monitor import Monitor

        return [wrapper_class is Monitor] * len(list(self._get_indices(indices)))

    def get_images(self) -> Sequence[np.ndarray | None]:
        """Text envs have no images."""
        return [None] * self.num_envs
