"""Agents of the leaderboard, by name or as ``package.module:factory``.

A factory takes an :class:`AgentContext` (the task, seed, budget, device and model of one leaderboard cell)
and returns an :class:`agents.base.Agent`: an object with SB3's ``predict(observation, state=None,
episode_start=None, deterministic=False)``, called on batches of observations (numpy dicts of ``input_ids`` and
``attention_mask``, shape ``[n, P + T]``) that must return one action per row. If the agent also has SB3's
``learn(total_timesteps, reset_num_timesteps=...)`` and a ``num_timesteps`` counter, the runner trains it on the
task's budget (``budget.rl_tokens``; ``budget.sft_tokens`` when the agent says ``budget_kind = "sft"``),
in chunks, scoring the validation split between chunks for the learning curve (whose token axis starts at the
agent's ``warm_start_tokens``, if it says it had a warm start). A Stable-Baselines3 model meets
this protocol as it is.

Built-in names: ``random``, ``reference`` (reads the answer: the upper bound), ``greedy`` (the suite's model,
untrained, decoding greedily), ``sft`` (supervised training on the references), ``ppo`` (warm start on the
references, then :class:`agents.ppo.PPO`), ``grpo`` (the same warm start, then :class:`agents.grpo.GRPO`),
``sb3-ppo`` (the same warm start, then stock
``stable_baselines3.PPO`` with :class:`agents.sb3_policy.TransformerActorCriticPolicy`).
"""

from __future__ import annotations

import copy
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import textgym  # noqa: F401 - registers the ids
from agents.baselines import GreedyAgent, RandomAgent, ReferenceAgent
from agents.policy import TransformerPolicy
from agents.sft import SFT, SFTConfig
from benchmarks.leaderboard.suites import Budget, Suite, TaskSpec
from textgym.error import InvalidArgumentError, TextGymError, UnknownNameError, suggest
from textgym.vector.torch_env import TextGenVectorEnv

__all__ = ["BUILTIN_AGENTS", "AgentContext", "AgentProtocolError", "load_factory", "make_agent"]


class AgentProtocolError(TextGymError, TypeError):
    """An agent factory, or what it returned, does not meet the :class:`agents.base.Agent` protocol."""


class UnknownAgentError(UnknownNameError):
    """Neither a built-in agent name nor a ``package.module:factory`` reference."""


