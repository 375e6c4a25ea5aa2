"""The host scoring pool: parallel scores equal serial ones, thresholds, failures, and ``Task.score`` overrides."""

from __future__ import annotations

import random
import warnings

import gymnasium as gym
import numpy as np
import pytest

import textgym
from textgym.error import TextGymError
from textgym.scorers.parallel import ParallelScorer


@pytest.mark.slow
def test_a_failed_scoring_worker_is_reported_and_its_share_scored_here():
    from textgym.scorers import make_scorer
    from textgym.tasks import make_task

    examples = list(make_task("translate", difficulty=3).examples("validation")[:12])
    texts = [ex.references[0] for ex in examples]
    scorer = make_scorer("chrf")
    parallel = ParallelScorer(scorer, num_workers=1, min_batch=2, min_chars=0)
    try:
        process, = parallel.start()
        process.kill()
        process.wait()
        with pytest.warns(RuntimeWarning, match="scoring worker failed .*worker process is gone"):
            scores = parallel.score(texts, examples)
        np.testing.assert_array_equal(scores, scorer.score(texts, examples))
        np.testing.assert_array_equal(parallel.score(texts, examples), scores)  # restarted
    finally:
        parallel.close()


def test_workers_that_cannot_start_are_reported_once_and_scoring_stays_here(monkeypatch):
    import sys

    from textgym.scorers import make_scorer
    from textgym.tasks import make_task

    examples = list(make_task("translate", difficulty=3).examples("validation")[:12])
    texts = [ex.references[0][::-1] for ex in examples]
    scorer = make_scorer("chrf")
    parallel = ParallelScorer(scorer, num_workers=2, min_batch=2, min_chars=0)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    with pytest.raises(TextGymError, match=r"scoring worker \(/nonexistent/python3 -m .*could not be started: "
                                           r"FileNotFoundError.*Pass scoring_workers=0"):
        parallel.start()  # asked for on purpose: an error
    assert parallel._workers == []
    with pytest.warns(RuntimeWarning, match="could not be started.*Scoring in this process from now on"):
        scores = parallel.score(texts, examples)  # on the way: a warning, and the scores all the same
    np.testing.assert_array_equal(scores, scorer.score(texts, examples))
    assert not parallel.parallel
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reported once
        np.testing.assert_array_equal(parallel.score(texts, examples), scores)


def test_a_script_without_a_main_guard_scores_in_parallel_and_runs_once(tmp_path):
    """Worker processes must not re-run the user's script (``spawn`` would re-import ``__main__``)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "train.py"
    script.write_text(
        "import torch, textgym, gymnasium as gym\n"
        "print('top level ran', flush=True)\n"
        "envs = gym.make_vec('TextGen-Translate-v0', num_envs=16, max_new_tokens=40, scoring_workers=1,\n"
        "                    num_examples={'train': 30, 'validation': 10, 'test': 10})\n"
        "envs._scorer.min_batch, envs._scorer.min_chars = 2, 0  # split even this small batch\n"
        "envs.reset(seed=0)\n"
        "for _ in range(40):\n"
        "    _, rewards, terminated, _, infos = envs.step(torch.full((16,), 70))\n"
        "assert terminated.all() and envs._scorer._workers, 'rows ended and a worker scored'\n"
        "print('scores', infos['final_info']['score'].tolist(), flush=True)\n"
        "envs.close()\n"
    )
    root = str(Path(textgym.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("top level ran") == 1
    assert "scores" in result.stdout


def test_parallel_scoring_equals_serial_scoring():
    from textgym.scorers import make_scorer
    from textgym.tasks import make_task

    task = make_task("translate", difficulty=3)
    examples = list(task.examples("validation")[:300])
    rng = random.Random(0)
    texts = [" ".join(rng.sample(ex.references[0].split(), k=len(ex.references[0].split()) // 2)) for ex in examples]
    scorer = make_scorer("chrf")
    parallel = ParallelScorer(scorer, num_workers=1, min_batch=10, min_chars=0)
    try:
        assert parallel.parallel
        np.testing.assert_array_equal(parallel.score(texts, examples), scorer.score(texts, examples))
    finally:
        parallel.close()
    assert not ParallelScorer(task.metric_scorers["chrf"], num_workers=0).parallel


def test_small_batches_stay_here_and_batched_chrf_splits_later_than_per_sentence_bleu():
    """Batched chrF is ~10x cheaper a text than sacreBLEU's per-sentence BLEU, so a batch that BLEU sends to the
    workers is still scored here for chrF; a large one is split for both."""
    from textgym.scorers import make_scorer
    from textgym.tasks import make_task

    examples = list(make_task("translate", difficulty=3).examples("validation")[:40])
    texts = [ex.references[0] for ex in examples]
    for name, small_splits in (("bleu", True), ("chrf", False)):
        scorer = make_scorer(name)
        parallel = ParallelScorer(scorer, num_workers=1)
        try:
            parallel.score(texts[:3], examples[:3])  # below every threshold
            assert parallel._workers == []
            np.testing.assert_array_equal(parallel.score(texts[:12], examples[:12]), scorer.score(texts[:12],
                                                                                                  examples[:12]))
            assert bool(parallel._workers) is small_splits, name
            large = [t * 12 for t in texts]
            np.testing.assert_array_equal(parallel.score(large, examples), scorer.score(large, examples))
            assert parallel._workers, name
        finally:
            parallel.close()


def test_a_task_that_overrides_score_is_scored_through_it_by_the_pool_and_the_vector_env():
    from textgym.tasks import make_task

    class Lowercase(type(make_task("translate"))):
        def score(self, responses, examples):  # the extension point: 1 for an all-lowercase response
            return np.array([float(r == r.lower() and bool(r)) for r in responses])

    task = Lowercase(difficulty=1, num_examples={"train": 20, "validation": 5, "test": 5})
    parallel = ParallelScorer(task, num_workers=1, min_batch=1, min_chars=0)
    assert not parallel.parallel  # the workers would only know the scorer
    assert parallel.score(["abc", "Abc"], list(task.examples("train")[:2])).tolist() == [1.0, 0.0]
    single = gym.make("TextGen-Translate-v0", task=task, max_new_tokens=4).unwrapped
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, task=task, max_new_tokens=4)
    lower = single.tokenizer("abc", add_special_tokens=False)["input_ids"][0]
    upper = single.tokenizer("ABC", add_special_tokens=False)["input_ids"][0]
    single.reset(seed=0)
    envs.reset(seed=0)
    for _ in range(4):
        _, rewards, terminated, _, infos = envs.step([lower, upper])
        _, reward, *_ = single.step(lower)
    assert terminated.all() and rewards.tolist() == [1.0, 0.0] and reward == 1.0
    assert infos["final_info"]["score"].tolist() == [1.0, 0.0]
