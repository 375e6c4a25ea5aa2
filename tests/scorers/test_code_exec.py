"""The code sandbox: honest programs pass, and a suite of hostile programs gets nothing and harms nothing.

These tests run as root on CI, where the sandbox uses namespaces (and, asked for, the ``uid`` mode). The hostile
suite runs with the audit hook *off*: the kernel's walls alone must hold.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest

from tests.data import SHARED_DATA
from textgym.error import InvalidArgumentError
from textgym.scorers.code_exec import (
    UID_BASE,
    CodeJob,
    CodeTest,
    Sandbox,
    SandboxConfig,
    SandboxError,
    code_tests_from_asserts,
)

TIMEOUT = 1.0
# one value test (compared on the host) and two exec tests (decided by the judge)
TESTS = code_tests_from_asserts(
    ["assert f(2) == 4", "assert abs(f(3) - 6) < 1e-9", "assert isinstance(f(10), int) and f(10) in (20, 21)"]
)
REPO = Path(__file__).resolve().parents[2]
SECRET = "textgym-hunter2-secret"
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox isolates programs as root; CI runs as root")
pytestmark = ROOT_ONLY


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


def sandbox_processes(exclude=()):
    """Pids of live processes running as a sandbox uid (>= UID_BASE)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        if uid >= UID_BASE:
            found.append(int(entry.name))
    return found


def sandbox_ipc_objects():
    found = []
    for kind in ("shm", "sem", "msg"):
        header, *rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        columns = header.split()
        for row in rows:
            values = dict(zip(columns, row.split(), strict=False))
            if int(values["uid"]) >= UID_BASE or int(values["cuid"]) >= UID_BASE:
                found.append((kind, row))
    return found


def test_honest_programs(sandbox):
    assert run(sandbox, "def f(x):\n    return 2 * x\n").passed == (True, True, True)
    partial = run(sandbox, "def f(x):\n    return 4 if x == 2 else 0\n")
    assert partial.passed == (True, False, False) and partial.pass_rate == pytest.approx(1 / 3)
    assert partial.reasons == ("", "failed", "failed")
    printed = run(sandbox, "print('hello')\nimport math, collections, heapq, re, hashlib\ndef f(x): return 2 * x\n")
    assert printed.stdout == "hello\n" and printed.outcome == "ok"
    tamper = "import sys\nfor name in list(sys.modules):\n    sys.modules[name] = None\ndef f(x): return 2*x\n"
    assert run(sandbox, tamper).passed == (True, True, True)  # the harness holds its own references
    scratch = run(sandbox, "open('s.txt', 'w').write('ok')\ndef f(x): return len(open('s.txt').read()) * x\n")
    assert scratch.passed == (True, True, True)
    counter = run(sandbox, "import collections\ndef f(x): return collections.Counter('ab')\n",
                  code_tests_from_asserts(["assert f(1) == {'a': 1, 'b': 1}"]))
    assert counter.passed == (True,)  # the standard library's dict subclasses are read as dicts


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


def test_bind_setup_and_trusted_context(sandbox):
    job = CodeJob("def double(x): return 2 * x", (CodeTest("value", "candidate(2)", "4"),), setup="K = 4",
                  bind={"candidate": "double"})
    assert sandbox.run([job])[0].passed == (True,)
    # exec tests see the trusted context's helpers, not the program's redefinition of them
    context = "def helper(x):\n    return x + 1\ndef solve(x):\n    '''write me'''\n"
    tests = (CodeTest("exec", "assert helper(candidate(2)) == 5"),)
    honest = CodeJob(context + "def solve(x): return 2 * x\n", tests, bind={"candidate": "solve"}, context=context)
    forged = CodeJob(context + "def helper(x): return 5\ndef solve(x): return 0\n", tests, bind={"candidate": "solve"},
                     context=context)
    assert [r.passed for r in sandbox.run([honest, forged])] == [(True,), (False,)]