@dataclass
class AgentContext:
    """What a factory knows about its leaderboard cell.

    Attributes:
        suite: The suite.
        task: The task (data folder resolved).
        seed: The cell's seed.
        device: Torch device for models and vector envs.
        cache_dir: Folder for results shared between cells (the warm start), or None.
    """

    suite: Suite
    task: TaskSpec
    seed: int
    device: str = "cpu"
    cache_dir: Path | None = None
    _envs: dict[Any, TextGenVectorEnv] = field(default_factory=dict, repr=False)
    _made: list[Any] = field(default_factory=list, repr=False)

    @property
    def budget(self) -> Budget:
        """The task's training budget."""
        return self.task.budget

    @property
    def model(self) -> str:
        """The suite's model name."""
        return self.suite.model

    def settings(self, agent: str) -> dict[str, Any]:
        """The suite's hyperparameters of a built-in agent."""
        return dict(self.suite.agent_settings.get(agent, {}))

    def make_env(self, split: str = "train", **kwargs: Any) -> gym.Env:
        """A single env of the task's training data (the SB3 way to start a model)."""
        env = gym.make(self.task.env_id, split=split, **{**self.task.training_kwargs, **kwargs})
        self._made.append(env)
        return env

    def make_vec_env(self, num_envs: int, split: str = "train", autoreset_mode: str = "Disabled",
                     **kwargs: Any) -> TextGenVectorEnv:
        """A vector env of the task's training data on the cell's device."""
        envs = gym.make_vec(self.task.env_id, num_envs=num_envs, split=split, autoreset_mode=autoreset_mode,
                            device=self.device, **{**self.task.training_kwargs, **kwargs})
        self._made.append(envs)
        return envs  # type: ignore[return-value]

    @property
    def eval_env(self) -> TextGenVectorEnv:
        """The evaluation env (test split, ``suite.eval_batch`` rows); the runner evaluates on this instance."""
        key = "eval"
        if key not in self._envs:
            envs: Any = gym.make_vec(self.task.env_id, num_envs=self.suite.eval_batch, split=self.task.eval_split,
                                     autoreset_mode="Disabled", device=self.device, **self.task.eval_kwargs)
            self._envs[key] = envs
        return self._envs[key]

    @property
    def curve_env(self) -> TextGenVectorEnv:
        """The validation env of the learning curves (the training data's validation split)."""
        if "curve" not in self._envs:
            rows = min(self.suite.eval_batch, self.task.curve_episodes)
            self._envs["curve"] = self.make_vec_env(rows, split="validation")  # closing twice is harmless
        return self._envs["curve"]

    def close(self) -> None:
        """Close every env this context made."""
        for env in [*self._envs.values(), *self._made]:
            env.close()
        self._envs.clear()
        self._made.clear()

    def new_policy(self) -> TransformerPolicy:
        """The suite's model, freshly initialised under the cell's seed, sized for the task's env."""
        env = self.eval_env
        torch.manual_seed(self.seed)
        return TransformerPolicy(self.model, env.vocab_size, max_positions=env.max_prompt_tokens + env.max_new_tokens,
                                 eos_token_id=env.eos_token_id, pad_token_id=env.pad_token_id,
                                 bos_token_id=env.tokenizer.bos_token_id).to(self.device).eval()

    def _warm_start_file(self) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha256(json.dumps([self.suite.fingerprint(), self.task.name, self.seed, self.settings("sft")],
                                        sort_keys=True).encode()).hexdigest()[:16]
        return self.cache_dir / f"sft-{self.task.name}-seed{self.seed}-{key}.safetensors"

    def save_warm_start(self, policy: TransformerPolicy) -> None:
        """Keep ``policy`` as this cell's warm start (the ``sft`` agent does, once trained on its whole budget)."""
        path = self._warm_start_file()
        if path is None or path.is_file():
            return
        from safetensors.torch import save_model

        path.parent.mkdir(parents=True, exist_ok=True)
        save_model(policy, str(path.with_suffix(".tmp")))
        path.with_suffix(".tmp").replace(path)  # atomic: a killed run leaves no half-written file

    def warm_start(self) -> TransformerPolicy:
        """The model after supervised training on ``budget.sft_tokens`` reference tokens.

        The ``sft`` agent of the same task and seed trains exactly this model (same initialisation, same batches,
        and its curve's evaluations draw no random numbers), so whichever of them runs first keeps it in the cache
        folder and the other loads it; a test checks that both ways give identical weights.
        """
        path = self._warm_start_file()
        policy = self.new_policy()
        if path is not None and path.is_file():
            from safetensors.torch import load_model

            load_model(policy, str(path))
            return policy
        if self.budget.sft_tokens:
            self.sft_trainer(policy).learn(self.budget.sft_tokens)
        self.save_warm_start(policy)
        return policy

    def sft_trainer(self, policy: TransformerPolicy) -> SFT:
        """The supervised trainer of ``policy`` on the task's training split, with the suite's ``sft`` settings."""
        settings = self.settings("sft")
        accepted = {"batch_size", "learning_rate", "steps", "labelled"}
        if set(settings) - accepted:
            raise InvalidArgumentError(
                f"Suite {self.suite.name!r}: unknown sft setting(s) {sorted(set(settings) - accepted)}. "
                f"Accepted: {sorted(accepted)}."
            )
        return SFT(policy, self.make_vec_env(1), SFTConfig(**settings, seed=self.seed))


class SFTAgent:
    """Supervised training on the references (``learn`` counts supervised tokens), greedy decoding."""

    budget_kind = "sft"

    def __init__(self, context: AgentContext) -> None:
        self.context = context
        self.policy = context.new_policy()
        self.trainer = context.sft_trainer(self.policy)
        self._greedy = GreedyAgent(self.policy, context.eval_env.max_prompt_tokens)

    @property
    def num_timesteps(self) -> int:
        """Supervised tokens seen."""
        return self.trainer.num_timesteps

    def learn(self, total_timesteps: int, reset_num_timesteps: bool = False) -> SFTAgent:
        """Train on ``total_timesteps`` more reference tokens (on reaching the budget: kept as the warm start)."""
        self.trainer.learn(total_timesteps, reset_num_timesteps=reset_num_timesteps)
        if self.trainer.num_timesteps >= self.context.budget.sft_tokens:
            self.context.save_warm_start(self.policy)
        return self

    def predict(self, observation: dict[str, Any], state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, None]:
        """Greedy next tokens."""
        return self._greedy.predict(observation, state, episode_start, deterministic)


def _random(context: AgentContext) -> Any:
    return RandomAgent(context.eval_env.single_action_space, seed=context.seed)  # type: ignore[arg-type]


def _reference(context: AgentContext) -> Any:
    return ReferenceAgent(context.eval_env)


def _greedy(context: AgentContext) -> Any:
    return GreedyAgent(context.new_policy(), context.eval_env.max_prompt_tokens)


def _warm_started(name: str, trainer: Callable[[], type]) -> Callable[[AgentContext], Any]:
    """The factory of a trainer with PPO's constructor (PPO, GRPO) on the cell's warm start and ``name``'s settings.

    ``trainer`` imports the class when a cell needs it (``import benchmarks.leaderboard`` stays light).
    """

    def factory(context: AgentContext) -> Any:
        settings = context.settings(name)
        num_envs = settings.pop("num_envs", 32)
        model = trainer()(context.warm_start(), context.make_vec_env(num_envs), device=context.device,
                          seed=context.seed, **settings)
        model.warm_start_tokens = context.budget.sft_tokens
        return model

    return factory


def _ppo_class() -> type:
    from agents.ppo.ppo import PPO

    return PPO


