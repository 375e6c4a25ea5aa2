"""Run untrusted Python against unit tests in a sandboxed worker pool, and score it (DESIGN.md §4).

Generated code never runs in the calling process. :class:`Sandbox` keeps a pool of clean worker processes
(``python -I -S`` running :mod:`textgym.scorers._sandbox_worker`, empty environment); each worker forks a
fresh, isolated child per program (see that module for the isolation steps), so a batch of N programs costs
about N / num_workers program-times. Isolation is ``"namespaces"`` where the kernel allows it (root, as on
CI) and otherwise a loud ``"fallback"`` (resource limits plus an audit hook); ``Sandbox.isolation`` says which.

Tests are :class:`CodeTest` records. A ``value`` test (``assert f(x) == LITERAL``) sends only the expression
to the sandbox and compares the returned literal on the host, so a program cannot fake a pass by
monkey-patching the harness, overriding ``__eq__`` or writing forged result lines: it would have to produce
the right values, i.e. solve the problem. An ``exec`` test (any other statement) reports pass/fail from
inside the sandbox; a program can forge that only by deliberately attacking the result channel.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import queue
import subprocess
import sys
import sysconfig
import threading
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from textgym.error import InvalidArgumentError, TextGymError, check_int, suggest
from textgym.scorers.base import CorpusScore

if TYPE_CHECKING:
    from textgym.tasks.base import Example

__all__ = [
    "CodeExecScorer",
    "CodeJob",
    "CodeTest",
    "ExecResult",
    "Sandbox",
    "SandboxConfig",
    "SandboxError",
    "code_tests_from_asserts",
]

WORKER = Path(__file__).with_name("_sandbox_worker.py")
ISOLATION_MODES = ("auto", "namespaces", "fallback")


class SandboxError(TextGymError, RuntimeError):
    """The sandbox cannot run (namespaces requested but refused, worker crashed on start, ...)."""


@dataclass(frozen=True)
class SandboxConfig:
    """Limits applied to every program.

    Attributes:
        timeout_s: Default wall-clock limit of one program with its tests (a job may set its own).
        memory_mb: Address-space limit (RLIMIT_AS).
        output_bytes: Cap on captured stdout and on stderr each; a program writing more is stopped.
        file_bytes: Largest file the program may write (RLIMIT_FSIZE).
        open_files: Open-file limit (RLIMIT_NOFILE).
        tmpfs_mb: Size of the private writable /tmp (namespace isolation).
        uid: Unprivileged uid/gid the child drops to (namespace isolation; 65534 is ``nobody``).
        isolation: ``"auto"`` (namespaces where allowed, else fallback with a warning), ``"namespaces"``
            (error if refused) or ``"fallback"``.
        hide: Folders hidden behind empty read-only mounts; ``None`` hides the working directory and its
            parent (where project and data files usually live) unless they hold the Python installation.
        audit_hook: Also install the audit hook under namespace isolation (defence in depth; the fallback
            always has it). Turning it off leaves the kernel's walls alone, which the tests check.
    """

    timeout_s: float = 5.0
    memory_mb: int = 1024
    output_bytes: int = 1 << 16
    file_bytes: int = 1 << 20
    open_files: int = 64
    tmpfs_mb: int = 64
    uid: int = 65534
    isolation: str = "auto"
    hide: tuple[str, ...] | None = None
    audit_hook: bool = True

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise InvalidArgumentError(
                f"Unknown isolation {self.isolation!r}. {suggest(self.isolation, ISOLATION_MODES)}"
            )
        for name in ("memory_mb", "output_bytes", "file_bytes", "open_files", "tmpfs_mb"):
            value = getattr(self, name)
            check_int(f"SandboxConfig.{name}", value)
        if not isinstance(self.timeout_s, (int, float)) or not self.timeout_s > 0:
            raise InvalidArgumentError(f"Expected SandboxConfig.timeout_s > 0 seconds, got {self.timeout_s!r}.")


@dataclass(frozen=True)
class CodeTest:
    """One unit test.

    ``kind="value"`` evaluates ``code`` (an expression) in the sandbox and compares the result with
    ``expected`` (a Python literal, kept on the host); ``kind="exec"`` runs ``code`` (a statement) and
    passes if it raises nothing.
    """

    kind: str
    code: str
    expected: str | None = None


@dataclass(frozen=True)
class CodeJob:
    """A program and its tests. ``bind`` maps names to define after the program (``{"candidate": "f"}``)."""

    program: str
    tests: tuple[CodeTest, ...]
    setup: str = ""
    timeout_s: float | None = None
    bind: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExecResult:
    """What one program did.

    ``outcome`` is ``ok``, ``syntax_error``, ``error`` (the program raised while loading), ``timeout``,
    ``memory``, ``output_limit``, ``file_size``, ``killed``, ``exited`` (it ended the process itself) or
    ``sandbox_error``. ``passed[i]`` tells whether test i passed; ``reasons[i]`` why not.
    """

    outcome: str
    passed: tuple[bool, ...]
    reasons: tuple[str, ...]
    error: str
    stdout: str
    stderr: str
    duration_s: float

    @property
    def pass_rate(self) -> float:
        """Fraction of tests passed (0.0 when there are none)."""
        return sum(self.passed) / len(self.passed) if self.passed else 0.0


def code_tests_from_asserts(statements: Sequence[str]) -> tuple[CodeTest, ...]:
    """Turn ``assert EXPR == LITERAL`` statements into value tests; any other statement stays an exec test.

    Example:
        >>> [t.kind for t in code_tests_from_asserts(["assert f(1) == 2", "assert math.isclose(f(2), 0.5)"])]
        ['value', 'exec']
    """
    tests = []
    for statement in statements:
        tests.append(_value_test(statement) or CodeTest("exec", statement))
    return tuple(tests)


def _value_test(statement: str) -> CodeTest | None:
    try:
        tree = ast.parse(statement.strip())
    except SyntaxError:
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert):
        return None
    test = tree.body[0].test
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return None
    for expr, literal in ((test.left, test.comparators[0]), (test.comparators[0], test.left)):
        try:
            ast.literal_eval(literal)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return CodeTest("value", ast.unparse(expr), ast.unparse(literal))
    return None


def _default_hide() -> tuple[str, ...]:
    interpreter = (sys.prefix, sys.base_prefix, sys.exec_prefix, sysconfig.get_paths()["stdlib"])
    keep = {os.path.realpath(p) for p in interpreter}
    cwd = Path.cwd().resolve()
    hide = []
    for path in (cwd, cwd.parent):
        text = str(path)
        if text != "/" and not any(k == text or k.startswith(text + os.sep) for k in keep):
            hide.append(text)
    return tuple(hide)


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, config: SandboxConfig) -> None:
        settings = asdict(config)
        settings["hide"] = list(config.hide if config.hide is not None else _default_hide())
        settings["fallback_dir"] = f"/tmp/textgym-sandbox-{os.getpid()}-{id(self)}"
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(WORKER), json.dumps(settings)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={},
            text=True,
            bufsize=1,
        )
        hello = self.process.stdout.readline() if self.process.stdout else ""
        if not hello:
            code = self.process.wait()
            raise SandboxError(f"sandbox worker exited on start (code {code}); python: {sys.executable}")
        info = json.loads(hello)
        self.isolation, self.reason = info["isolation"], info["reason"]

    def run(self, payload: str) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(payload + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SandboxError("sandbox worker died")
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def _close_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.close()


class Sandbox:
    """A pool of sandbox workers.

    Args:
        config: Limits for every program.
        num_workers: Parallel workers; default ``os.cpu_count()``.

    Example:
        >>> box = Sandbox(SandboxConfig(timeout_s=5))
        >>> tests = code_tests_from_asserts(["assert f(2) == 4", "assert f(3) == 5"])
        >>> job = CodeJob("def f(x): return 2 * x", tests)
        >>> box.run([job])[0].passed
        (True, False)
        >>> box.close()
    """

    def __init__(self, config: SandboxConfig | None = None, num_workers: int | None = None) -> None:
        self.config = config or SandboxConfig()
        # None: one worker per core; 0 is refused, not read as "the default"
        self.num_workers = (os.cpu_count() or 1) if num_workers is None else check_int("num_workers", num_workers)
        self._workers: list[_Worker] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def isolation(self) -> str:
        """``"namespaces"`` or ``"fallback"`` (starts the workers if needed)."""
        self._start()
        return self._workers[0].isolation

    def _start(self) -> None:
        with self._lock:
            if self._workers:
                return
            workers = [_Worker(self.config) for _ in range(self.num_workers)]
            if workers[0].isolation != "namespaces":
                if self.config.isolation == "namespaces":
                    _close_all(workers)
                    raise SandboxError(
                        f"Namespace isolation was requested but the kernel refused it ({workers[0].reason}). "
                        "Run as root or enable unprivileged user namespaces, or use isolation='fallback'."
                    )
                if self.config.isolation == "auto":
                    warnings.warn(
                        f"textgym sandbox: namespace isolation unavailable ({workers[0].reason}); using the fallback "
                        "(resource limits + audit hook; no read-only filesystem, weaker network blocking).",
                        RuntimeWarning,
                        stacklevel=3,
                    )
            self._workers = workers
            self._executor = ThreadPoolExecutor(len(workers), thread_name_prefix="textgym-sandbox")
            weakref.finalize(self, _close_all, workers)
            atexit.register(_close_all, workers)

    def run(self, jobs: Sequence[CodeJob]) -> list[ExecResult]:
        """Run every job, in parallel across the workers; results in input order."""
        self._start()
        assert self._executor is not None
        pending: queue.SimpleQueue[tuple[int, CodeJob]] = queue.SimpleQueue()
        for item in enumerate(jobs):
            pending.put(item)
        raws: list[dict[str, Any]] = [{} for _ in jobs]

        def drain(slot: int) -> None:
            while True:
                try:
                    index, job = pending.get_nowait()
                except queue.Empty:
                    return
                raws[index] = self._run_one(slot, job)

        list(self._executor.map(drain, range(len(self._workers))))
        # Verdicts parse literals with `ast`, which CPython 3.11 does not allow from several threads at once
        # ("AST constructor recursion depth mismatch"): interpret here, in the calling thread.
        return [_interpret(job, raw) for job, raw in zip(jobs, raws, strict=True)]

    def _run_one(self, slot: int, job: CodeJob) -> dict[str, Any]:
        timeout = job.timeout_s or self.config.timeout_s
        payload = json.dumps(
            {
                "program": job.program,
                "setup": job.setup,
                "bind": job.bind,
                "timeout": timeout,
                "tests": [{"kind": t.kind, "code": t.code} for t in job.tests],  # never the expected values
            }
        )
        try:
            raw = self._workers[slot].run(payload)
        except (SandboxError, OSError, ValueError):
            self._workers[slot].close()
            self._workers[slot] = _Worker(self.config)  # replace it; this job is reported as killed
            raw = {"outcome": "killed", "results": "", "stdout": "", "stderr": "", "duration": timeout}
        return raw

    def close(self) -> None:
        """Stop the workers (they also stop when this object is collected or the process exits)."""
        with self._lock:
            _close_all(self._workers)
            self._workers = []
            if self._executor:
                self._executor.shutdown(wait=False)
                self._executor = None

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.config, "num_workers": self.num_workers}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["config"], state["num_workers"])  # type: ignore[misc]


_ERROR_REASONS = {"MemoryError": "memory", "RecursionError": "recursion", "AssertionError": "failed"}


def _interpret(job: CodeJob, raw: dict[str, Any]) -> ExecResult:
    """Turn the worker's raw answer into per-test verdicts, comparing value tests on this side."""
    records: dict[int, dict[str, Any]] = {}
    program_error: dict[str, Any] | None = None
    for line in raw["results"].splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if "program_error" in record and program_error is None:
            program_error = record
        elif isinstance(record.get("i"), int) and 0 <= record["i"] < len(job.tests):
            records[record["i"]] = record  # the harness writes after the program: the last line per test wins
    outcome, error = raw["outcome"], ""
    if program_error is not None:
        name = str(program_error.get("program_error"))
        error = f"{name}: {program_error.get('message', '')}"
        if outcome == "ok":
            outcome = {"SyntaxError": "syntax_error", "MemoryError": "memory", "IndentationError": "syntax_error",
                       "TabError": "syntax_error"}.get(name, "error")
    if outcome == "ok" and program_error is None and len(records) < len(job.tests):
        outcome = "exited"  # the process ended cleanly before the harness finished: the program exited it
    passed, reasons = [], []
    for index, test in enumerate(job.tests):
        ok, reason = _verdict(test, records.get(index), outcome)
        passed.append(ok)
        reasons.append(reason)
    return ExecResult(outcome, tuple(passed), tuple(reasons), error, raw["stdout"], raw["stderr"], raw["duration"])