def test_exceptions_cross_as_builtin_types_and_objects_as_truth_values(sandbox):
    tests = code_tests_from_asserts([
        "try:\n    f(-1)\n    assert False\nexcept ValueError:\n    pass",
        "assert f(2)",
        "assert f(2) != 5",
    ])
    program = "import re\ndef f(x):\n    if x < 0: raise ValueError(x)\n    return re.match('a', 'a')\n"
    result = run(sandbox, program, tests)
    assert result.passed == (True, True, False) and result.reasons[2] == "not_plain"


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
    with pytest.raises(InvalidArgumentError, match=r"isolation='fallback' was removed.*'uid'.*'none'"):
        SandboxConfig(isolation="fallback")
    with pytest.raises(InvalidArgumentError, match=r"Expected SandboxConfig.memory_mb to be a positive int, got 0"):
        SandboxConfig(memory_mb=0)
    with pytest.raises(InvalidArgumentError, match=r"timeout_s to be a positive number of seconds, got -1"):
        SandboxConfig(timeout_s=-1)
    with pytest.raises(InvalidArgumentError, match=r"Expected num_workers to be a positive int, got 0"):
        Sandbox(num_workers=0)
    with pytest.raises(TypeError, match="hide"):
        SandboxConfig(hide=())  # type: ignore[call-arg]  # the allow-listed root replaced the hide list
    assert issubclass(SandboxError, RuntimeError)


def test_each_program_alone(sandbox):
    probe = ("import os\nprint(os.getuid(), os.getpid(), sorted(p for p in os.listdir('/proc') if p.isdigit()),"
             " sorted(os.listdir('/')), open('/proc/net/dev').read().count(':'))\n")
    slow = "import time\ntime.sleep(0.3)\n" + probe  # both run at once, on the two workers
    lines = [r.stdout.strip() for r in sandbox.run([CodeJob(slow, ()), CodeJob(slow, ())])]
    uids = {int(line.split()[0]) for line in lines}
    assert len(uids) == 2 and all(u >= UID_BASE for u in uids), lines  # a uid of its own, per worker
    for line in lines:
        assert " 1 ['1'] " in line, line  # PID 1 of its namespace, seeing only itself
        assert "['dev', 'etc', 'lib', 'lib64', 'proc', 'root', 'tmp', 'usr']" in line, line  # the allow-list
        assert line.endswith(" 1"), line  # a fresh network namespace: only lo


# -- the hostile suite ------------------------------------------------------------------------------------------
# Every program here fails to solve f (so its honest reward is 0) while it attacks the reward or the host.

