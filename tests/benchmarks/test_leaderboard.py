"""The leaderboard: suites, agents by name and by factory, evaluation, the resumable runner and its page."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import sacrebleu

from benchmarks.cli import main as bench_main
from benchmarks.leaderboard import (
    AgentContext,
    AgentProtocolError,
    Budget,
    ResultsFileError,
    TaskSpec,
    evaluate_agent,
    get_suite,
    load_factory,
    make_agent,
    read_results,
    run_leaderboard,
)
from benchmarks.leaderboard.report import mean_ci, paired, render_html, render_markdown, summarise, write_reports
from benchmarks.leaderboard.runner import RESULTS_FILE
from tests.data import shared_data
from textgym.error import DataFileNotFoundError, InvalidActionError, InvalidArgumentError, UnknownNameError

ROOT = Path(__file__).resolve().parents[2]
SMOKE = get_suite("textgym-v0-smoke")
OUTSIDE = "tests.benchmarks.outside_agents"


def smoke(*tasks: str):
    return SMOKE.select(tasks)


# -- suites ------------------------------------------------------------------------------------------------


def test_suites_are_registered_with_fixed_evaluation_and_budgets():
    default = get_suite("textgym-v0-default")
    assert [t.name for t in default.tasks] == ["translate", "dialogue", "code"]
    assert [t.primary for t in default.tasks] == ["chrf", "chrf", "pass@1"]
    assert default.task("dialogue").metrics == ("chrf", "slot", "bleu")
    assert all(t.budget.sft_tokens > 0 and t.budget.rl_tokens > 0 for t in default.tasks)
    real = get_suite("textgym-v0-real")
    assert {t.name for t in real.tasks} == {"multi30k-en-de", "multi30k-en-fr", "tatoeba-en-de", "tatoeba-en-fr",
                                            "chitchat", "humaneval", "mbpp-sanitized"}
    assert real.task("humaneval").training_kwargs["dataset"] == "mbpp-sanitized"  # HumanEval has no train split
    assert default.fingerprint() == get_suite("textgym-v0-default").fingerprint() != real.fingerprint()


def test_the_lowlabel_suite_supervises_on_400_examples_and_grpo_trains_on_every_prompt(monkeypatch):
    """textgym-v0-lowlabel: the sft agent and the RL agents' warm start read the first 400 references only; grpo
    then trains with the reward on every train prompt (here on 500-example splits and a tiny budget)."""
    from dataclasses import replace

    import agents.sft

    suite = get_suite("textgym-v0-lowlabel")
    assert [t.name for t in suite.tasks] == ["translate", "dialogue", "code"]
    assert suite.agent_settings["sft"]["labelled"] == 400 and "grpo" in suite.agent_settings
    small = replace(suite, tasks=tuple(replace(t, env_kwargs={"num_examples": {"train": 500, "validation": 8,
                                                                               "test": 8}, "max_new_tokens": 12},
                                               budget=Budget(sft_tokens=600, rl_tokens=300), eval_episodes=8,
                                               curve_episodes=8) for t in suite.tasks), eval_batch=8)
    context = AgentContext(small, small.task("translate"), seed=0)
    drawn = []
    real = agents.sft.sft_batch
    monkeypatch.setattr(agents.sft, "sft_batch", lambda envs, index: drawn.append(index) or real(envs, index))
    agent = make_agent("grpo", context)
    assert drawn and max(int(i.max()) for i in drawn) < 400  # the warm start saw the label budget only
    assert type(agent).__name__ == "GRPO" and agent.config.learning_rate == 2e-4
    agent.learn(300)
    assert agent.num_timesteps >= 300 and len(agent.env.examples) == 500  # RL draws from the whole split
    context.close()


def test_overrides_make_a_derived_suite_whose_results_do_not_mix():
    derived = SMOKE.with_overrides(eval_episodes=8, budget_scale=0.5)
    assert derived.name == "textgym-v0-smoke+eval8+budget0.5"
    assert derived.fingerprint() != SMOKE.fingerprint()
    assert derived.tasks[0].eval_episodes == 8 and derived.tasks[0].budget == Budget(1500, 300)
    assert SMOKE.with_overrides() is SMOKE
    assert smoke("code", "translate").tasks == (SMOKE.task("translate"), SMOKE.task("code"))  # the suite's order


def test_bad_suite_task_and_budget_names_are_clear_errors():
    typo = r"Unknown suite 'textgym-v0-defualt'. Did you mean 'textgym-v0-default'"
    with pytest.raises(UnknownNameError, match=typo):
        get_suite("textgym-v0-defualt")
    with pytest.raises(UnknownNameError, match=r"has no task 'translat'. Did you mean 'translate'"):
        SMOKE.select(["translat"])
    with pytest.raises(InvalidArgumentError, match=r"unknown metric\(s\) \['rouge'\]. Accepted: \['bleu'"):
        TaskSpec("t", "TextGen-Translate-v0", {}, ("rouge",))
    with pytest.raises(InvalidArgumentError, match=r"Expected Budget.rl_tokens to be an int >= 0, got -1"):
        Budget(10, -1)
    with pytest.raises(InvalidArgumentError, match=r"Expected eval_episodes to be a positive int, got 0"):
        SMOKE.with_overrides(eval_episodes=0)
    typo = dataclasses.replace(SMOKE, agent_settings={"sft": {"batch_sise": 8}})
    context = AgentContext(typo, typo.task("translate"), seed=0)
    unknown = r"unknown sft setting\(s\) \['batch_sise'\]. Accepted: \['batch_size'"
    with pytest.raises(InvalidArgumentError, match=unknown):
        context.sft_trainer(context.new_policy())
    context.close()


def test_a_data_dir_without_the_suite_files_names_what_is_missing(tmp_path):
    real = get_suite("textgym-v0-real")
    (tmp_path / "mbpp").mkdir()
    (tmp_path / "mbpp" / "sanitized-mbpp.json").write_text("[]")
    with pytest.raises(DataFileNotFoundError, match=r"'humaneval' needs humaneval/HumanEval.jsonl.gz under --data-dir"):
        real.task("humaneval").resolve(tmp_path)
    with pytest.raises(DataFileNotFoundError, match=r"no data folder was given .* Pass --data-dir DIR"):
        real.task("chitchat").resolve(None)
    resolved = real.task("mbpp-sanitized").resolve(tmp_path)
    assert resolved.env_kwargs["data_dir"] == f"{tmp_path}/mbpp"
    with pytest.raises(DataFileNotFoundError, match=r"'chitchat' needs chitchat/chitchat_2party_min6turns.jsonl.gz"):
        run_leaderboard(real.select(["chitchat"]), ["random"], [0], tmp_path / "out", data_dir=tmp_path)
    assert not (tmp_path / "out").exists()  # checked before anything is written


@pytest.mark.slow
def test_real_suite_runs_on_the_shared_data_with_reference_at_the_top(tmp_path):
    data = shared_data("multi30k").parent
    suite = get_suite("textgym-v0-real").with_overrides(eval_episodes=12)
    records = run_leaderboard(suite, ["random", "reference"], [0], tmp_path, data_dir=data, progress=False)
    reference = {r["task"]: r["scores"] for r in records if r["agent"] == "reference"}
    random = {r["task"]: r["scores"] for r in records if r["agent"] == "random"}
    assert set(reference) == {t.name for t in suite.tasks}
    for task, scores in reference.items():
        primary = suite.task(task).primary
        assert scores[primary] > 95, (task, scores)  # references within the caps score (near) full marks
        assert random[task][primary] < 20, (task, random[task])


# -- agents ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "error", "match"),
    [
        ("rnadom", UnknownNameError, r"Unknown agent 'rnadom'. Did you mean 'random'\? .* 'package.module:factory'"),
        ("no_such_module_xyz:make", UnknownNameError, r"cannot import module 'no_such_module_xyz'"),
        (f"{OUTSIDE}:first_tokn", UnknownNameError, r"has no 'first_tokn'. Did you mean 'first_token'"),
        (f"{OUTSIDE}:NOT_CALLABLE", AgentProtocolError, r"'NOT_CALLABLE' is a str, not a factory"),
    ],
)
def test_unknown_agents_and_non_factories(spec, error, match):
    with pytest.raises(error, match=match):
        load_factory(spec)


def test_agents_from_the_current_directory_and_from_a_file(tmp_path, monkeypatch):
    """The README's ``my_agents:a2c`` works from the folder holding my_agents.py, and a file path works anywhere."""
    (tmp_path / "my_agents_for_test.py").write_text("def first(context):\n    return 'made'\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert load_factory("my_agents_for_test:first")(None) == "made"
    monkeypatch.chdir(ROOT)
    assert load_factory(f"{tmp_path / 'my_agents_for_test.py'}:first")(None) == "made"
    with pytest.raises(UnknownNameError, match=r"cannot read '.*nowhere.py'"):
        load_factory(f"{tmp_path / 'nowhere.py'}:first")


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("no_predict", r"returned object, which has no predict method. Expected an agents.base.Agent"),
        ("bad_signature", r"_BadSignature.predict\(\) -> 'None' does not accept \(observation, deterministic=...\)"),
        ("two_arguments", r"the factory\(env: 'Any', seed: 'int'\) -> 'None' cannot be called with one AgentContext"),
    ],
)
def test_factories_that_break_the_protocol(name, match):
    context = AgentContext(SMOKE, SMOKE.task("translate"), seed=0)
    with pytest.raises(AgentProtocolError, match=match):
        make_agent(f"{OUTSIDE}:{name}", context)
    context.close()


