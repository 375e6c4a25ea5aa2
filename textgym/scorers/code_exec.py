"""Run untrusted Python against unit tests in a sandboxed worker pool, and score it (DESIGN.md §4).

Generated code never runs in the calling process. :class:`Sandbox` keeps a pool of clean worker processes
(``python -I -S`` running :mod:`textgym.scorers._sandbox_worker`, empty environment); each worker forks a
fresh, isolated child per program (see that module for the isolation steps), so a batch of N programs costs
about N / num_workers program-times. Isolation (``Sandbox.isolation``) is ``"namespaces"`` where the kernel
allows it (root, as on CI: own PID, mount, network and IPC namespaces, an allow-listed root, a uid of its
own), else ``"uid"`` as root (a uid of its own and a seccomp filter, with a warning), else a
:class:`SandboxError`, unless the user opts in to ``isolation="none"`` by name.

No verdict is computed where the program runs. Tests are :class:`CodeTest` records. A ``value`` test
(``assert f(x) == LITERAL``) sends only the expression to the program and compares the returned plain literal
on the host. Any other test (``exec``) runs in the sandbox's *judge*, a second isolated process holding only
trusted code (the prompt's helpers, the setup, the tests), which calls the program's functions through a pipe
that carries plain data (exact builtin types). So neither an object with a forged ``__eq__``, a subclassed
value, forged result records nor a patched harness can make a test pass: the program would have to return
the right values, i.e. solve the problem. A test that needs a non-plain value is failed with the reason
``undecidable`` (the judge could not send it) or ``not_plain`` (the program returned one), never trusted.
"""

from __future__ import annotations

import ast
import atexit
import json
import os
import queue
import subprocess
import sys
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

from textgym.error import InvalidArgumentError, TextGymError, check_bool, check_int, check_positive, suggest
from textgym.scorers._sandbox_worker import decode
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
    "check_sandbox_config",
    "code_tests_from_asserts",
]