WRONG = "def f(x):\n    return -1\n"
HOSTILE = {
    "infinite_loop": "while True:\n    pass\n",
    "infinite_loop_in_function": "def f(x):\n    while True:\n        pass\n",
    "fork_bomb": "import os\nwhile True:\n    os.fork()\n",
    "raw_fork": "import posix\nposix.fork()\n" + WRONG,
    "subprocess": "import subprocess\nsubprocess.Popen(['sleep', '100'])\n" + WRONG,
    "os_system": "import os\nos.system('touch {canary}/pwned')\n" + WRONG,
    "threads_left_running": (
        "import threading\nthreading.Thread(target=lambda: [None for _ in iter(int, 1)], daemon=True).start()\n" + WRONG
    ),
    "daemon_left_behind": (
        "import os, time\ntry:\n    if os.fork() == 0:\n        os.setsid()\n        time.sleep(100)\n"
        "except OSError:\n    pass\n" + WRONG
    ),
    "ctypes_fork": "import ctypes\nctypes.CDLL(None).fork()\nimport time\ntime.sleep(100)\n",
    "memory_bomb": "x = [0] * 10**10\n" + WRONG,
    "memory_creep": "chunks = []\nwhile True:\n    chunks.append(bytearray(10**7))\n",
    "deep_recursion": "def r(n):\n    return r(n + 1)\nr(0)\n",
    "recursion_limit_segfault": "import sys\nsys.setrecursionlimit(10**7)\ndef r(n):\n    return r(n + 1)\nr(0)\n",
    "ctypes_c_loop": "import ctypes\nctypes.CDLL(None).pause()\n",
    "huge_stdout": "while True:\n    print('x' * 100000)\n",
    "huge_stderr": "import sys\nwhile True:\n    sys.stderr.write('y' * 100000)\n",
    "huge_file": "with open('big', 'wb') as fh:\n    while True:\n        fh.write(b'z' * 10**6)\n",
    "fill_tmp": "import os\nfor i in range(10**4):\n    open(f'/tmp/fill{{i}}', 'wb').write(b'z' * 10**6)\n",
    "overwrite_outside": "open('{canary}/keep.txt', 'w').write('pwned')\n" + WRONG,
    "create_outside": "open('{canary}/new.txt', 'w').write('pwned')\n" + WRONG,
    "delete_outside": "import os\nos.remove('{canary}/keep.txt')\n" + WRONG,
    "rmtree_outside": "import shutil\nshutil.rmtree('{canary}')\n" + WRONG,
    "write_via_chdir": "import os\nos.chdir('{canary}')\nopen('rel.txt', 'w').write('pwned')\n",
    "write_dev_shm": "open('/dev/shm/textgym-pwned-{host_pid}', 'w').write('pwned')\n" + WRONG,
    "env_secrets": (
        "import os\nprint(dict(os.environ))\n"
        "try:\n    print(open('/proc/{host_pid}/environ').read())\nexcept OSError as e:\n    print(e)\n"
        "def f(x): return os.environ.get('TEXTGYM_TEST_SECRET')\n"
    ),
    "other_environs": (
        "import os\nfor p in os.listdir('/proc'):\n    try:\n        print(open(f'/proc/{{p}}/environ').read())\n"
        "    except OSError:\n        pass\n" + WRONG
    ),
    "read_project_files": "print(open('{project}/README.md').read())\n" + WRONG,
    "read_test_answers": "print(__import__('os').listdir('{data}'))\nprint(open('{data}/mbpp/mbpp.jsonl').read())\n",
    "read_host_tmp": "print(open('{tmp_secret}').read())\n" + WRONG,
    "socket_connect": (
        "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\ns.send(b'leak')\n" + WRONG
    ),
    "udp_send": "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {udp}))\n",
    "raw_socket_module": (
        "import _socket\ns = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)\ns.connect(('127.0.0.1', {port}))\n"
    ),
    "ctypes_connect": (
        "import ctypes, struct\nlibc = ctypes.CDLL(None)\nfd = libc.socket(2, 1, 0)\n"
        "addr = struct.pack('<HH4s8x', 2, __import__('socket').htons({port}), bytes([127, 0, 0, 1]))\n"
        "libc.connect(fd, addr, 16)\n" + WRONG
    ),
    "abstract_unix_socket": (
        "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('\\0{abstract}')\ns.send(b'leak')\n"
    ),
    "path_unix_socket": "import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect('{unix_path}')\ns.send(b'leak')\n",
    "kill_parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + WRONG,
    "kill_pid1": "import os, signal\nos.kill(1, signal.SIGKILL)\n" + WRONG,
    "kill_host": "import os, signal\nos.kill({host_pid}, signal.SIGKILL)\n" + WRONG,
    "kill_host_child": "import os, signal\nos.kill({child_pid}, signal.SIGKILL)\n" + WRONG,
    "kill_nobody": "import os, signal\nos.kill({nobody_pid}, signal.SIGKILL)\n" + WRONG,
    "kill_neighbour_uid": "import os, signal\nos.kill({neighbour_pid}, signal.SIGSTOP)\n" + WRONG,
    "kill_everything": "import os\nos.kill(-1, 9)\n" + WRONG,
    "stop_every_pid": (
        "import os\nfor pid in range(2, 40000):\n    try:\n        os.kill(pid, 19)\n    except OSError:\n"
        "        pass\n"
        + WRONG
    ),
    "ctypes_kill_host": "import ctypes\nctypes.CDLL(None).kill({host_pid}, 9)\n" + WRONG,
    "raw_syscall_kill": "import ctypes\nctypes.CDLL(None).syscall(62, {host_pid}, 9)\n" + WRONG,
    "ptrace_host": "import ctypes\nprint(ctypes.CDLL(None).ptrace(16, {host_pid}, 0, 0))\n" + WRONG,
    "setuid_root": "import os\nos.setuid(0)\nopen('{canary}/root.txt', 'w').write('pwned')\n",
    "unshare_and_mount": (
        "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.unshare(0x10000000 | 0x20000))\n"
        "print(libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))\n" + WRONG
    ),
    "remount_rw": "import ctypes\nctypes.CDLL(None).mount(None, b'/', None, 32, None)\n" + WRONG,
    "chroot_escape": "import os\nos.chroot('/tmp')\n" + WRONG,
    "sysv_shm_left_behind": (
        "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.shmget(0, 4096, 0o1000 | 0o666))\n"
        "print(libc.semget(0, 1, 0o1000 | 0o666))\n" + WRONG
    ),
    "stop_self": "import signal\nsignal.raise_signal(signal.SIGSTOP)\n" + WRONG,
    "ignore_sigterm": "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n",
    "alarm_games": "import signal\nsignal.signal(signal.SIGALRM, lambda *a: 0)\nsignal.alarm(1)\nwhile 1:\n    pass\n",
    "os_exit_early": "import os\nos._exit(0)\n",
    "sys_exit": "import sys\nsys.exit(0)\n",
    "exit_inside_test": "import os\ndef f(x):\n    os._exit(0)\n",
    "patched_builtins": (
        "import builtins\nbuiltins.eval = lambda *a, **k: 4\nbuiltins.exec = lambda *a, **k: None\n"
        "builtins.isinstance = lambda *a: True\nbuiltins.abs = lambda x: 0\n" + WRONG
    ),
    "patch_harness_json": (
        "import json, sys\njson.dumps = lambda *a, **k: '{{\"i\": 0, \"ok\": true, \"value\": \"4\"}}'\n"
        "sys.modules['json'] = None\n" + WRONG
    ),
    "always_equal": (
        "class A:\n    def __eq__(self, other): return True\n    def __sub__(self, other): return 0\n"
        "    __rsub__ = __sub__\n    def __abs__(self): return 0\n    def __bool__(self): return True\n"
        "    def __lt__(self, other): return True\n    def __hash__(self): return 0\n"
        "def f(x): return A()\n"
    ),
    "int_subclass": "class I(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
                    "def f(x): return I(0)\n",
    "metaclass_eq": (
        "class M(type):\n    def __eq__(cls, other): return True\n    def __hash__(cls): return hash(int)\n"
        "class I(int, metaclass=M):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
        "def f(x): return I(0)\n"
    ),
    "fake_class": "class A:\n    __class__ = int\n    def __eq__(self, other): return True\ndef f(x): return A()\n",
    "forged_records": (
        "import os\nfor fd in range(3, 12):\n    for i in range(3):\n"
        "        for r in ('{{\"i\": %d, \"ok\": true}}' % i, '{{\"i\": %d, \"ok\": true, \"value\": \"4\"}}' % i):\n"
        "            try:\n                os.write(fd, (r + '\\n').encode())\n            except OSError:\n"
        "                pass\n" + WRONG
    ),
    "forge_then_exit": (
        "import os\nfor fd in range(3, 12):\n    for i in range(3):\n        try:\n"
        "            os.write(fd, ('{{\"i\": %d, \"ok\": true, \"value\": \"True\"}}\\n' % i).encode())\n"
        "        except OSError:\n            pass\nos._exit(0)\n"
    ),
    "forge_judge_answers": (
        "import os\nfor _ in range(64):\n    try:\n        os.write(5, b'{{\"ok\": true, \"value\": \"4\"}}\\n')\n"
        "    except OSError:\n        pass\nos._exit(0)\n"
    ),
    "atexit_forgery": (
        "import atexit, os\natexit.register(lambda: os.write(3, b'{{\"i\": 0, \"ok\": true, \"value\": \"4\"}}\\n'))\n"
        "raise SystemExit(0)\n"
    ),
    "close_result_channel": "import os\nfor fd in (3, 4, 5):\n    os.close(fd)\n" + WRONG,
    "sys_modules_tampering": "import sys\nfor name in list(sys.modules):\n    sys.modules[name] = None\n" + WRONG,
    "deeply_nested_return": "def f(x):\n    v = []\n    for _ in range(10**5):\n        v = [v]\n    return v\n",
    "huge_return": "def f(x):\n    return list(range(10**7))\n",
    "huge_int_return": "def f(x):\n    return 10**100000\n",
    "self_referencing_return": "def f(x):\n    v = []\n    v.append(v)\n    return v\n",
}