# -- evaluation --------------------------------------------------------------------------------------------


def test_evaluation_scores_the_corpus_with_sacrebleu_itself():
    task = SMOKE.task("translate")
    context = AgentContext(SMOKE, task, seed=0)
    envs = context.eval_env
    examples = envs.examples[:20]
    reference = evaluate_agent(make_agent("reference", context), envs, 20, ["chrf", "bleu"])
    assert reference.responses == [ex.references[0] for ex in examples]
    assert reference.scores == pytest.approx({"chrf": 100.0, "bleu": 100.0}) and reference.mean_reward == 1.0
    random = evaluate_agent(make_agent("random", context), envs, 20, ["chrf", "bleu"])
    refs = [[ex.references[k] if k < len(ex.references) else None for ex in examples]
            for k in range(max(len(ex.references) for ex in examples))]
    assert random.scores["chrf"] == pytest.approx(sacrebleu.corpus_chrf(random.responses, refs).score, abs=1e-9)
    assert random.scores["bleu"] == pytest.approx(sacrebleu.corpus_bleu(random.responses, refs).score, abs=1e-9)
    assert random.signatures["chrf"].startswith("nrefs:var|case:mixed|eff:yes|nc:6|nw:0")
    assert 0 < random.scores["chrf"] < 30 and random.tokens > 20
    too_many = r"Expected episodes to be an int in 1..24 \(the test split's size\), got 25"
    with pytest.raises(InvalidArgumentError, match=too_many):
        evaluate_agent(make_agent("random", context), envs, 25, ["chrf"])
    with pytest.raises(InvalidArgumentError, match=r"Metric\(s\) \['pass@1'\] not available for the 'translate' task"):
        evaluate_agent(make_agent("random", context), envs, 4, ["pass@1"])
    context.close()


