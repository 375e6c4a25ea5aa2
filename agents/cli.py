"""The ``textgym`` command: evaluate baseline agents, show examples, train a model (SFT then PPO).

``textgym evaluate`` plays whole episodes with each agent on a split and prints the task's corpus metrics
(sacreBLEU figures with their signatures, pass@1, ...), the mean episode reward and env steps per second.
``textgym train`` warm-starts a small transformer on the references, then trains it with PPO, and prints the
validation score before SFT, after SFT and after PPO, and where the checkpoint went.

It lives with the agents (the console script ``textgym`` points here; ``python -m agents`` runs it too), so the
``textgym`` package, the environment library, imports nothing from ``agents``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

import textgym  # noqa: F401 - registers the ids
from agents.ppo.callbacks import BaseCallback
from agents.ppo.config import BASELINES
from textgym.error import InvalidArgumentError, TextGymError, check_int, suggest

__all__ = ["HelpFormatter", "add_command", "evaluate", "main", "run_command", "train"]

AGENTS = ("random", "reference")
_LABELS = {"bleu": "BLEU", "chrf": "chrF", "chrf++": "chrF++", "ter": "TER"}


def _make_agent(name: str, envs: Any, seed: int) -> Any:
    from agents import RandomAgent, ReferenceAgent

    if name == "random":
        return RandomAgent(envs.single_action_space, seed=seed)
    if name == "reference":
        return ReferenceAgent(envs)
    raise InvalidArgumentError(f"Unknown agent {name!r}. {suggest(name, AGENTS)}")


def evaluate(env_id: str, agent_name: str, episodes: int, split: str = "validation", seed: int = 0,
             **env_kwargs: Any) -> dict[str, Any]:
    """Play the first ``episodes`` examples of ``split`` and return every corpus metric of the task.

    Returns:
        ``{"agent", "episodes", "mean_reward", "steps_per_second", "corpus": {metric: (value, signature)}}``.
    """
    from agents.evaluation import evaluate as play

    num_envs = min(max(episodes, 1), 64) if isinstance(episodes, int) else 64
    envs = gym.make_vec(env_id, num_envs=num_envs, autoreset_mode="Disabled", split=split, **env_kwargs)
    try:
        agent = _make_agent(agent_name, envs, seed)
        metrics = list(envs.unwrapped.task.metric_scorers)  # type: ignore[attr-defined]
        result = play(agent, envs, episodes, metrics, seed=seed)  # type: ignore[arg-type]
    finally:
        envs.close()
    return {
        "agent": agent_name,
        "episodes": result.episodes,
        "mean_reward": result.mean_reward,
        "steps_per_second": result.tokens / result.seconds,
        "corpus": {name: (result.scores[name], result.signatures[name]) for name in metrics},
    }


def train(env_id: str, model: str = "tiny", num_envs: int = 32, sft_steps: int = 1000, ppo_updates: int = 100,
          out: str = "textgym-run", seed: int = 0, learning_rate: float = 3e-5, baseline: str = "group",
          temperature: float = 0.5, **env_kwargs: Any) -> dict[str, Any]:
    """SFT then PPO on ``env_id``; returns the validation scores and the checkpoint folder.

    PPO's defaults here are the measured best for the greedy score (``benchmarks/RESULTS.md``): the leave-one-out
    baseline (each example played 4 times a rollout) and sampling at temperature 0.5, with matching log-probs.
    """
    from agents.evaluation import evaluate as play
    from agents.ppo.ppo import PPO
    from agents.sft import SFTConfig

    def evaluate_greedy(label: str) -> float:  # under torchrun rank 0 evaluates (and prints); the others train
        if not ppo.parallel.is_main:
            return float("nan")
        return play(ppo.policy, val, "all", progress_bar=label).mean_reward  # type: ignore[arg-type]

    def say(text: str) -> None:
        if ppo.parallel.is_main:
            print(text, flush=True)

    for name, value in (("num_envs", num_envs), ("sft_steps", sft_steps), ("ppo_updates", ppo_updates)):
        check_int(name, value)
    val = gym.make_vec(env_id, num_envs=64, autoreset_mode="Disabled", split="validation", **env_kwargs)
    ppo = PPO(model, env_id, num_envs=num_envs, seed=seed, env_kwargs=env_kwargs, batch_size=num_envs,
              learning_rate=learning_rate, baseline=baseline, temperature=temperature)  # group: PPOConfig's 4
    num_val = len(val.unwrapped.examples)  # type: ignore[attr-defined]
    say(f"scoring greedy decoding: mean episode reward over all {num_val} validation examples")
    scores: dict[str, Any] = {"checkpoint": out}
    stage = "the first evaluation"
    try:
        scores["before_sft"] = evaluate_greedy("validation (before SFT)")
        say(f"validation score before SFT: {scores['before_sft']:.4f}")
        stage = "SFT"
        ppo.warm_start(SFTConfig(steps=sft_steps, batch_size=32, seed=seed), progress_bar="SFT" if ppo.parallel.is_main
                       else False)
        stage = "the evaluation after SFT"
        scores["after_sft"] = evaluate_greedy("validation (after SFT)")
        say(f"validation score after SFT ({sft_steps} steps): {scores['after_sft']:.4f}")
        stage = "PPO"
        progress = _PPOProgress(ppo_updates, bar=ppo.parallel.is_main)
        try:
            ppo.learn(total_timesteps=10**12, callback=progress)
        finally:
            progress.close()
        stage = "the evaluation after PPO"
        scores["after_ppo"] = evaluate_greedy("validation (after PPO)")
    except KeyboardInterrupt:
        ppo.save(out)
        say(f"\ninterrupted during {stage}: saved the model as trained so far to {out}")
        return {**scores, "interrupted": stage}
    ppo.save(out)
    say(f"validation score after PPO ({ppo_updates} updates): {scores['after_ppo']:.4f}")
    say(f"checkpoint: {out}")
    return scores


class _PPOProgress(BaseCallback):
    """A tqdm bar over PPO updates that stops training after ``updates``."""

    def __init__(self, updates: int, bar: bool = True) -> None:
        from agents.evaluation import progress

        super().__init__()
        self.updates = updates
        self.bar = progress(bar, updates, "PPO", "update")

    def on_update(self, stats: dict[str, float]) -> bool:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(reward=f"{stats['rollout/ep_rew_mean']:.3f}", refresh=False)
        return self.n_calls < self.updates

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _parse_env_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidArgumentError(f"Expected --env-kwarg KEY=VALUE, got {pair!r}.")
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def run_command(prog: str, command: Callable[[], int], interrupted: Callable[[], str] = str) -> int:
    """Run one CLI command: a user error ends with one ``prog: error:`` line and status 2, Ctrl-C with status 130.

    Shared by ``textgym`` and ``textgym-bench``. ``interrupted()`` adds to the one Ctrl-C line (where results are).
    """
    try:
        return command()
    except TextGymError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\n{prog}: interrupted{interrupted()}", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports it


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's defaults in the help, except for options whose default is nothing (None, [], False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


def add_command(subparsers: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` shows ``help`` as its description and every option's default."""
    return subparsers.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".",
                                 formatter_class=HelpFormatter)