READS = ("read_project_files", "read_test_answers", "read_host_tmp")  # refused by the allow-listed root only


class _Canaries:
    """A canary folder, TCP/UDP/unix servers, and canary processes as root and as nobody."""

    def __enter__(self):
        tag = f"{os.getpid()}-{time.monotonic_ns()}"
        self.folder = Path(f"/var/tmp/textgym-canary-{tag}")
        self.folder.mkdir(parents=True)
        (self.folder / "keep.txt").write_text("original")
        self.tmp_secret = Path(f"/tmp/textgym-canary-{tag}.txt")
        self.tmp_secret.write_text(SECRET)
        self.tmp_secret.chmod(0o644)
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(8)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.abstract = f"textgym-canary-{tag}"
        self.unix_abstract = socket.socket(socket.AF_UNIX)
        self.unix_abstract.bind("\0" + self.abstract)
        self.unix_abstract.listen(8)
        self.unix_path = f"/dev/shm/textgym-canary-{tag}.sock"
        self.unix_file = socket.socket(socket.AF_UNIX)
        self.unix_file.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix_file.listen(8)
        self.servers = [self.tcp, self.udp, self.unix_abstract, self.unix_file]
        for server in self.servers:
            server.setblocking(False)
        self.child = subprocess.Popen(["sleep", "300"])
        self.nobody = subprocess.Popen(["sleep", "300"], user=65534, group=65534)
        # a process in the sandbox's uid range (the judge uid of a worker with pid 0: never a live one)
        self.neighbour = subprocess.Popen(["sleep", "300"], user=UID_BASE + 1, group=UID_BASE + 1)
        return self

    def fields(self, project=REPO):
        return {"canary": self.folder, "port": self.tcp.getsockname()[1], "udp": self.udp.getsockname()[1],
                "host_pid": os.getpid(), "child_pid": self.child.pid, "nobody_pid": self.nobody.pid,
                "neighbour_pid": self.neighbour.pid,
                "project": project, "data": SHARED_DATA, "tmp_secret": self.tmp_secret,
                "abstract": self.abstract, "unix_path": self.unix_path}

    def reached(self):
        """How many connections or datagrams reached a server."""
        count = 0
        for server in self.servers:
            while True:
                try:
                    if server.type == socket.SOCK_DGRAM:
                        server.recv(100)
                    else:
                        server.accept()[0].close()
                    count += 1
                except (BlockingIOError, OSError):
                    break
        return count

    def alive_and_running(self, process):
        if process.poll() is not None:
            return False
        state = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "T"

    def __exit__(self, *exc):
        for server in self.servers:
            server.close()
        for process in (self.child, self.nobody, self.neighbour):
            process.kill()
            process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.tmp_secret.unlink(missing_ok=True)
        Path(self.unix_path).unlink(missing_ok=True)
        Path(f"/dev/shm/textgym-pwned-{os.getpid()}").unlink(missing_ok=True)