def test_evaluation_rejects_an_agent_that_answers_one_action_for_a_batch():
    class OneAction:
        def predict(self, observation, state=None, episode_start=None, deterministic=False):
            return np.int64(3), None

    context = AgentContext(SMOKE, SMOKE.task("translate"), seed=0)
    with pytest.raises(InvalidActionError, match=r"returned actions of shape \(\) for a batch of 16 observations"):
        evaluate_agent(OneAction(), context.eval_env, 4, ["chrf"])
    context.close()


# -- the runner --------------------------------------------------------------------------------------------


def test_runner_writes_one_record_per_cell_and_resumes_only_missing_cells(tmp_path):
    suite = smoke("translate", "code")
    agents = ["random", "reference", f"{OUTSIDE}:first_token"]
    records = run_leaderboard(suite, agents, [0], tmp_path, progress=False)
    assert len(records) == 6
    record = next(r for r in records if r["agent"] == "reference" and r["task"] == "code")
    assert record["scores"] == {"pass@1": 100.0} and record["signatures"]["pass@1"].startswith("pass@1|isolation:")
    for key in ("versions", "hardware", "git_commit", "timing", "tokens_per_s", "budget", "suite_fingerprint"):
        assert key in record
    assert record["versions"]["sacrebleu"] == sacrebleu.__version__ and record["hardware"]["cores"] >= 1
    first_token = next(r for r in records if r["agent"].endswith("first_token") and r["task"] == "translate")
    assert 0 < first_token["scores"]["chrf"] < 100
    before = (tmp_path / RESULTS_FILE).read_bytes()
    # the same command again: nothing to run, nothing rewritten
    assert len(run_leaderboard(suite, agents, [0], tmp_path, progress=False)) == 6
    assert (tmp_path / RESULTS_FILE).read_bytes() == before
    # one more seed: only the new cells run, after the old lines
    records = run_leaderboard(suite, agents, [0, 1], tmp_path, progress=False)
    assert len(records) == 12 and (tmp_path / RESULTS_FILE).read_bytes().startswith(before)
    assert sorted({r["seed"] for r in records}) == [0, 1]
    page = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 | reference | 100.0 ± 0.0 | 100.0 ± 0.0 | 2 |" in page  # two seeds: a CI


