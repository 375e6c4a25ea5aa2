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
import copy
import inspect
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

import textgym  # noqa: F401 - registers the ids
from agents.ppo.callbacks import BaseCallback
from agents.ppo.config import BASELINES
from textgym.error import InvalidArgumentError, TextGymError, check_int, suggest

__all__ = ["HelpFormatter", "add_command", "build_parser", "evaluate", "main", "run_command", "train", "train_kwargs"]

AGENTS = ("random", "reference")
TRAIN_AGENTS = ("ppo", "grpo", "rest")  # the RL stage of textgym train
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


def train(env_id: str, model: str = "tiny", num_envs: int = 32, sft_steps: int = 1000, ppo_updates: int = 600,
          out: str = "textgym-run", seed: int = 0, learning_rate: float = 1e-4, baseline: str = "group",
          temperature: float = 0.5, labelled: int | None = 400, anneal_steps: int = 400,
          control_checks: int | None = None,
          agent: str = "grpo", sft_learning_rate: float = 1e-3, control_learning_rate: float = 3e-5,
          progress_bar: bool = True,
          **env_kwargs: Any) -> dict[str, Any]:
    """SFT then RL on ``env_id``; returns the validation scores, the stages' seconds and the checkpoint folder.

    SFT: ``sft_steps`` steps (batch 32, lr ``sft_learning_rate``) on the references of the train split's first
    ``labelled`` examples (None: all), then ``anneal_steps`` more at ``control_learning_rate`` (a settled start: the
    RL stage is not credited with what a lower learning rate alone gives). RL: ``ppo_updates`` updates of
    ``agent`` (``"ppo"``, ``"grpo"`` for :class:`agents.grpo.GRPO`, ``"rest"`` for :class:`agents.rest.ReST`) on every
    train prompt. The defaults are the measured best for the greedy score against the control
    (``benchmarks/RESULTS.md``): 400 labelled examples (2 % of the default split), 400 annealing steps, then 600
    GRPO updates at lr 1e-4, each prompt sampled 4 times at temperature 0.5 (with matching log-probs); PPO's
    ``baseline`` is the leave-one-out one.

    ``control_checks`` > 0 adds the supervised control (None: 6 in one process, none under torchrun, where it says
    so): from the same SFT start, more SFT on the same labelled examples at ``control_learning_rate`` for the RL
    stage's wall-clock seconds, scored at ``control_checks`` evenly spaced points; the best counts (early stopping on
    validation, which favours the control). It runs after the RL model is saved, which Ctrl-C during it keeps.
    """
    from agents.evaluation import evaluate as play
    from agents.sft import SFT, SFTConfig

    def evaluate_greedy(label: str) -> float:  # under torchrun rank 0 evaluates (and prints); the others train
        if not rl.parallel.is_main:
            return float("nan")
        bar = label if progress_bar else False
        return play(rl.policy, val, "all", progress_bar=bar).mean_reward  # type: ignore[arg-type]

    def say(text: str) -> None:
        if rl.parallel.is_main:
            print(text, flush=True)

    for name, value in (("num_envs", num_envs), ("sft_steps", sft_steps), ("ppo_updates", ppo_updates)):
        check_int(name, value)
    check_int("anneal_steps", anneal_steps, minimum=0)
    if agent not in TRAIN_AGENTS:
        raise InvalidArgumentError(f"Unknown agent {agent!r}. Accepted: {list(TRAIN_AGENTS)}.")
    val = gym.make_vec(env_id, num_envs=64, autoreset_mode="Disabled", split="validation", **env_kwargs)
    common: dict[str, Any] = {"num_envs": num_envs, "seed": seed, "env_kwargs": env_kwargs,
                              "batch_size": num_envs, "learning_rate": learning_rate, "temperature": temperature}
    rl = _rl_agent(agent, model, env_id, baseline, common)
    control_checks = _control_checks(control_checks, rl.parallel.world_size, say)
    num_val = len(val.unwrapped.examples)  # type: ignore[attr-defined]
    labels = "every" if labelled is None else f"the first {labelled} of the"
    say(f"scoring greedy decoding: mean episode reward over all {num_val} validation examples; SFT on {labels} "
        "train references, RL on every train prompt")
    scores: dict[str, Any] = {"checkpoint": out, "seed": seed, "agent": agent, "labelled": labelled}
    stage = "the first evaluation"
    bar = progress_bar and rl.parallel.is_main
    try:
        scores["before_sft"] = evaluate_greedy("validation (before SFT)")
        say(f"validation score before SFT: {scores['before_sft']:.4f}")
        stage = "SFT"
        start = time.perf_counter()
        rl.warm_start(SFTConfig(steps=sft_steps, batch_size=32, learning_rate=sft_learning_rate, seed=seed,
                                labelled=labelled), progress_bar="SFT" if bar else False)
        if anneal_steps:
            rl.warm_start(SFTConfig(steps=anneal_steps, batch_size=32, learning_rate=control_learning_rate,
                                    seed=seed + 2000, labelled=labelled),
                          progress_bar="SFT (annealing)" if bar else False)
        scores["sft_s"] = time.perf_counter() - start
        stage = "the evaluation after SFT"
        scores["after_sft"] = evaluate_greedy("validation (after SFT)")
        say(f"validation score after SFT ({sft_steps} + {anneal_steps} steps, {scores['sft_s']:.0f} s): "
            f"{scores['after_sft']:.4f}")
        warm = copy.deepcopy(rl.policy.state_dict()) if control_checks else None
        stage = rl_name = {"ppo": "PPO", "grpo": "GRPO", "rest": "ReST"}[agent]
        progress = _UpdateProgress(ppo_updates, bar=bar, label=rl_name)
        start = time.perf_counter()
        try:
            rl.learn(total_timesteps=10**12, callback=progress)
        finally:
            progress.close()
        scores["rl_s"] = time.perf_counter() - start
        stage = "the evaluation after RL"
        scores["after_rl"] = evaluate_greedy("validation (after RL)")
        scores["rl_gain"] = scores["after_rl"] - scores["after_sft"]
    except KeyboardInterrupt:
        rl.save(out)
        say(f"\ninterrupted during {stage}: saved the model as trained so far to {out}")
        return {**scores, "interrupted": stage}
    rl.save(out)
    say(f"validation score after {rl_name} ({ppo_updates} updates, {scores['rl_s']:.0f} s, "
        f"{scores['rl_gain']:+.4f}): {scores['after_rl']:.4f}")
    say(f"checkpoint: {out}")
    if warm is not None:
        rl.policy.load_state_dict(warm)  # the checkpoint is saved: the policy object now trains the control
        control = SFT(rl.policy, rl.env, SFTConfig(batch_size=32, learning_rate=control_learning_rate,  # type: ignore[arg-type]
                                                   seed=seed + 1000, labelled=labelled))
        try:
            checks = control.train_for(scores["rl_s"], control_checks,
                                       lambda: evaluate_greedy("validation (control)"))
        except KeyboardInterrupt:
            say(f"\ninterrupted during the SFT-only control: the {rl_name} model is saved in {out}")
            return {**scores, "interrupted": "the control"}
        scores["control_checks"] = checks
        scores["control_best"] = max(score for _, score in checks)
        scores["control_gain"] = scores["control_best"] - scores["after_sft"]
        say(f"SFT-only control (same start and labels, {scores['rl_s']:.0f} s: {checks[-1][0]} steps), best of "
            f"{control_checks} checks: {scores['control_best']:.4f} ({scores['control_gain']:+.4f})")
    return scores