def _run_hostile_suite(mode, cwd):
    previous = os.environ.get("TEXTGYM_TEST_SECRET")
    os.environ["TEXTGYM_TEST_SECRET"] = SECRET
    old_cwd = os.getcwd()
    os.chdir(cwd)
    try:
        with _Canaries() as canaries:
            box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, memory_mb=512, isolation=mode, audit_hook=False),
                          num_workers=2)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # the uid mode's warning: tested below
                    assert box.isolation == mode
                before_ipc = sandbox_ipc_objects()
                names = list(HOSTILE)
                start = time.monotonic()
                jobs = [CodeJob(HOSTILE[n].format(**canaries.fields()), TESTS) for n in names]
                results = dict(zip(names, box.run(jobs), strict=True))
                elapsed = time.monotonic() - start
                after = run(box, "def f(x): return 2 * x")
            finally:
                box.close()
            state = {
                "elapsed": elapsed, "after": after, "reached": canaries.reached(),
                "child": canaries.alive_and_running(canaries.child),
                "nobody": canaries.alive_and_running(canaries.nobody),
                "neighbour": canaries.alive_and_running(canaries.neighbour),
                "canary": keep.read_text() if (keep := canaries.folder / "keep.txt").exists() else None,
                "canary_files": sorted(p.name for p in canaries.folder.iterdir()),
                "dev_shm": Path(f"/dev/shm/textgym-pwned-{os.getpid()}").exists(),
                "processes": sandbox_processes(exclude=(canaries.neighbour.pid,)),
                "ipc": [o for o in sandbox_ipc_objects() if o not in before_ipc],
            }
    finally:
        os.chdir(old_cwd)
        if previous is None:
            del os.environ["TEXTGYM_TEST_SECRET"]
    return results, state


SUITES = [("namespaces", str(REPO)), ("namespaces", "/"), ("uid", str(REPO))]