def test_third_party_sb3_model_is_trained_through_its_own_learn(tmp_path):
    records = run_leaderboard(smoke("translate"), [f"{OUTSIDE}:a2c"], [0], tmp_path, progress=False)
    (record,) = records
    assert record["budget"]["kind"] == "rl" and record["budget"]["trained_tokens"] >= 600
    assert record["curve"][0][0] == 0 and len(record["curve"]) == SMOKE.curve_points + 1
    assert record["curve"][-1][0] == record["budget"]["trained_tokens"]
    assert record["tokens_per_s"]["train"] > 0


def test_sb3_ppo_agent_trains_the_warm_started_transformer_with_stock_sb3(tmp_path):
    from stable_baselines3 import PPO as SB3PPO

    from benchmarks.leaderboard.runner import run_cell

    task = SMOKE.task("translate")
    context = AgentContext(SMOKE, task, seed=0, cache_dir=tmp_path)
    agent = make_agent("sb3-ppo", context)
    assert isinstance(agent, SB3PPO) and agent.warm_start_tokens == task.budget.sft_tokens
    warm = context.warm_start()  # loaded from the cache the factory filled
    import torch

    assert all(torch.equal(a, b) for a, b in zip(agent.policy.transformer.lm.parameters(), warm.lm.parameters(),
                                                 strict=True))
    context.close()
    record = run_cell(SMOKE, task, "sb3-ppo", 0, cache_dir=tmp_path)
    assert record["budget"]["trained_tokens"] >= task.budget.rl_tokens and record["curve"][0][0] == 3000
    assert 0 <= record["scores"]["chrf"] <= 100


