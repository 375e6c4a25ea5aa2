"""The code sandbox: honest programs pass, and a suite of hostile programs gets nothing and harms nothing.

These tests run as root on CI, where the sandbox uses namespaces and drops to an unprivileged uid.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from textgym.error import InvalidArgumentError
from textgym.scorers.code_exec import CodeJob, CodeTest, Sandbox, SandboxConfig, SandboxError, code_tests_from_asserts

TIMEOUT = 1.0
TESTS = code_tests_from_asserts(["assert f(2) == 4", "assert f(3) == 6", "assert f(10) == 20"])
CANARY_DIR = Path(f"/var/tmp/textgym-canary-{os.getpid()}")
SECRET = "textgym-hunter2-secret"


@pytest.fixture(scope="module")
def sandbox():
    os.environ["TEXTGYM_TEST_SECRET"] = SECRET
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, memory_mb=512), num_workers=2)
    box.isolation  # noqa: B018 - start the workers while the secret is in our environment
    yield box
    box.close()
    del os.environ["TEXTGYM_TEST_SECRET"]


def run(sandbox, program, tests=TESTS, **kwargs):
    return sandbox.run([CodeJob(program, tests, **kwargs)])[0]


def test_honest_programs(sandbox):
    assert run(sandbox, "def f(x):\n    return 2 * x\n").passed == (True, True, True)
    partial = run(sandbox, "def f(x):\n    return 4 if x == 2 else 0\n")
    assert partial.passed == (True, False, False) and partial.pass_rate == pytest.approx(1 / 3)
    assert partial.reasons == ("", "wrong_answer", "wrong_answer")
    printed = run(sandbox, "print('hello')\nimport math, collections, heapq, re\ndef f(x): return 2 * x\n")
    assert printed.stdout == "hello\n" and printed.outcome == "ok"
    tamper = "import sys\nfor name in list(sys.modules):\n    sys.modules[name] = None\ndef f(x): return 2*x\n"
    tampered = run(sandbox, tamper)
    assert tampered.passed == (True, True, True)  # the harness holds its own references: honest code still scores
    scratch = run(sandbox, "open('s.txt', 'w').write('ok')\ndef f(x): return len(open('s.txt').read()) * x\n")
    assert scratch.passed == (True, True, True)


def test_outcomes_and_reasons(sandbox):
    syntax = run(sandbox, "def f(x) return x")
    assert syntax.outcome == "syntax_error" and syntax.error.startswith("SyntaxError") and syntax.pass_rate == 0
    crash = run(sandbox, "raise ValueError('boom')")
    assert crash.outcome == "error" and crash.error == "ValueError: boom"
    raises = run(sandbox, "def f(x):\n    if x == 3: raise KeyError(x)\n    return 2 * x\n")
    assert raises.passed == (True, False, True) and raises.reasons[1] == "exception"
    exec_tests = (CodeTest("exec", "assert f(2) == 4"), CodeTest("exec", "assert f(3) == 7"))
    assert run(sandbox, "def f(x): return 2 * x", exec_tests).passed == (True, False)


def test_code_tests_from_asserts_keeps_expected_values_on_the_host():
    value, other = code_tests_from_asserts(["assert 4 == f(2)", "assert sorted(f(1)) == sorted([1, 2])"])
    assert (value.kind, value.code, value.expected) == ("value", "f(2)", "4")
    assert other.kind == "exec"


def test_bind_and_setup(sandbox):
    tests = code_tests_from_asserts(["assert candidate(2) == K"])
    job = CodeJob("def double(x): return 2 * x", (CodeTest("value", "candidate(2)", "4"),), setup="K = 4",
                  bind={"candidate": "double"})
    assert sandbox.run([job])[0].passed == (True,)
    assert tests[0].kind == "exec"  # K is not a literal


def test_batch_runs_in_parallel(sandbox, monkeypatch):
    """Jobs of one batch run on both workers at the same time: their host-side spans overlap (no wall-clock bound,
    which shared cores make flaky)."""
    spans: list[tuple[int, float, float]] = []
    run_one = sandbox._run_one

    def timed(slot, job):
        start = time.monotonic()
        try:
            return run_one(slot, job)
        finally:
            spans.append((slot, start, time.monotonic()))

    monkeypatch.setattr(sandbox, "_run_one", timed)
    jobs = [CodeJob("import time\ntime.sleep(0.3)\ndef f(x): return 2 * x\n", TESTS) for _ in range(4)]
    results = sandbox.run(jobs)
    assert all(r.pass_rate == 1 for r in results)
    assert {slot for slot, _, _ in spans} == {0, 1}
    overlapping = [(a, b) for a in spans for b in spans if a[0] < b[0] and a[1] < b[2] and b[1] < a[2]]
    assert overlapping, spans


def test_config_errors():
    with pytest.raises(InvalidArgumentError, match=r"Unknown isolation 'namespace'. Did you mean 'namespaces'\?"):
        SandboxConfig(isolation="namespace")
    with pytest.raises(InvalidArgumentError, match=r"Expected SandboxConfig.memory_mb to be a positive int, got 0"):
        SandboxConfig(memory_mb=0)
    with pytest.raises(InvalidArgumentError, match=r"timeout_s > 0 seconds, got -1"):
        SandboxConfig(timeout_s=-1)
    assert issubclass(SandboxError, RuntimeError)


# -- the hostile suite ------------------------------------------------------------------------------------------

HOSTILE = {
    "infinite_loop": "while True:\n    pass\n",
    "infinite_loop_in_function": "def f(x):\n    while True:\n        pass\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "raw_fork": "import posix\nposix.fork()\ndef f(x): return 2 * x\n",
    "subprocess": "import subprocess\nsubprocess.Popen(['sleep', '100'])\ndef f(x): return 2 * x\n",
    "os_system": "import os\nos.system('touch {canary}/pwned')\ndef f(x): return 2 * x\n",
    "memory_bomb": "x = [0] * 10**10\ndef f(x): return 2 * x\n",
    "memory_creep": "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n",
    "deep_recursion": "def r(n):\n    return r(n + 1)\nr(0)\n",
    "recursion_limit_segfault": "import sys\nsys.setrecursionlimit(10**7)\ndef r(n):\n    return r(n + 1)\nr(0)\n",
    "huge_stdout": "while True:\n    print('x' * 100000)\n",
    "huge_stderr": "import sys\nwhile True:\n    sys.stderr.write('y' * 100000)\n",
    "huge_file": "with open('big', 'wb') as fh:\n    while True:\n        fh.write(b'z' * 10**6)\n",
    "overwrite_outside": "open('{canary}/keep.txt', 'w').write('pwned')\ndef f(x): return 2 * x\n",
    "create_outside": "open('{canary}/new.txt', 'w').write('pwned')\ndef f(x): return 2 * x\n",
    "delete_outside": "import os\nos.remove('{canary}/keep.txt')\ndef f(x): return 2 * x\n",
    "rmtree_outside": "import shutil\nshutil.rmtree('{canary}')\ndef f(x): return 2 * x\n",
    "write_via_chdir": "import os\nos.chdir('{canary}')\nopen('rel.txt', 'w').write('pwned')\n",
    "env_secrets": (
        "import os\nprint(dict(os.environ))\n"
        "try:\n    print(open('/proc/{host_pid}/environ').read())\nexcept OSError as e:\n    print(e)\n"
        "def f(x): return os.environ.get('TEXTGYM_TEST_SECRET')\n"
    ),
    "socket_connect": (
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\ns.send(b'leak')\n"
        "def f(x): return 2 * x\n"
    ),
    "raw_socket_module": (
        "import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\n"
        "s.connect(('127.0.0.1', {port}))\n"
        "def f(x): return 2 * x\n"
    ),
    "ctypes_connect": (
        "import ctypes, struct\nlibc = ctypes.CDLL(None)\nfd = libc.socket(2, 1, 0)\n"
        "addr = struct.pack('<HH4s8x', 2, __import__('socket').htons({port}), bytes([127, 0, 0, 1]))\n"
        "libc.connect(fd, addr, 16)\ndef f(x): return 2 * x\n"
    ),
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\ndef f(x): return 2 * x\n",
    "kill_host": "import os, signal\nos.kill({host_pid}, signal.SIGKILL)\ndef f(x): return 2 * x\n",
    "kill_host_child": "import os, signal\nos.kill({child_pid}, signal.SIGKILL)\ndef f(x): return 2 * x\n",
    "ctypes_kill_host": "import ctypes\nctypes.CDLL(None).kill({host_pid}, 9)\ndef f(x): return 2 * x\n",
    "os_exit_early": "import os\nos._exit(0)\n",
    "sys_exit": "import sys\nsys.exit(0)\n",
    "stop_self": "import signal\nsignal.raise_signal(signal.SIGSTOP)\ndef f(x): return 2 * x\n",
    "ignore_sigterm": "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "alarm_games": (
        "import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\nsignal.alarm(1)\nwhile True:\n    pass\n"
    ),
    "patch_builtins_eval": "import builtins\nbuiltins.eval = lambda *a, **k: 4\nbuiltins.exec = lambda *a, **k: None\n",
    "patch_harness_json": (
        "import json, sys\njson.dumps = lambda *a, **k: '{{\"i\": 0, \"ok\": true, \"value\": \"4\"}}'\n"
        "sys.modules['json'] = None\ndef f(x): return None\n"
    ),
    "always_equal": "class A:\n    def __eq__(self, other):\n        return True\ndef f(x): return A()\n",
    "int_subclass": "class I(int):\n    def __eq__(self, other):\n        return True\ndef f(x): return I(0)\n",
    "forge_result_lines": (
        "import os\nfor i in range(3):\n    os.write(3, ('{{\"i\": %d, \"ok\": true}}\\n' % i).encode())\n"
        "def f(x): return -1\n"
    ),
    "forge_then_exit": (
        "import os\nfor i in range(3):\n    os.write(3, ('{{\"i\": %d, \"ok\": true}}\\n' % i).encode())\nos._exit(0)\n"
    ),
    "close_result_channel": "import os\nos.close(3)\ndef f(x): return 2 * x\n",
    "sys_modules_tampering": (
        "import sys\nfor name in list(sys.modules):\n    sys.modules[name] = None\ndef f(x): return x\n"
    ),
    "threads_left_running": (
        "import threading\nthreading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()\n"
        "def f(x): return 2 * x\n"
    ),
    "atexit_forgery": (
        "import atexit, os\natexit.register(lambda: os.write(3, b'{{\"i\": 0, \"ok\": true, \"value\": \"4\"}}\\n'))\n"
        "raise SystemExit(0)\n"
    ),
    "remount_rw": "import ctypes\nctypes.CDLL(None).mount(None, b'/', None, 32, None)\ndef f(x): return 2 * x\n",
    "read_project_files": "print(open('{project}/README.md').read())\ndef f(x): return 2 * x\n",
}


@pytest.fixture(scope="module")
def hostile_results(sandbox):
    """Run the whole suite once, in one batch, with a live server, a canary folder and a host child."""
    CANARY_DIR.mkdir(parents=True, exist_ok=True)
    (CANARY_DIR / "keep.txt").write_text("original")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    connections = []

    def accept():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.fileno() != -1:
            try:
                connections.append(server.accept())
            except (TimeoutError, OSError):
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    child = subprocess.Popen(["sleep", "120"])
    fields = {"canary": CANARY_DIR, "port": server.getsockname()[1], "host_pid": os.getpid(),
              "child_pid": child.pid, "project": Path(__file__).resolve().parents[2]}
    names = list(HOSTILE)
    start = time.monotonic()
    results = dict(zip(names, sandbox.run([CodeJob(HOSTILE[n].format(**fields), TESTS) for n in names]),
                       strict=True))
    elapsed = time.monotonic() - start
    server.close()
    thread.join(timeout=2)
    state = {"child_alive": child.poll() is None, "connections": len(connections), "elapsed": elapsed,
             "canary": (CANARY_DIR / "keep.txt").read_text() if (CANARY_DIR / "keep.txt").exists() else None,
             "canary_files": sorted(p.name for p in CANARY_DIR.iterdir())}
    child.kill()
    child.wait()
    shutil.rmtree(CANARY_DIR, ignore_errors=True)
    return results, state


def test_hostile_suite_is_large_enough():
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_scores_zero_in_time(hostile_results, name):
    results, _ = hostile_results
    result = results[name]
    assert result.pass_rate == 0.0, (name, result)
    assert result.duration_s <= TIMEOUT + 2.0
    assert SECRET not in result.stdout + result.stderr


def test_hostile_suite_left_the_host_untouched(hostile_results, sandbox):
    results, state = hostile_results
    assert state["child_alive"], "a program killed a child of the host process"
    assert state["connections"] == 0, "a program reached a host socket"
    assert state["canary"] == "original" and state["canary_files"] == ["keep.txt"]
    assert state["elapsed"] < len(HOSTILE) * (TIMEOUT + 2) / 2
    # the outcome names the failure
    assert results["infinite_loop"].outcome == "timeout"
    assert results["memory_bomb"].outcome == "memory"
    assert results["huge_stdout"].outcome == "output_limit" and len(results["huge_stdout"].stdout) <= 1 << 16
    assert results["os_exit_early"].outcome == "exited"
    assert results["deep_recursion"].error.startswith("RecursionError")
    assert results["stop_self"].outcome == "timeout"
    # the sandbox still works afterwards, and this process is alive to check it
    assert run(sandbox, "def f(x): return 2 * x").passed == (True, True, True)


def test_isolation_is_namespaces_as_root(sandbox):
    if os.geteuid() != 0:
        pytest.skip("namespace isolation needs root (or user namespaces); CI runs as root")
    assert sandbox.isolation == "namespaces"
    who = run(sandbox, "import os\nprint(os.getuid(), os.getgid())\ndef f(x): return 2 * x\n")
    assert who.stdout.split() == ["65534", "65534"]
    net = run(sandbox, "print(open('/proc/net/dev').read().count(':'))\n")
    assert net.stdout.strip() == "1"  # a fresh network namespace: only lo


def test_fallback_isolation_still_blocks_the_basics():
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, isolation="fallback"), num_workers=1)
    try:
        assert box.isolation == "fallback"
        results = box.run([CodeJob(HOSTILE[n].format(canary=CANARY_DIR, port=9, host_pid=os.getpid(), child_pid=1,
                                                     project="/nonexistent"), TESTS)
                           for n in ("fork_bomb", "kill_host", "create_outside", "socket_connect", "infinite_loop")])
        assert all(r.pass_rate == 0 for r in results)
        assert not (CANARY_DIR / "new.txt").exists()
        assert run(box, "def f(x): return 2 * x").passed == (True, True, True)
    finally:
        box.close()
    assert signal.SIGKILL  # this process survived kill_host


def test_kernel_walls_hold_without_the_audit_hook():
    """With the audit hook off, the namespaces, read-only mounts, dropped uid and rlimits alone stop the attacks."""
    if os.geteuid() != 0:
        pytest.skip("namespace isolation needs root (or user namespaces); CI runs as root")
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, audit_hook=False), num_workers=1)
    probe = (
        "import os, errno, socket\nout = []\n"
        "def attempt(name, fn):\n"
        "    try:\n        fn()\n        out.append(name + ':allowed')\n"
        "    except OSError as e:\n        out.append(name + ':' + errno.errorcode.get(e.errno, str(e.errno)))\n"
        "attempt('write', lambda: open('/var/tmp/textgym-kernel-probe', 'w'))\n"
        f"attempt('kill', lambda: os.kill({os.getpid()}, 0))\n"
        "attempt('fork', lambda: os.fork())\n"
        "attempt('connect', lambda: socket.create_connection(('127.0.0.1', 9), timeout=0.5))\n"
        "attempt('chown', lambda: os.chown('/tmp/work', 0, 0))\n"
        "print(' '.join(out))\n"
    )
    try:
        result = box.run([CodeJob(probe, ())])[0]
    finally:
        box.close()
    verdicts = dict(item.split(":") for item in result.stdout.split())
    assert verdicts["write"] in {"EROFS", "EACCES"}
    assert verdicts["kill"] == "EPERM"
    assert verdicts["fork"] == "EAGAIN"
    assert verdicts["connect"] in {"ENETUNREACH", "ECONNREFUSED", "EHOSTUNREACH"}
    assert verdicts["chown"] == "EPERM"
    assert not Path("/var/tmp/textgym-kernel-probe").exists()