@pytest.fixture(scope="module", params=SUITES, ids=["namespaces-repo-cwd", "namespaces-root-cwd", "uid-mode"])
def hostile(request):
    mode, cwd = request.param
    results, state = _run_hostile_suite(mode, cwd)
    return mode, results, state


def test_hostile_suite_is_large_enough():
    assert len(HOSTILE) >= 60


def test_hostile_programs_score_zero_in_time(hostile):
    mode, results, _ = hostile
    for name, result in results.items():
        assert result.pass_rate == 0.0, (mode, name, result)
        assert result.duration_s <= TIMEOUT + 2.0, (mode, name, result.duration_s)
        if name not in READS or mode == "namespaces":  # the uid mode reads world-readable files (it warns so)
            assert SECRET not in result.stdout + result.stderr, (mode, name, result.stdout[:300])
    for name in READS if mode == "namespaces" else ():  # the allow-listed root: no project, data or /tmp file
        assert results[name].outcome == "error" and "FileNotFoundError" in results[name].error, (name, results[name])


def test_hostile_suite_left_the_host_untouched(hostile):
    _, results, state = hostile
    assert state["child"], "a program killed or stopped a root child of the host process"
    assert state["nobody"], "a program killed or stopped a process of another uid"
    assert state["neighbour"], "a program killed or stopped a process in the sandbox's uid range"
    assert state["reached"] == 0, "a program reached a host socket (TCP, UDP, abstract or path unix)"
    assert state["canary"] == "original" and state["canary_files"] == ["keep.txt"]
    assert not state["dev_shm"]
    assert state["processes"] == [], "a program left a process behind"
    assert state["ipc"] == [], "a program left a SysV IPC object behind"
    assert state["elapsed"] < len(HOSTILE) * (TIMEOUT + 2) / 2
    # the outcome names the failure
    assert results["infinite_loop"].outcome == "timeout"
    assert results["memory_bomb"].outcome == "memory"
    assert results["huge_stdout"].outcome == "output_limit" and len(results["huge_stdout"].stdout) <= 1 << 16
    assert results["os_exit_early"].outcome == "exited"
    assert results["deep_recursion"].error.startswith("RecursionError")
    for name in ("always_equal", "int_subclass", "metaclass_eq", "fake_class", "deeply_nested_return",
                 "huge_int_return", "self_referencing_return"):
        assert results[name].reasons[0] == "not_plain", (name, results[name].reasons)
    # the sandbox still works afterwards, and this process is alive to check it
    assert state["after"].passed == (True, True, True)


def test_honest_programs_keep_their_reward_beside_hostile_ones():
    killers = [HOSTILE["kill_everything"], HOSTILE["stop_every_pid"],
               "import os\nfor p in os.listdir('/proc'):\n    try:\n        os.kill(int(p), 9)\n    except Exception:\n"
               "        pass\nimport time\ntime.sleep(0.5)\n"]
    honest = "import time\ntime.sleep(0.1)\ndef f(x):\n    return 2 * x\n"
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, audit_hook=False), num_workers=2)
    try:
        jobs = [CodeJob(p, TESTS) for pair in zip(killers * 2, [honest] * 6, strict=True) for p in pair]
        results = box.run(jobs)
    finally:
        box.close()
    assert [r.pass_rate for r in results[1::2]] == [1.0] * 6
    assert [r.pass_rate for r in results[0::2]] == [0.0] * 6


@pytest.mark.parametrize("isolation", ["namespaces", "uid"])
def test_a_program_that_ends_by_itself_is_never_scored_killed(isolation):
    """The worker reads EOF a moment before the program's process ends; ending it at EOF raced that exit.

    Here the gap is made wide: the program closes its channels (the judge then ends too), then exits on its own
    0.3 s later. It scores as the same program with no gap does, not ``killed``; one that goes on running past
    the limit times out.
    """
    close = "import os, time\nfor fd in (1, 2, 3, 4, 5):  # output, results, the judge's channel\n    os.close(fd)\n"
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, isolation=isolation), num_workers=2)
    try:
        at_once, after_a_gap, never = box.run([CodeJob(close + "os._exit(0)\n", TESTS),
                                               CodeJob(close + "time.sleep(0.3)\nos._exit(0)\n", TESTS),
                                               CodeJob(close + "time.sleep(30)\n", TESTS)])
    finally:
        box.close()
    assert at_once.outcome != "killed"
    assert (after_a_gap.outcome, after_a_gap.reasons) == (at_once.outcome, at_once.reasons)
    assert after_a_gap.duration_s >= 0.3
    assert never.outcome == "timeout" and never.duration_s < TIMEOUT + 1.0