def test_corrupt_or_foreign_results_stop_the_run_and_stay_untouched(tmp_path):
    suite = smoke("translate")
    run_leaderboard(suite, ["random"], [0], tmp_path, progress=False)
    results = tmp_path / RESULTS_FILE
    good = results.read_bytes()
    results.write_bytes(good + b'{"schema": "textgym-leaderboard/1", "agent": "ran\n')
    corrupt = results.read_bytes()
    with pytest.raises(ResultsFileError, match=r"results.jsonl:2 is not valid JSON .* left as it is"):
        run_leaderboard(suite, ["random", "reference"], [0], tmp_path, progress=False)
    assert results.read_bytes() == corrupt
    results.write_bytes(good.replace(b'"schema": "textgym-leaderboard/1"', b'"schema": "other/9"'))
    with pytest.raises(ResultsFileError, match=r"results.jsonl:1 is not a textgym leaderboard record"):
        run_leaderboard(suite, ["reference"], [0], tmp_path, progress=False)
    results.write_bytes(good)
    other = suite.with_overrides(eval_episodes=4)
    with pytest.raises(ResultsFileError, match=r"written for suite 'textgym-v0-smoke' .* but this run is suite "
                                               r"'textgym-v0-smoke\+eval4'"):
        run_leaderboard(other, ["reference"], [0], tmp_path, progress=False)
    assert results.read_bytes() == good
    with pytest.raises(InvalidArgumentError, match=r"Seeds repeat: \[0, 0\]"):
        run_leaderboard(suite, ["random"], [0, 0], tmp_path, progress=False)
    with pytest.raises(InvalidArgumentError, match=r"Expected one or more seeds, ints >= 0, got \[-1\]"):
        run_leaderboard(suite, ["random"], [-1], tmp_path, progress=False)


def test_the_same_command_with_the_same_seeds_gives_identical_scores(tmp_path):
    suite = smoke("translate")
    runs = [run_leaderboard(suite, ["random", "sft", "ppo"], [0], tmp_path / name, progress=False)
            for name in ("a", "b")]
    keep = ("agent", "task", "seed", "scores", "curve", "mean_reward", "budget")
    assert [{k: r[k] for k in keep} for r in runs[0]] == [{k: r[k] for k in keep} for r in runs[1]]
    sft = next(r for r in runs[0] if r["agent"] == "sft")
    ppo = next(r for r in runs[0] if r["agent"] == "ppo")
    assert sft["budget"]["trained_tokens"] >= 3000 and ppo["budget"]["warm_start_tokens"] == 3000
    assert ppo["curve"][0][0] == 3000  # PPO's curve starts after its warm start
    assert sft["curve"][0][0] == 0 and sft["curve"][-1][0] >= 3000


# ctrl-c (default run) checks the message and the resume; kill-9 (slow run) a resume after no clean-up at all
@pytest.mark.parametrize("how", [pytest.param(signal.SIGKILL, marks=pytest.mark.slow), signal.SIGINT],
                         ids=["kill-9", "ctrl-c"])
def test_a_killed_run_picks_up_where_it_stopped(tmp_path, how):
    command = [sys.executable, "-m", "benchmarks.cli", "leaderboard", "--suite", "textgym-v0-smoke", "--tasks",
               "translate", "dialogue", "--agents", "random", "reference", "greedy", "sft", "--seeds", "0",
               "--out", str(tmp_path), "--no-progress"]
    results = tmp_path / RESULTS_FILE
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not results.exists() or results.read_text().count("\n") < 2):
        time.sleep(0.05)
    process.send_signal(how)
    _, errors = process.communicate(timeout=60)
    if how == signal.SIGINT:  # one line, no traceback, and the way to resume
        assert process.returncode == 130 and "Traceback" not in errors, errors[-2000:]
        assert errors.strip().endswith("the same command resumes with the missing ones")
    finished = results.read_text().splitlines()
    assert 2 <= len(finished) < 8, "the run should have been killed part-way"
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = results.read_text().splitlines()
    assert lines[: len(finished)] == finished  # kept as written, not re-run
    cells = [(r["agent"], r["task"]) for r in map(json.loads, lines)]
    assert sorted(cells) == sorted({(a, t) for a in ("random", "reference", "greedy", "sft")
                                    for t in ("translate", "dialogue")})


# -- the page ----------------------------------------------------------------------------------------------