def _verdict(test: CodeTest, record: dict[str, Any] | None, outcome: str) -> tuple[bool, str]:
    if record is None:
        return False, outcome if outcome != "ok" else "not_run"
    if not record.get("ok"):
        return False, _ERROR_REASONS.get(str(record.get("error")), "exception")
    if test.kind == "exec":
        return True, ""
    try:
        actual = ast.literal_eval(str(record.get("value")))
        expected = ast.literal_eval(str(test.expected))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, "wrong_answer"
    return (True, "") if actual == expected else (False, "wrong_answer")


class CodeExecScorer:
    """Scores code responses by running each example's tests in a :class:`Sandbox`.

    The program is ``example.meta["prefix"] + response``; the tests, setup code, name bindings and timeout
    come from ``example.meta`` (``tests``, ``setup``, ``bind``, ``timeout``). Results are cached per
    (example, response), so the reward and the episode's ``info`` share one run.

    Args:
        partial_credit: Score the fraction of tests passed (``name="pass_rate"``); False scores 1 only when
            every test passes (``name="pass"``).
        config: Sandbox limits (ignored when ``sandbox`` is given).
        sandbox: A sandbox to share between scorers.
        num_workers: Worker processes of a new sandbox (default: the number of cores).
    """

    def __init__(self, partial_credit: bool = True, config: SandboxConfig | None = None, sandbox: Sandbox | None = None,
                 num_workers: int | None = None) -> None:
        self.partial_credit = bool(partial_credit)
        self.name = "pass_rate" if self.partial_credit else "pass"
        self.sandbox = sandbox or Sandbox(config, num_workers)
        self._cache: OrderedDict[tuple[str, str], ExecResult] = OrderedDict()

    def sibling(self, partial_credit: bool) -> CodeExecScorer:
        """A scorer with the other credit rule sharing this one's sandbox and result cache."""
        other = CodeExecScorer(partial_credit, sandbox=self.sandbox)
        other._cache = self._cache
        return other

    @staticmethod
    def job(response: str, example: Example) -> CodeJob:
        """The sandbox job that checks ``response`` for ``example``."""
        meta = example.meta
        return CodeJob(meta.get("prefix", "") + response, tuple(meta["tests"]), meta.get("setup", ""),
                       meta.get("timeout"), dict(meta.get("bind", {})))

    def results(self, responses: Sequence[str], examples: Sequence[Example]) -> list[ExecResult]:
        """Sandbox results for each response (cached ones reused; the rest run as one parallel batch)."""
        keys = [(ex.id, r) for r, ex in zip(responses, examples, strict=True)]
        missing = list(dict.fromkeys(k for k in keys if k not in self._cache))
        if missing:
            by_key = {(ex.id, r): (r, ex) for r, ex in zip(responses, examples, strict=True)}
            fresh = self.sandbox.run([self.job(*by_key[k]) for k in missing])
            for key, result in zip(missing, fresh, strict=True):
                self._cache[key] = result
            while len(self._cache) > 4096:
                self._cache.popitem(last=False)
        return [self._cache[k] for k in keys]

    def score(self, responses: Sequence[str], examples: Sequence[Example]) -> np.ndarray:
        """Fraction of tests passed (or 1/0 without partial credit) per response."""
        results = self.results(responses, examples)
        if self.partial_credit:
            return np.array([r.pass_rate for r in results], dtype=np.float64)
        return np.array([float(bool(r.passed) and all(r.passed)) for r in results], dtype=np.float64)

    def corpus_score(self, responses: Sequence[str], examples: Sequence[Example]) -> CorpusScore:
        """pass@1: the share of responses that pass all their tests."""
        results = self.results(responses, examples)
        value = float(np.mean([bool(r.passed) and all(r.passed) for r in results])) if results else 0.0
        signature = (f"pass@1|isolation:{self.sandbox.isolation}|timeout:{self.sandbox.config.timeout_s}s|"
                     f"memory:{self.sandbox.config.memory_mb}MB")
        return CorpusScore("pass@1", value, 100.0 * value, signature)

    def __getstate__(self) -> dict[str, Any]:
        return {"partial_credit": self.partial_credit, "name": self.name, "sandbox": self.sandbox,
                "_cache": OrderedDict()}

    def __repr__(self) -> str:
        return f"CodeExecScorer(partial_credit={self.partial_credit})"

