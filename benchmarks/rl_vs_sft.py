"""Does RL add to SFT? The RL stage against an SFT-only control given the same extra time, in one run.

Each seed: SFT on the references of the train split's first ``--labelled`` examples (all of them without it), then
from that one state (1) RL (``textgym train``'s PPO settings) on every train prompt for ``--updates`` updates, and
(2) more SFT on the same labelled examples for the same wall-clock time, early-stopped on the validation score
(scored at ``--control-checks`` points; the best counts, which favours the control). Reports greedy validation
scores after SFT, after RL and for the control::

    python -m benchmarks.rl_vs_sft --labelled 400 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from typing import Any

import gymnasium as gym
import torch

import textgym  # noqa: F401 - registers the envs
from agents.cli import _PPOProgress
from agents.evaluation import evaluate
from agents.ppo.ppo import PPO
from agents.rest import ReST
from agents.sft import SFT, SFTConfig


def run_seed(seed: int, env_id: str, model: str, labelled: int | None, sft_steps: int, sft_lr: float,
             updates: int, control_lr: float, control_checks: int, num_envs: int, agent: str = "ppo",
             rl_lr: float | None = None, anneal_steps: int = 0) -> dict[str, Any]:
    """One seed's SFT start, RL stage and control; the scores and times as one record."""
    torch.manual_seed(seed)
    val = gym.make_vec(env_id, num_envs=64, autoreset_mode="Disabled", split="validation")

    def score(policy: Any) -> float:
        return evaluate(policy, val, "all").mean_reward  # type: ignore[arg-type]

    if agent == "ppo":
        ppo = PPO(model, env_id, num_envs=num_envs, seed=seed, batch_size=num_envs, learning_rate=rl_lr or 3e-5,
                  baseline="group", temperature=0.5)
    else:
        ppo = ReST(model, env_id, num_envs=num_envs, seed=seed, batch_size=num_envs, learning_rate=rl_lr or 3e-5)
    sft_config = SFTConfig(steps=sft_steps, batch_size=32, learning_rate=sft_lr, seed=seed, labelled=labelled)
    start = time.perf_counter()
    sft = SFT(ppo.policy, ppo.env, sft_config)  # type: ignore[arg-type]
    sft.train_steps()
    if anneal_steps:  # part of the SFT start: steps at the control's lower learning rate
        SFT(ppo.policy, ppo.env, SFTConfig(steps=anneal_steps, batch_size=32, learning_rate=control_lr,  # type: ignore[arg-type]
                                           seed=seed + 2000, labelled=labelled)).train_steps()
    ppo.reference = ppo._copy_reference()
    sft_s = time.perf_counter() - start
    after_sft = score(ppo.policy)
    warm = copy.deepcopy(ppo.policy.state_dict())

    start = time.perf_counter()
    progress = _PPOProgress(updates, bar=False)
    ppo.learn(total_timesteps=10**12, callback=progress)
    rl_s = time.perf_counter() - start
    after_rl = score(ppo.policy)

    ppo.policy.load_state_dict(warm)  # the control: the same start, the same labels, the same time
    control = SFT(ppo.policy, ppo.env, SFTConfig(batch_size=32, learning_rate=control_lr, seed=seed + 1000,  # type: ignore[arg-type]
                                                 labelled=labelled))
    checks: list[tuple[int, float]] = []
    steps, spent = 0, 0.0
    for check in range(1, control_checks + 1):
        begin = time.perf_counter()
        while spent + (time.perf_counter() - begin) < rl_s * check / control_checks:
            control.train_steps(1)
            steps += 1
        spent += time.perf_counter() - begin
        checks.append((steps, score(ppo.policy)))
    best = max(s for _, s in checks)
    return {"agent": agent, "seed": seed, "labelled": labelled, "anneal_steps": anneal_steps,
            "after_sft": after_sft, "after_rl": after_rl,
            "rl_gain": after_rl - after_sft, "control_best": best, "control_gain": best - after_sft,
            "control_checks": checks, "sft_s": sft_s, "rl_s": rl_s}


def main(argv: list[str] | None = None) -> None:
    """The command line: one JSON record per seed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="TextGen-Translate-v0")
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--labelled", type=int, default=None, help="label budget (default: every train example)")
    parser.add_argument("--sft-steps", type=int, default=1000)
    parser.add_argument("--sft-lr", type=float, default=1e-3)
    parser.add_argument("--updates", type=int, default=100)
    parser.add_argument("--control-lr", type=float, default=3e-5)
    parser.add_argument("--anneal-steps", type=int, default=0,
                        help="SFT steps at --control-lr that end the SFT start (a settled warm start)")
    parser.add_argument("--control-checks", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--agent", choices=["ppo", "rest"], default="ppo", help="the RL stage")
    parser.add_argument("--rl-lr", type=float, default=None, help="the RL stage's learning rate (default 3e-5)")
    args = parser.parse_args(argv)
    for seed in args.seeds:
        result = run_seed(seed, args.env, args.model, args.labelled, args.sft_steps, args.sft_lr, args.updates,
                          args.control_lr, args.control_checks, args.num_envs, args.agent, args.rl_lr,
                          args.anneal_steps)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