def _record(agent: str, task: str, seed: int, **scores: float) -> dict:
    """A results record with only what the page reads: ``scores`` by metric, the first one primary."""
    return {"agent": agent, "task": task, "seed": seed, "primary_metric": next(iter(scores)), "scores": scores,
            "signatures": dict.fromkeys(scores, "sig"), "budget": {"trained_tokens": 0},
            "tokens_per_s": {"train": None, "eval": 10.0}, "timing": {"wall_s": 1.0}, "curve": [], "suite": "s",
            "suite_fingerprint": "f", "eval_episodes": 3, "eval_split": "test", "env_id": "E"}


def test_mean_and_confidence_interval_and_ranks_with_ties():
    assert mean_ci([5.0]) == (5.0, None)
    mean, half = mean_ci([10.0, 12.0, 14.0, 16.0])
    assert mean == 13.0 and half == pytest.approx(3.182 * np.std([10, 12, 14, 16], ddof=1) / 2)

    def record(agent, seed, chrf):
        return _record(agent, "t", seed, chrf=chrf)

    records = [record("a", 0, 50.0), record("a", 1, 60.0), record("b", 0, 55.0), record("b", 1, 55.0),
               record("c", 0, 10.0)]
    rows = summarise(records)["t"]
    assert [(r["agent"], r["rank"]) for r in rows] == [("a", 1), ("b", 1), ("c", 3)]
    assert rows[0]["metrics"]["chrf"] == pytest.approx((55.0, 12.706 * np.std([50, 60], ddof=1) / np.sqrt(2)))
    markdown = render_markdown(records)
    assert "| 1 | a | 55.0 ± 63.5 | 2 |" in markdown and "| 3 | c | 10.0 | 1 |" in markdown


def test_agents_are_compared_with_sft_seed_by_seed_on_the_seeds_both_ran():
    def record(agent, task, seed, chrf, bleu):
        return _record(agent, task, seed, chrf=chrf, bleu=bleu)

    # seeds move sft and grpo together: their own intervals overlap, the per-seed difference does not
    sft = {0: 65.0, 1: 59.0, 2: 60.0, 3: 61.0}
    gain = {0: 5.0, 1: 4.0, 2: 6.0}
    records = [record("sft", "t", s, v, 30.0) for s, v in sft.items()]
    records += [record("grpo", "t", s, sft[s] + g, 30.0 - g) for s, g in gain.items()]
    records += [record("random", "t", 3, 10.0, 0.0), record("random", "u", 0, 1.0, 0.0)]
    own = {row["agent"]: row["metrics"]["chrf"] for row in summarise(records)["t"]}
    assert own["grpo"][0] - own["grpo"][1] < own["sft"][0] + own["sft"][1]  # the agents' intervals overlap

    rows = paired(records)
    assert list(rows) == ["t"]  # task u has no sft
    grpo, random = rows["t"]
    assert grpo["agent"] == "grpo" and grpo["seeds"] == [0, 1, 2] and grpo["ahead"] == 3  # sft's seed 3 unpaired
    assert grpo["differences"] == {"chrf": [5.0, 4.0, 6.0], "bleu": [-5.0, -4.0, -6.0]}
    assert grpo["metrics"]["chrf"] == pytest.approx((5.0, 4.303 * 1.0 / np.sqrt(3)))
    assert grpo["metrics"]["chrf"][0] - grpo["metrics"]["chrf"][1] > 0  # the paired interval clears zero
    assert random["seeds"] == [3] and random["metrics"]["chrf"] == (-51.0, None) and random["ahead"] == 0

    markdown = render_markdown(records)
    assert "## Against sft, seed by seed" in markdown
    assert "| grpo | +5.0 ± 2.5 | -5.0 ± 2.5 | 3 of 3 |" in markdown
    assert "| random | -51.0 | -30.0 | 0 of 1 |" in markdown
    assert "data-paired='t'" in render_html(records)
    assert paired([r for r in records if r["agent"] != "sft"]) == {}
    assert "Against sft" not in render_markdown([r for r in records if r["agent"] != "sft"])