def _control_checks(control_checks: int | None, world_size: int, say: Callable[[str], None]) -> int:
    """The control's checks: as asked (refused under torchrun), or with None 6 in one process and none under it."""
    if control_checks is None:
        if world_size > 1:
            say("the SFT-only control runs in one process: not run under torchrun")
        return 6 if world_size == 1 else 0
    check_int("control_checks", control_checks, minimum=0)
    if control_checks and world_size > 1:
        raise InvalidArgumentError(f"control_checks={control_checks} runs in one process only; under torchrun "
                                   f"(world size {world_size}) pass control_checks=0.")
    return control_checks


def _rl_agent(agent: str, model: str, env_id: str, baseline: str, common: dict[str, Any]) -> Any:
    """``textgym train``'s RL stage: PPO with ``baseline``; GRPO and ReST with their own (each prompt 4 times)."""
    from agents.grpo import GRPO
    from agents.ppo.ppo import PPO
    from agents.rest import ReST

    if agent == "ppo":
        return PPO(model, env_id, baseline=baseline, **common)
    return (GRPO if agent == "grpo" else ReST)(model, env_id, **common)


class _UpdateProgress(BaseCallback):
    """A tqdm bar over RL updates (labelled ``label``) that stops training after ``updates``."""

    def __init__(self, updates: int, bar: bool = True, label: str = "PPO") -> None:
        from agents.evaluation import progress

        super().__init__()
        self.updates = updates
        self.bar = progress(bar, updates, label, "update")

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