def _grpo_class() -> type:
    from agents.grpo import GRPO

    return GRPO


def _sb3_ppo(context: AgentContext) -> Any:
    from stable_baselines3 import PPO as SB3PPO

    from agents.sb3_policy import TransformerActorCriticPolicy
    from textgym.vector import SB3VecEnv

    settings = context.settings("sb3-ppo")
    num_envs = settings.pop("num_envs", 8)
    lm = copy.deepcopy(context.warm_start().lm)
    venv = SB3VecEnv(context.make_vec_env(num_envs, autoreset_mode="SameStep"))
    model = SB3PPO(TransformerActorCriticPolicy, venv, policy_kwargs={"model": lm}, seed=context.seed,
                   device=context.device, **settings)
    model.warm_start_tokens = context.budget.sft_tokens  # type: ignore[attr-defined]
    return model


BUILTIN_AGENTS: dict[str, Callable[[AgentContext], Any]] = {
    "random": _random,
    "reference": _reference,
    "greedy": _greedy,
    "sft": SFTAgent,
    "ppo": _warm_started("ppo", _ppo_class),
    "grpo": _warm_started("grpo", _grpo_class),
    "sb3-ppo": _sb3_ppo,
}


def _import_agent_module(name: str) -> Any:
    if name.endswith(".py"):
        path = Path(name).resolve()
        module_spec = importlib.util.spec_from_file_location(f"textgym_agent_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"not a Python file: {name}")
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module  # so that pickling its classes finds them
        module_spec.loader.exec_module(module)
        return module
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)
    return importlib.import_module(name)


def load_factory(spec: str) -> Callable[[AgentContext], Any]:
    """The factory named ``spec``: a built-in name, ``package.module:factory`` or ``path/to/file.py:factory``.

    Modules are looked up in the current directory too, as ``python -m`` does (a console script's ``sys.path``
    does not hold it).
    """
    if spec in BUILTIN_AGENTS:
        return BUILTIN_AGENTS[spec]
    module_name, colon, attribute = spec.rpartition(":")
    if not colon or not module_name or not attribute:
        raise UnknownAgentError(
            f"Unknown agent {spec!r}. {suggest(spec, BUILTIN_AGENTS)} Or give a third-party factory as "
            "'package.module:factory' or 'path/to/file.py:factory'."
        )
    try:
        module = _import_agent_module(module_name)
    except ImportError as exc:
        raise UnknownAgentError(f"Agent {spec!r}: cannot import module {module_name!r} ({exc}).") from exc
    except OSError as exc:
        raise UnknownAgentError(f"Agent {spec!r}: cannot read {module_name!r} ({exc}).") from exc
    factory = getattr(module, attribute, None)
    if factory is None:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UnknownAgentError(
            f"Agent {spec!r}: module {module_name!r} has no {attribute!r}. {suggest(attribute, public)}"
        )
    if not callable(factory):
        raise AgentProtocolError(
            f"Agent {spec!r}: {attribute!r} is a {type(factory).__name__}, not a factory. Expected a callable "
            "taking an AgentContext and returning an object with predict(observation, state, episode_start, "
            "deterministic)."
        )
    return factory  # type: ignore[no-any-return]


def check_agent(spec: str, agent: Any) -> Any:
    """``agent`` if it meets the protocol, else an :class:`AgentProtocolError` saying what is missing."""
    predict = getattr(agent, "predict", None)
    expected = ("predict(observation, state=None, episode_start=None, deterministic=False) returning "
                "(actions, state)")
    if not callable(predict):
        raise AgentProtocolError(
            f"Agent {spec!r}: the factory returned {type(agent).__name__}, which has no predict method. "
            f"Expected an agents.base.Agent: {expected}."
        )
    try:
        inspect.signature(predict).bind(None, deterministic=True)
    except TypeError as exc:
        raise AgentProtocolError(
            f"Agent {spec!r}: {type(agent).__name__}.predict{inspect.signature(predict)} does not accept "
            f"(observation, deterministic=...). Expected {expected}."
        ) from exc
    learn = getattr(agent, "learn", None)
    if learn is not None and not callable(learn):
        raise AgentProtocolError(f"Agent {spec!r}: {type(agent).__name__}.learn is not callable.")
    kind = getattr(agent, "budget_kind", "rl")
    if kind not in ("rl", "sft"):
        raise AgentProtocolError(f"Agent {spec!r}: budget_kind {kind!r} is not one of 'rl', 'sft'.")
    return agent


def make_agent(spec: str, context: AgentContext) -> Any:
    """Build and check the agent ``spec`` for a cell."""
    factory = load_factory(spec)
    try:
        inspect.signature(factory).bind(context)
    except TypeError as exc:
        raise AgentProtocolError(
            f"Agent {spec!r}: the factory{inspect.signature(factory)} cannot be called with one AgentContext "
            f"({exc}). A factory takes the cell's context: def factory(context): ..."
        ) from exc
    except ValueError:  # no signature to read (a builtin): just call it
        pass
    agent = factory(context)
    return check_agent(spec, agent)