WORKER = Path(__file__).with_name("_sandbox_worker.py")
ISOLATION_MODES = ("auto", "namespaces", "uid", "none")
UID_BASE = 2_000_000_000  # + 2 * worker pid (< 2**22): no other process uses these uids


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
        uid_base: Programs run as ``uid_base + 2 * worker_pid`` (the judge as the next uid): a uid no other
            program or host process uses while it runs. Must leave room below 2**31.
        isolation: ``"auto"`` (namespaces, else ``"uid"`` as root with a warning, else a SandboxError),
            ``"namespaces"`` or ``"uid"`` (a SandboxError if refused), or ``"none"``: no isolation beyond the
            resource limits (programs run as you, with your files, network and processes in reach); only
            for code you trust, and it warns.
        audit_hook: Also install a Python audit hook (defence in depth only: a program can remove it, so no
            guarantee rests on it; the tests check the kernel's walls with it off).
    """

    timeout_s: float = 5.0
    memory_mb: int = 1024
    output_bytes: int = 1 << 16
    file_bytes: int = 1 << 20
    open_files: int = 64
    tmpfs_mb: int = 64
    uid_base: int = UID_BASE
    isolation: str = "auto"
    audit_hook: bool = True

    def __post_init__(self) -> None:
        if self.isolation == "fallback":
            raise InvalidArgumentError(
                "isolation='fallback' was removed: it ran programs as your uid behind an audit hook they could "
                "remove. Use 'uid' (as root: a uid of its own) or, for code you trust, 'none'."
            )
        if self.isolation not in ISOLATION_MODES:
            raise InvalidArgumentError(
                f"Unknown isolation {self.isolation!r}. {suggest(self.isolation, ISOLATION_MODES)}"
            )
        for name in ("memory_mb", "output_bytes", "file_bytes", "open_files", "tmpfs_mb"):
            value = getattr(self, name)
            check_int(f"SandboxConfig.{name}", value)
        check_int("SandboxConfig.uid_base", self.uid_base, 1, 2**31 - 2**23 - 1)
        check_bool("SandboxConfig.audit_hook", self.audit_hook)
        check_positive("SandboxConfig.timeout_s", self.timeout_s, " seconds")


def check_sandbox_config(name: str, value: object) -> None:
    """Raise unless ``value`` is a :class:`SandboxConfig` or None (a dict gets the spelling that builds one)."""
    if value is not None and not isinstance(value, SandboxConfig):
        hint = f" Pass {name}=SandboxConfig(**{value!r})." if isinstance(value, dict) else ""
        raise InvalidArgumentError(
            f"Expected {name} to be a SandboxConfig, got {value!r} ({type(value).__name__}).{hint}")


@dataclass(frozen=True)
class CodeTest:
    """One unit test.

    ``kind="value"`` evaluates ``code`` (an expression) in the program and compares the result with
    ``expected`` (a Python literal, kept on the host); ``kind="exec"`` runs ``code`` (a statement) in the
    judge, which reaches the program's functions as plain-data calls, and passes if it raises nothing.
    """

    kind: str
    code: str
    expected: str | None = None


@dataclass(frozen=True)
class CodeJob:
    """A program and its tests.

    ``bind`` maps names to define after the program (``{"candidate": "f"}``); ``setup`` runs after the
    program (in the program and in the judge); ``context`` is trusted code the exec tests may call (the
    prompt's helper functions): the judge runs its own copy, so a program cannot redefine them. The
    functions named in ``bind`` always come from the program.
    """

    program: str
    tests: tuple[CodeTest, ...]
    setup: str = ""
    timeout_s: float | None = None
    bind: dict[str, str] = field(default_factory=dict)
    context: str = ""


@dataclass(frozen=True)
class ExecResult:
    """What one program did.

    ``outcome`` is ``ok``, ``syntax_error``, ``error`` (the program raised while loading), ``timeout``,
    ``memory``, ``output_limit``, ``file_size``, ``killed``, ``exited`` (it ended the process itself) or
    ``sandbox_error``. ``passed[i]`` tells whether test i passed; ``reasons[i]`` why not: ``wrong_answer``,
    ``exception``, ``failed`` (an assert), ``not_plain`` (the program answered with a non-plain value),
    ``undecidable`` (the test needs a value the judge cannot send as plain data), or the outcome.
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


class _Worker:
    """One worker process and its pipes."""

    def __init__(self, config: SandboxConfig) -> None:
        settings = {**asdict(config), "host_pid": os.getpid()}
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
        if self.isolation is None:
            self.close()
            raise SandboxError(_refusal(config.isolation, self.reason))

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


def _refusal(isolation: str, reason: str) -> str:
    if isolation == "auto":
        return (
            f"The code sandbox cannot isolate programs here ({reason}): namespaces need root (as on CI, or in a "
            "container with CAP_SYS_ADMIN) and the 'uid' fallback needs root to drop to a uid of its own. Run as "
            "root, or, only for code you trust, pass SandboxConfig(isolation='none')."
        )
    return f"Sandbox isolation {isolation!r} was requested but is refused here ({reason})."


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
        self._isolation = ""
        self._closed = False

    @property
    def isolation(self) -> str:
        """``"namespaces"``, ``"uid"`` or ``"none"`` (starts the workers if needed)."""
        self._start()
        return self._isolation

    def _start(self) -> None:
        with self._lock:
            if self._workers:
                return
            workers: list[_Worker] = []
            try:
                for _ in range(self.num_workers):
                    workers.append(_Worker(self.config))
            except BaseException:
                _close_all(workers)
                raise
            first = workers[0]
            if first.isolation == "uid":
                refused = f"namespaces refused ({first.reason})" if first.reason else "isolation='uid'"
                warnings.warn(
                    f"textgym sandbox: {refused}; each program runs as a uid of its own "
                    "with a seccomp filter (no sockets, no ptrace), but in the host's filesystem: it can read "
                    "world-readable files. Give the process CAP_SYS_ADMIN for full isolation.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            if first.isolation == "none":
                warnings.warn(
                    "textgym sandbox: isolation='none': untrusted programs run as your uid with your files, network "
                    "and processes in reach (resource limits only). Use it only for code you trust.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            self._isolation = first.isolation
            self._closed = False
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
        if self._closed or any(not raw for raw in raws):
            raise SandboxError("The sandbox was closed during this run; its results are incomplete.")
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
                "context": job.context,
                "timeout": timeout,
                "tests": [{"kind": t.kind, "code": t.code} for t in job.tests],  # never the expected values
            }
        )
        workers = self._workers
        if self._closed or slot >= len(workers):
            return {}
        try:
            raw = workers[slot].run(payload)
        except (SandboxError, OSError, ValueError):
            workers[slot].close()
            with self._lock:
                if self._closed:
                    return {}
                workers[slot] = _Worker(self.config)  # replace it; this job is reported as killed
            raw = {"outcome": "killed", "results": "", "verdicts": "", "stdout": "", "stderr": "",
                   "duration": timeout}
        return raw

    def close(self) -> None:
        """Stop the workers (they also stop when this object is collected or the process exits)."""
        self._closed = True
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


_ERROR_REASONS = {"MemoryError": "memory", "RecursionError": "recursion", "AssertionError": "failed",
                  "not_plain": "not_plain", "undecidable": "undecidable", "program_gone": "exited"}


def _interpret(job: CodeJob, raw: dict[str, Any]) -> ExecResult:
    """Turn the worker's raw answer into per-test verdicts.

    Value tests: the program's answers (its own channel, so possibly forged: they are only values), compared
    here. Exec tests: the judge's records only; whatever the program wrote about them is ignored.
    """
    records: dict[int, dict[str, Any]] = {}
    program_error: dict[str, Any] | None = None
    for channel, kind in ((raw["results"], "value"), (raw.get("verdicts", ""), "exec")):
        for line in channel.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if kind == "value" and "program_error" in record and program_error is None:
                program_error = record
            elif (isinstance(record.get("i"), int) and 0 <= record["i"] < len(job.tests)
                  and (job.tests[record["i"]].kind == "value") == (kind == "value")):
                records[record["i"]] = record  # the last line per test wins
    outcome, error = raw["outcome"], ""
    if program_error is not None:
        name = str(program_error.get("program_error"))
        error = f"{name}: {program_error.get('message', '')}"
        if outcome == "ok":
            outcome = {"SyntaxError": "syntax_error", "MemoryError": "memory", "IndentationError": "syntax_error",
                       "TabError": "syntax_error"}.get(name, "error")
    if outcome == "ok" and program_error is None and any(
            i not in records and t.kind == "value" for i, t in enumerate(job.tests)):
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
        actual = decode(str(record.get("value")))
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
        self.partial_credit = check_bool("partial_credit", partial_credit)
        self.name = "pass_rate" if self.partial_credit else "pass"
        check_sandbox_config("config", config)
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
                       meta.get("timeout"), dict(meta.get("bind", {})), meta.get("prefix", ""))

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