def build_parser() -> argparse.ArgumentParser:
    """The ``textgym`` command line."""
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
    tr = command("train", "warm-start a small transformer on a few references, then train it with RL on every prompt")
    default = {name: p.default for name, p in inspect.signature(train).parameters.items()}  # one home: train()
    tr.add_argument("--model", default=default["model"], help="tiny, small, or a Hugging Face model name or folder")
    tr.add_argument("--agent", default=default["agent"], choices=TRAIN_AGENTS,
                    help="the RL stage: grpo, ppo, or rest (reward-filtered self-training)")
    tr.add_argument("--num-envs", type=int, default=default["num_envs"], help="episodes per RL update")
    tr.add_argument("--labelled", type=_label_budget, default=default["labelled"],
                    help="label budget: SFT reads the references of the train split's first N examples only (RL "
                         "still plays every train prompt); 'all': every reference")
    tr.add_argument("--sft-steps", type=int, default=default["sft_steps"],
                    help="supervised warm-start steps (batch 32)")
    tr.add_argument("--sft-learning-rate", type=float, default=default["sft_learning_rate"],
                    help="the warm start's learning rate")
    tr.add_argument("--anneal-steps", type=int, default=default["anneal_steps"],
                    help="SFT steps at --control-learning-rate that end the warm start (a settled start)")
    tr.add_argument("--ppo-updates", type=int, default=default["ppo_updates"], help="RL updates after the warm start")
    tr.add_argument("--learning-rate", type=float, default=default["learning_rate"],
                    help="the RL stage's learning rate")
    tr.add_argument("--baseline", default=default["baseline"], choices=BASELINES,
                    help="with --agent ppo: its advantage baseline (group: leave-one-out over 4 samples an example)")
    tr.add_argument("--temperature", type=float, default=default["temperature"],
                    help="the RL stage's sampling temperature")
    tr.add_argument("--control-checks", type=int, default=default["control_checks"],
                    help="the SFT-only control (same start, same labels, the RL stage's seconds): its best of N "
                         "validation checks; 0: no control; default: 6 in one process, none under torchrun")
    tr.add_argument("--control-learning-rate", type=float, default=default["control_learning_rate"],
                    help="learning rate of the annealing steps and of the control")
    tr.add_argument("--out", default=default["out"], help="checkpoint folder (load it with agents.PPO.load)")
    tr.add_argument("--seed", type=int, default=default["seed"], help="seed of the model, the warm start and RL")
    show = command("show", "print examples of a split")
    show.add_argument("--split", default="train", help="train, validation or test")
    show.add_argument("--num", type=int, default=5, help="how many examples")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``textgym`` console script; a :class:`TextGymError` ends with one line and status 2."""
    args = build_parser().parse_args(argv)
    return run_command("textgym", lambda: _run(args))


def _label_budget(text: str) -> int | None:
    """``--labelled``: a count, or ``all`` (None)."""
    if text == "all":
        return None
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a number of examples or 'all', got {text!r}")
    return int(text)


def train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`train`'s keywords from parsed ``textgym train`` options, the ``--env-kwarg`` ones included."""
    return {"model": args.model, "num_envs": args.num_envs, "sft_steps": args.sft_steps,
            "ppo_updates": args.ppo_updates, "out": args.out, "seed": args.seed, "learning_rate": args.learning_rate,
            "baseline": args.baseline, "temperature": args.temperature, "labelled": args.labelled,
            "anneal_steps": args.anneal_steps, "control_checks": args.control_checks, "agent": args.agent,
            "sft_learning_rate": args.sft_learning_rate, "control_learning_rate": args.control_learning_rate,
            **_parse_env_kwargs(args.env_kwarg)}


def _run(args: argparse.Namespace) -> int:
    env_kwargs = _parse_env_kwargs(args.env_kwarg)
    if args.command == "train":
        result = train(args.env, **train_kwargs(args))
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
