"""The ``textgym`` command."""

from __future__ import annotations

import time

import pytest

from agents.cli import build_parser, evaluate, main, train_kwargs
from textgym.error import InvalidArgumentError


def test_evaluate_reference_and_random():
    ref = evaluate("TextGen-Translate-v0", "reference", episodes=20)
    assert ref["mean_reward"] == 1.0 and ref["corpus"]["chrf"][0] == pytest.approx(100.0)
    assert ref["corpus"]["bleu"][1].startswith("nrefs:")
    rnd = evaluate("TextGen-Translate-v0", "random", episodes=20)
    assert rnd["mean_reward"] < 0.25 and rnd["corpus"]["bleu"][0] < 5


def test_main_prints_table_and_signatures(capsys):
    assert main(["evaluate", "--episodes", "5", "--env-kwarg", "target_lang=fr", "--env-kwarg", "difficulty=3"]) == 0
    out = capsys.readouterr().out
    assert "reference    1.000  100.0  100.0  100.0    0.0" in out and "chrf: nrefs:" in out
    assert main(["show", "--num", "2"]) == 0
    assert "[train/0]" in capsys.readouterr().out


@pytest.mark.parametrize(("env_id", "metrics"), [("TextGen-Dialogue-v0", ["chrf", "bleu", "slot"]),
                                                  ("TextGen-Code-v0", ["pass_rate", "pass"])])
def test_evaluate_reports_each_task_its_own_metrics(env_id, metrics):
    """``textgym evaluate --env`` on dialogue and code (they crashed on the translation-only columns)."""
    result = evaluate(env_id, "reference", episodes=6, num_examples={"train": 20, "validation": 6, "test": 6})
    assert list(result["corpus"]) == metrics and result["mean_reward"] == 1.0
    assert all(value == pytest.approx(100.0) for value, _ in result["corpus"].values())


def test_bad_cli_input(capsys):
    expected = r"Expected episodes to be an int in 1..500 \(the validation split's size\), got 0"
    with pytest.raises(InvalidArgumentError, match=expected):
        evaluate("TextGen-Translate-v0", "reference", episodes=0)
    # on the command line a user error is one line and status 2, as textgym-bench does (no traceback)
    assert main(["evaluate", "--env-kwarg", "difficulty"]) == 2
    assert capsys.readouterr().err == "textgym: error: Expected --env-kwarg KEY=VALUE, got 'difficulty'.\n"
    assert main(["show", "--env", "TextGen-Translate-v0", "--env-kwarg", "difficulty=9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("textgym: error: ") and "difficulty" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit):
        main(["evaluate", "--agents", "oracle"])


@pytest.mark.parametrize("command", ["evaluate", "train", "show"])
def test_every_option_has_help_and_shows_its_default(command, capsys, monkeypatch):
    from agents.cli import build_parser

    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps at the terminal width
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    assert "(default: TextGen-Translate-v0)" in text and "``" not in text and "(default: [])" not in text


def test_train_options_take_their_defaults_from_train():
    import inspect

    from agents.cli import train

    args = build_parser().parse_args(["train"])
    defaults = {name: p.default for name, p in inspect.signature(train).parameters.items()}
    assert train_kwargs(args) == {k: defaults[k] for k in train_kwargs(args)}
    assert build_parser().parse_args(["train", "--labelled", "all"]).labelled is None
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--labelled", "most"])


def test_train_and_evaluate_name_the_env_the_same_way():
    from agents.cli import build_parser

    for command in ("evaluate", "train", "show"):
        assert build_parser().parse_args([command, "--env", "TextGen-Code-v0"]).env == "TextGen-Code-v0"
        assert build_parser().parse_args([command, "--task", "TextGen-Code-v0"]).env == "TextGen-Code-v0"


@pytest.mark.slow
def test_train_runs_sft_then_ppo_and_saves(tmp_path, capsys):
    from agents.ppo import PPO

    out = tmp_path / "run"
    assert main(["train", "--num-envs", "8", "--sft-steps", "30", "--anneal-steps", "5", "--ppo-updates", "2",
                 "--control-checks", "2", "--out", str(out), "--env-kwarg", "difficulty=1",
                 "--env-kwarg", "max_new_tokens=12"]) == 0
    text = capsys.readouterr().out
    scores = [float(line.rsplit(":", 1)[1]) for line in text.splitlines() if line.startswith("validation score")]
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores[1] > scores[0]  # 30 SFT steps already beat the random start
    assert "SFT on the first 400 of the train references" in text and "after GRPO (2 updates" in text
    control = [line for line in text.splitlines() if line.startswith("SFT-only control")]
    assert len(control) == 1 and "best of 2 checks" in control[0]
    assert f"checkpoint: {out}" in text and PPO.load(out).num_timesteps > 0
    assert PPO.load(out).config.advantage_scale == "group"  # the checkpoint of a GRPO run


def test_ctrl_c_during_the_control_keeps_the_rl_model(tmp_path, monkeypatch, capsys):
    """The control runs after the RL checkpoint is written: interrupting it says so and loses nothing."""
    import agents.sft
    from agents.cli import train
    from agents.ppo import PPO

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(agents.sft.SFT, "train_for", interrupted)
    out = tmp_path / "run"
    result = train("TextGen-Translate-v0", num_envs=8, sft_steps=5, anneal_steps=0, ppo_updates=1, out=str(out),
                   labelled=16, control_checks=2, progress_bar=False, difficulty=1, max_new_tokens=8,
                   num_examples={"train": 64, "validation": 8, "test": 8})
    assert result["interrupted"] == "the control" and "after_rl" in result and "control_best" not in result
    assert capsys.readouterr().out.strip().endswith(f"interrupted during the SFT-only control: the GRPO model is "
                                                    f"saved in {out}")
    assert PPO.load(out).num_timesteps > 0


def test_train_rejects_bad_budgets():
    from agents.cli import train

    with pytest.raises(InvalidArgumentError, match=r"Expected sft_steps to be a positive int, got 0"):
        train("TextGen-Translate-v0", sft_steps=0)
    with pytest.raises(InvalidArgumentError, match=r"anneal_steps .* got -1"):
        train("TextGen-Translate-v0", anneal_steps=-1)
    with pytest.raises(InvalidArgumentError, match=r"Unknown agent 'a2c'. Accepted: \['ppo', 'grpo', 'rest'\]"):
        train("TextGen-Translate-v0", agent="a2c")


@pytest.mark.slow
def test_ctrl_c_in_train_stops_with_one_line_and_keeps_the_model(tmp_path):
    """Interrupted during SFT (after the first evaluation), ``textgym train`` saves what it trained and exits 130."""
    import signal
    import subprocess
    import sys

    from agents.ppo.ppo import PPO

    out = tmp_path / "run"
    command = [sys.executable, "-m", "agents", "train", "--sft-steps", "100000", "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    lines = [process.stdout.readline(), process.stdout.readline()]
    assert lines[1].startswith("validation score before SFT"), lines
    time.sleep(3)  # inside SFT
    process.send_signal(signal.SIGINT)
    rest, errors = process.communicate(timeout=120)
    assert process.returncode == 130
    assert rest.strip() == f"interrupted during SFT: saved the model as trained so far to {out}"
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors, errors[-2000:]
    assert "SFT:" in errors  # the progress bar
    PPO.load(out)  # a loadable checkpoint