def _artifacts() -> Path:
    """Where tests keep what a person may want to look at afterwards (``$TEXTGYM_TEST_ARTIFACTS``)."""
    folder = Path(os.environ.get("TEXTGYM_TEST_ARTIFACTS", ROOT / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _chromium() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and os.environ.get("TEXTGYM_REQUIRE_CHROMIUM"):
        pytest.fail("TEXTGYM_REQUIRE_CHROMIUM is set but chromium is not installed (.ci/run installs it)")
    return found


def _chromium_run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    return subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120)


def test_the_html_page_renders_in_headless_chromium_with_tables_and_images(tmp_path):
    chromium = _chromium()
    if chromium is None:
        pytest.skip("chromium not installed (Debian package 'chromium'; .ci/run installs it)")
    records = run_leaderboard(smoke("translate", "dialogue"), ["random", "reference", "sft"], [0, 1], tmp_path,
                              progress=False)
    page = tmp_path / "leaderboard.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # self-contained
    # sorted by the link: the translate table (index 1) by its 'agent' column (1), descending
    dom = _chromium_run(chromium, tmp_path / "profile", "--dump-dom", f"{page.as_uri()}#sort=1.1.desc").stdout
    assert 'data-images-loaded="2"' in dom  # learning curves and throughput chart decoded
    translate = dom.split("data-task=\"translate\"")[1].split("</table>")[0]
    assert translate.count("<tr>") == 4  # heading + three agents
    order = [agent for agent in ("sft", "reference", "random") if f"<td class=\"agent\">{agent}</td>" in translate]
    positions = [translate.index(f"<td class=\"agent\">{agent}</td>") for agent in order]
    assert order == ["sft", "reference", "random"] and positions == sorted(positions)
    assert 'data-order="desc"' in translate
    assert '<pre id="suite">' in dom and "textgym-v0-smoke" in dom and len(records) == 12
    shot = _artifacts() / "leaderboard.png"
    shot.unlink(missing_ok=True)
    _chromium_run(chromium, tmp_path / "profile", "--window-size=1200,2000", f"--screenshot={shot}", page.as_uri())
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[:2] == (2000, 1200) and pixels.std() > 0.05  # a page, not a blank image


def test_render_rewrites_the_page_from_the_results(tmp_path):
    run_leaderboard(smoke("code"), ["reference"], [0], tmp_path, progress=False, render=False)
    assert not (tmp_path / "leaderboard.md").exists()
    assert bench_main(["render", str(tmp_path)]) == 0
    assert "## code: pass@1 on 24 test episodes" in (tmp_path / "leaderboard.md").read_text()
    _, html = write_reports(tmp_path, read_results(tmp_path / RESULTS_FILE))
    assert html.read_text().count("<table") == 2  # overall and code


def test_cli_lists_suites_and_reports_bad_input(tmp_path, capsys):
    assert bench_main(["suites"]) == 0
    out = capsys.readouterr().out
    assert "textgym-v0-default (version 1" in out and "humaneval" in out
    assert bench_main(["leaderboard", "--suite", "nope", "--out", str(tmp_path)]) == 2
    assert "Unknown suite 'nope'" in capsys.readouterr().err
    assert bench_main(["leaderboard", "--suite", "textgym-v0-smoke", "--agents", "gredy", "--out", str(tmp_path)]) == 2
    assert "Did you mean 'greedy'" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    # --agent adds agents one by one (the spelling for third-party factories)
    out = tmp_path / "run"
    assert bench_main(["leaderboard", "--suite", "textgym-v0-smoke", "--tasks", "code", "--agents", "reference",
                       "--agent", f"{OUTSIDE}:first_token", "--out", str(out), "--no-progress"]) == 0
    assert sorted(r["agent"] for r in read_results(out / RESULTS_FILE)) == ["reference", f"{OUTSIDE}:first_token"]


@pytest.mark.slow
def test_default_suite_end_to_end_on_the_cpu():
    """The README's leaderboard command: five agents on the three embedded defaults, one seed.

    Its results folder is kept as a test artifact (``test-artifacts/default-suite``).
    """
    out = _artifacts() / "default-suite"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    records = run_leaderboard(get_suite("textgym-v0-default"), ["random", "reference", "greedy", "sft", "ppo"], [0],
                              out, progress=False)
    minutes = (time.perf_counter() - start) / 60
    assert len(records) == 15
    scores = {(r["agent"], r["task"]): r["scores"][r["primary_metric"]] for r in records}
    for task in ("translate", "dialogue", "code"):
        assert scores[("reference", task)] == pytest.approx(100.0)
    assert scores[("sft", "translate")] > scores[("greedy", "translate")] + 20
    assert scores[("sft", "dialogue")] > scores[("random", "dialogue")] + 20
    assert (out / "leaderboard.html").stat().st_size > 10_000
    print(f"default suite: {minutes:.1f} min; " + ", ".join(f"{a}/{t} {s:.1f}" for (a, t), s in scores.items()))


def test_dataclass_fields_of_the_record_match_the_page(tmp_path):
    # every metric of a task's spec shows up in its table and in the record
    run_leaderboard(smoke("dialogue"), ["reference"], [0], tmp_path, progress=False)
    (record,) = read_results(tmp_path / RESULTS_FILE)
    assert list(record["scores"]) == list(SMOKE.task("dialogue").metrics)
    assert "| rank | agent | chrF | slot acc. |" in (tmp_path / "leaderboard.md").read_text()
    assert dataclasses.asdict(SMOKE.task("dialogue").budget) == {k: record["budget"][k] for k in ("sft_tokens",
                                                                                                     "rl_tokens")}


def test_the_sft_agent_and_the_warm_start_train_identical_weights(tmp_path):
    """So ppo may load the sft agent's model from the cache (and vice versa) without changing any score."""
    import torch

    from benchmarks.leaderboard.runner import run_cell

    task = SMOKE.task("dialogue")
    run_cell(SMOKE, task, "sft", 0, cache_dir=tmp_path / "by-sft")  # trained in chunks, evaluated between them
    (cached,) = (tmp_path / "by-sft").iterdir()
    context = AgentContext(SMOKE, task, seed=0)  # no cache: trains the warm start in one go
    fresh = context.warm_start()
    from safetensors.torch import load_file

    saved = load_file(str(cached))
    assert all(torch.equal(saved[name], tensor) for name, tensor in fresh.state_dict().items() if name in saved)
    assert len(saved) > 10
    context.close()


def test_each_agent_has_one_colour_in_every_plot_and_the_rl_stage_its_own_scale():
    """Issue 15, point 4: sft was blue in one panel and orange in the next; PPO's change was flat on the SFT scale."""
    from matplotlib.colors import to_hex

    from benchmarks.leaderboard.report import agent_colours, curves_figure

    def row(agent, curve, primary="chrf"):
        return {"agent": agent, "curves": [curve] if curve else [], "primary": primary, "train_tps": 1.0,
                "eval_tps": 2.0}

    tables = {"translate": [row("sft", [[0, 10.0], [3000, 60.0]]), row("ppo", [[3000, 60.0], [3600, 61.5]]),
                            row("random", None)],
              "dialogue": [row("random", [[0, 5.0], [600, 5.0]]), row("sft", [[0, 8.0], [3000, 40.0]])]}
    colours = agent_colours(tables)
    assert len(set(colours.values())) == 3
    figure = curves_figure(tables)
    main, zooms = figure.axes[0::2], figure.axes[1::2]  # per task: all curves, then the zoom below
    assert len(zooms) == 2
    for axes in figure.axes:
        for line in axes.get_lines():
            assert to_hex(line.get_color()) == colours[line.get_label()], (axes.get_title(), line.get_label())
    assert [line.get_label() for line in zooms[0].get_lines()] == ["ppo"]  # only curves after a warm start
    low, high = zooms[0].get_ylim()
    assert high - low < 5 < main[0].get_ylim()[1] - main[0].get_ylim()[0]  # its own scale: 60 -> 61.5 visible
    assert curves_figure({"translate": [row("sft", [[0, 1.0], [10, 2.0]])]}).axes.__len__() == 1  # no RL: one row