def _parser() -> argparse.ArgumentParser:
    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub_parser = add_command(sub, name, help)
        sub_parser.add_argument("--env", "--task", dest="env", default="TextGen-Translate-v0",
                                help="environment id (--task is the same option)")
        sub_parser.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                                help="environment/task keyword, repeatable: --env-kwarg difficulty=4 "
                                     "--env-kwarg target_lang=fr (integers are read as int)")
        return sub_parser

    parser = argparse.ArgumentParser(prog="textgym", description=__doc__.splitlines()[0].replace("``", ""),
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = command("evaluate", "play episodes with baseline agents and print the task's corpus metrics")
    ev.add_argument("--agents", nargs="+", default=list(AGENTS), choices=AGENTS, help="agents to play")
    ev.add_argument("--episodes", type=int, default=200, help="the first N examples of the split")
    ev.add_argument("--split", default="validation", help="train, validation or test")
    ev.add_argument("--seed", type=int, default=0, help="seed of the random agent")
    tr = command("train", "warm-start a small transformer on the references, then train it with PPO")
    tr.add_argument("--model", default="tiny", help="tiny, small, or a Hugging Face model name or folder")
    tr.add_argument("--num-envs", type=int, default=32, help="episodes per PPO update")
    tr.add_argument("--sft-steps", type=int, default=1000, help="supervised warm-start steps (batch 32)")
    tr.add_argument("--ppo-updates", type=int, default=100, help="PPO updates after the warm start")
    tr.add_argument("--learning-rate", type=float, default=3e-5, help="PPO's learning rate")
    tr.add_argument("--baseline", default="group", choices=BASELINES,
                    help="PPO's advantage baseline (group: leave-one-out over 4 samples of each example)")
    tr.add_argument("--temperature", type=float, default=0.5, help="PPO's sampling temperature")
    tr.add_argument("--out", default="textgym-run", help="checkpoint folder (load it with agents.PPO.load)")
    tr.add_argument("--seed", type=int, default=0, help="seed of the model, the warm start and PPO")
    show = command("show", "print examples of a split")
    show.add_argument("--split", default="train", help="train, validation or test")
    show.add_argument("--num", type=int, default=5, help="how many examples")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script; a :class:`TextGymError` ends with one line and status 2."""
    args = _parser().parse_args(argv)
    return run_command("textgym", lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    env_kwargs = _parse_env_kwargs(args.env_kwarg)
    if args.command == "train":
        result = train(args.env, args.model, args.num_envs, args.sft_steps, args.ppo_updates, args.out, args.seed,
                       args.learning_rate, args.baseline, args.temperature, **env_kwargs)
        return 130 if "interrupted" in result else 0  # 128 + SIGINT, as a shell reports it
    if args.command == "show":
        env = gym.make(args.env, split=args.split, **env_kwargs)
        for ex in env.unwrapped.task.examples(args.split)[: args.num]:  # type: ignore[attr-defined]
            print(f"[{ex.id}] {ex.source}")
            for ref in ex.references:
                print(f"    -> {ref}")
        return 0
    print(f"{args.env} {env_kwargs or ''} split={args.split} episodes={args.episodes}")
    signatures: dict[str, str] = {}
    for i, name in enumerate(args.agents):
        result = evaluate(args.env, name, args.episodes, args.split, args.seed, **env_kwargs)
        corpus = result["corpus"]  # the task's own metrics: sacreBLEU's for translation, pass@1 for code, ...
        if i == 0:
            print(f"{'agent':<10} {'reward':>7} " + " ".join(f"{_LABELS.get(m, m):>6}" for m in corpus)
                  + f" {'steps/s':>9}")
        signatures = {k: v[1] for k, v in corpus.items()}
        print(f"{name:<10} {result['mean_reward']:>7.3f} " + " ".join(f"{v[0]:>6.1f}" for v in corpus.values())
              + f" {result['steps_per_second']:>9.0f}")
    for metric, signature in signatures.items():
        print(f"{metric}: {signature}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