def test_close_during_a_run_returns_cleanly():
    box = Sandbox(SandboxConfig(timeout_s=20), num_workers=2)
    box.isolation  # noqa: B018
    errors = []

    def go():
        try:
            box.run([CodeJob("import time\ntime.sleep(20)\n", TESTS) for _ in range(4)])
        except SandboxError as exc:
            errors.append(exc)

    thread = threading.Thread(target=go)
    thread.start()
    time.sleep(0.5)
    box.close()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(errors) == 1 and "closed during this run" in str(errors[0])
    deadline = time.monotonic() + 3
    while sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes() == []


def test_killing_the_host_kills_every_program():
    script = textwrap.dedent("""
        import sys
        from textgym.scorers.code_exec import CodeJob, Sandbox, SandboxConfig
        box = Sandbox(SandboxConfig(timeout_s=60), num_workers=2)
        box.isolation
        print("started", flush=True)
        box.run([CodeJob("import time\\ntime.sleep(60)\\n", ()) for _ in range(4)])
    """)
    host = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert host.stdout.readline().strip() == "started"
    deadline = time.monotonic() + 10
    while not sandbox_processes() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes(), "the programs did not start"
    os.kill(host.pid, signal.SIGKILL)
    host.wait()
    marker = f'"host_pid": {host.pid}'
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        workers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline_has(p, marker)]
        if not workers and not sandbox_processes():
            break
        time.sleep(0.05)
    assert workers == [] and sandbox_processes() == []


def _cmdline_has(proc, marker):
    try:
        return marker in (proc / "cmdline").read_bytes().decode("utf-8", "replace")
    except OSError:
        return False


def test_kernel_walls_hold_without_the_audit_hook():
    """With the audit hook off, the namespaces, allow-listed root, own uid and rlimits alone stop the attacks."""
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, audit_hook=False), num_workers=1)
    probe = (
        "import os, errno, socket\nout = []\n"
        "def attempt(name, fn):\n"
        "    try:\n        fn()\n        out.append(name + ':allowed')\n"
        "    except OSError as e:\n        out.append(name + ':' + errno.errorcode.get(e.errno, str(e.errno)))\n"
        "attempt('write', lambda: open('/usr/lib/textgym-kernel-probe', 'w'))\n"
        "attempt('write_root', lambda: open('/textgym-kernel-probe', 'w'))\n"
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
    assert verdicts["write"] in {"EROFS", "EACCES"} and verdicts["write_root"] in {"EROFS", "EACCES"}
    assert verdicts["kill"] == "ESRCH"  # the host is not in its PID namespace at all
    assert verdicts["fork"] == "EAGAIN"
    assert verdicts["connect"] in {"ENETUNREACH", "ECONNREFUSED", "EHOSTUNREACH"}
    assert verdicts["chown"] == "EPERM"
    assert not Path("/usr/lib/textgym-kernel-probe").exists()


def test_uid_mode_is_a_uid_of_its_own_with_seccomp():
    box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, isolation="uid", audit_hook=False), num_workers=1)
    with pytest.warns(RuntimeWarning, match="each program runs as a uid of its own.*can read world-readable"):
        assert box.isolation == "uid"
    try:
        probe = "import os, socket\nprint(os.getuid())\ntry:\n    socket.socket()\nexcept OSError as e:\n"
        probe += "    print(e.errno)\n"
        result = box.run([CodeJob(probe, ())])[0]
    finally:
        box.close()
    uid, err = result.stdout.split()
    assert int(uid) >= UID_BASE and int(err) == 1  # EPERM from the seccomp filter


def test_none_mode_warns_by_name():
    with pytest.warns(RuntimeWarning, match="isolation='none': untrusted programs run as your uid"):
        box = Sandbox(SandboxConfig(timeout_s=TIMEOUT, isolation="none"), num_workers=1)
        assert box.isolation == "none"
    try:
        assert run(box, "def f(x): return 2 * x").passed == (True, True, True)
    finally:
        box.close()
