"""Sandbox worker: a clean, stdlib-only process that runs each untrusted program in a fresh, isolated child.

Started by :mod:`textgym.scorers.code_exec` as ``python -I -S _sandbox_worker.py CONFIG_JSON`` with an empty
environment. It reads one JSON job per line on stdin and answers one JSON result per line on stdout. It never
runs untrusted code itself. Per job it forks, by the isolation mode:

- ``namespaces`` (root, as on CI): a relay child that unshares new mount, PID, network, IPC and UTS
  namespaces and forks the program as PID 1 of its namespace (when it ends, the kernel kills everything it
  left). The program sees a root built from an allow-list: the interpreter's standard library and the
  system's shared libraries read-only (site-packages hidden), a minimal ``/dev``, its own ``/proc`` and a
  private size-limited ``/tmp``; no other host path exists in its view, whatever the host's current
  directory. Its network namespace has only a loopback that is down. It then drops to a uid of its own.
- ``uid`` (root where namespaces are refused): the program runs as a uid of its own in the host's
  namespaces, with a seccomp filter refusing sockets, ptrace and namespace calls; after it ends, every
  process, SysV IPC object and temporary file of that uid is removed.
- ``none`` (opt-in by name): the current user, resource limits and an audit hook only.

Every mode sets resource limits (CPU seconds, address space, file size, open files, no core dumps, and
RLIMIT_NPROC = 0: no new processes or threads under the program's own uid), clears the environment and
reads stdin from /dev/null. Each child carries PR_SET_PDEATHSIG, so when this worker dies (it carries the
same towards the host), the programs die too.

**No verdict is computed where the program runs.** A "value" test sends only an expression to the program:
it answers the value as a plain literal (exact builtin types only) and the *host* compares it with the
expected literal, which the program never sees. Any other test ("exec": HumanEval's ``check(candidate)``,
``math.isclose`` asserts, ...) runs in a second isolated child, the *judge*, under another uid: it holds the
trusted code (the prompt's helpers, the test setup and the tests) and reaches the program only through a
pipe that carries plain data, calling its functions by name. The judge's pass/fail records are the only
exec verdicts the host reads; what the program writes on its own channel is read as values, never verdicts.
"""

import ast
import builtins
import collections
import ctypes
import errno
import json
import os
import platform
import resource
import select
import shutil
import signal
import struct
import sys
import sysconfig
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 4, 38, 22
SECCOMP_MODE_FILTER = 2
# fds of a child: 0 /dev/null, 1 stdout, 2 stderr, 3 its record channel to this worker, 4 and 5 the
# program <-> judge pipe (program: 4 requests in, 5 answers out; judge: 4 answers in, 5 requests out),
# 6 the lifeline (EOF there means the relay above it died).
RESULT_FD, RPC_IN, RPC_OUT, LIFELINE = 3, 4, 5, 6
FIRST_PATH_FD = 8  # uid mode: the interpreter's module folders
MAX_RESULT_BYTES = 1 << 20
MAX_DEPTH = 64
EXIT_SETUP, EXIT_BROKEN = 71, 72
DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option, value):
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl({option})")


def _mount(source, target, fstype, flags, data=None):
    _check(
        _libc.mount(
            source.encode() if source else None,
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


# -- plain data ---------------------------------------------------------------------------------------------


def _encoder():
    """A plain-literal encoder bound to the builtins as they are *before* any program runs.

    Only values of the exact types None, bool, int, float, complex, str, bytes, list, tuple, dict (and the
    standard library's Counter, OrderedDict and defaultdict, encoded as dicts), set and frozenset pass
    (``type(v) is int``, never ``isinstance``: a subclass, an object faking ``__class__`` or one with a
    forged ``__eq__`` is refused), read through the builtin types' own methods, nested at most 64 deep;
    anything else raises TypeError.
    """
    _type, _float_repr = type, float.__repr__

    def finite_float(value):
        text = _float_repr(value)
        if text in ("inf", "-inf", "nan"):
            raise TypeError(f"non-finite float {text}")
        return text

    scalars = ((type(None), lambda _: "None"), (bool, bool.__repr__), (int, int.__repr__), (float, finite_float),
               (str, str.__repr__), (bytes, bytes.__repr__), (complex, complex.__repr__))
    list_iter, tuple_iter, dict_items, set_iter, frozenset_iter = (
        list.__iter__, tuple.__iter__, dict.items, set.__iter__, frozenset.__iter__
    )
    # The standard library's own dict subclasses (MBPP's references return Counters), read as dicts; the
    # classes are the genuine ones, captured before any program runs, so a program's subclass is refused.
    dicts = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)

    def encode(value, depth=0):
        if depth > MAX_DEPTH:
            raise TypeError("nested too deeply")
        kind = _type(value)
        for scalar, reader in scalars:  # identity, never ==: a metaclass could answer == for any type
            if kind is scalar:
                return reader(value)
        if kind is list:
            return "[" + ", ".join(encode(v, depth + 1) for v in list_iter(value)) + "]"
        if kind is tuple:
            items = [encode(v, depth + 1) for v in tuple_iter(value)]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if any(kind is d for d in dicts):
            pairs = (f"{encode(k, depth + 1)}: {encode(v, depth + 1)}" for k, v in dict_items(value))
            return "{" + ", ".join(pairs) + "}"
        if kind is set or kind is frozenset:
            items = [encode(v, depth + 1) for v in (set_iter if kind is set else frozenset_iter)(value)]
            if kind is frozenset:
                return "frozenset({" + ", ".join(items) + "})" if items else "frozenset()"
            return "{" + ", ".join(items) + "}" if items else "set()"
        raise TypeError(f"a value of type {kind.__name__} is not plain data")

    return encode


def decode(text):
    """The inverse of the encoder on the trusted side: a literal, or ValueError (``frozenset(...)`` included)."""
    if not isinstance(text, str) or len(text) > MAX_RESULT_BYTES:
        raise ValueError("not a literal")
    try:
        if text.startswith("frozenset(") and text.endswith(")"):
            inner = text[len("frozenset("):-1]
            return frozenset(ast.literal_eval(inner)) if inner else frozenset()
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(f"not a literal: {exc}") from None


def _read_line(fd, buffer):
    """One line from ``fd`` (``buffer`` keeps what came after it); None at EOF or past the size cap."""
    while b"\n" not in buffer:
        if len(buffer) > MAX_RESULT_BYTES:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buffer += chunk
    line, _, rest = bytes(buffer).partition(b"\n")
    buffer[:] = rest
    return line.decode("utf-8", "replace")


# -- the program's side -------------------------------------------------------------------------------------


def _program_main(job):
    """In the program's child: load the program, answer value tests, then serve the judge's calls.

    Nothing here needs to be trusted (the program can rewrite any of it): what it sends are only values.
    The harness keeps its own references so that honest programs that tamper with modules still score.
    """
    write, dumps, exc_name = os.write, json.dumps, (lambda e: type(e).__name__)

    def emit(fd, record):
        write(fd, (dumps(record) + "\n").encode())

    namespace = {"__name__": "__candidate__"}
    try:
        code = compile(job["program"], "<program>", "exec")
        try:
            exec(code, namespace)
            if job.get("setup"):  # after the program, as MBPP's harness does: it may use the program's classes
                exec(compile(job["setup"], "<setup>", "exec"), namespace)
            for name, value in job.get("bind", {}).items():
                namespace[name] = namespace[value]
        except BaseException as exc:  # SystemExit and KeyboardInterrupt from the program count as errors too
            emit(RESULT_FD, {"program_error": exc_name(exc), "message": str(exc)[:300]})
            os._exit(0)
    except BaseException as exc:  # SyntaxError, ValueError (null bytes), MemoryError
        emit(RESULT_FD, {"program_error": exc_name(exc), "message": str(exc)[:300]})
        os._exit(0)
    _answer_value_tests(job["tests"], namespace, _encoder(), emit, exc_name)
    if job.get("judge"):
        _serve_judge(namespace, _encoder(), emit, exc_name)
    os._exit(0)


def _answer_value_tests(tests, namespace, encode, emit, exc_name, _eval=eval):
    for index, test in enumerate(tests):
        if test["kind"] != "value":
            continue
        try:
            value = _eval(test["code"], namespace)
            try:
                record = {"i": index, "ok": True, "value": encode(value)}
            except (TypeError, RecursionError, ValueError) as exc:  # ValueError: int too large to print
                record = {"i": index, "ok": False, "error": "not_plain", "message": str(exc)[:200]}
        except BaseException as exc:
            record = {"i": index, "ok": False, "error": exc_name(exc), "message": str(exc)[:200]}
        emit(RESULT_FD, record)


def _describe(names, namespace, encode):
    answer = {}
    for name in names:
        if name not in namespace:
            answer[name] = ["missing"]
        elif callable(namespace[name]):
            answer[name] = ["callable"]
        else:
            try:
                answer[name] = ["value", encode(namespace[name])]
            except (TypeError, RecursionError, ValueError):
                answer[name] = ["object", type(namespace[name]).__name__]
    return answer


def _serve_judge(namespace, encode, emit, exc_name, loads=json.loads, literal=ast.literal_eval):
    buffer = bytearray()
    while True:  # the judge's requests, until it closes its end
        line = _read_line(RPC_IN, buffer)
        if line is None:
            return
        request = loads(line)
        if request["op"] == "names":
            emit(RPC_OUT, {"names": _describe(request["names"], namespace, encode)})
            continue
        try:
            value = namespace[request["name"]](*literal(request["args"]), **literal(request["kwargs"]))
            try:
                reply = {"ok": True, "value": encode(value)}
            except (TypeError, RecursionError, ValueError) as exc:
                # Only its truth value crosses (``assert f(x)`` on a re.Match): no more than a bool return
                reply = {"ok": False, "not_plain": str(exc)[:200], "type": type(value).__name__,
                         "truth": bool(value)}
        except BaseException as exc:
            reply = {"ok": False, "error": exc_name(exc), "message": str(exc)[:200]}
        emit(RPC_OUT, reply)


# -- the judge's side ---------------------------------------------------------------------------------------


class NotPlain(BaseException):
    """The program answered with something that is not plain data (a BaseException: no test may catch it)."""


class Undecidable(BaseException):
    """The test needs something the judge cannot send to the program as plain data."""


class ProgramGone(BaseException):
    """The program ended (or broke the channel) before answering."""


class _Channel:
    def __init__(self):
        self.buffer = bytearray()
        self.encode = _encoder()

    def ask(self, request):
        try:
            os.write(RPC_OUT, (json.dumps(request) + "\n").encode())
        except OSError:
            raise ProgramGone("the program closed its channel") from None
        line = _read_line(RPC_IN, self.buffer)
        if line is None:
            raise ProgramGone("the program ended before answering")
        try:
            answer = json.loads(line)
        except ValueError:
            raise ProgramGone("the program broke its channel") from None
        if not isinstance(answer, dict):
            raise ProgramGone("the program broke its channel")
        return answer

    def call(self, name, args, kwargs):
        try:
            request = {"op": "call", "name": name, "args": self.encode(tuple(args)), "kwargs": self.encode(kwargs)}
        except TypeError as exc:
            raise Undecidable(f"cannot send to the program: {exc}") from None
        answer = self.ask(request)
        if answer.get("ok") is True:
            try:
                return decode(answer.get("value"))
            except ValueError as exc:
                raise NotPlain(str(exc)) from None
        if "not_plain" in answer:
            if isinstance(answer.get("truth"), bool):
                return _Opaque(f"the result of {name}()", str(answer.get("type")), answer["truth"])
            raise NotPlain(str(answer["not_plain"]))
        name = str(answer.get("error"))
        kind = getattr(builtins, name, None)
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            kind = RuntimeError
        raise kind(str(answer.get("message", "")))


class _Remote:
    """A function of the program, called through the channel with plain-data arguments."""

    def __init__(self, channel, name):
        self._channel, self._name = channel, name

    def __call__(self, *args, **kwargs):
        return self._channel.call(self._name, args, kwargs)

    def __repr__(self):
        return f"<program function {self._name}>"


class _Opaque:
    """A program object that is not plain data: a test may read its truth value, nothing else.

    The truth value was computed by the program, so it is no more than a bool it could have returned; any
    other use raises NotPlain.
    """

    def __init__(self, name, kind, truth=None):
        object.__setattr__(self, "_what", f"{name} (a {kind} of the program)")
        object.__setattr__(self, "_truth", truth)

    def _refuse(self, *args, **kwargs):
        raise NotPlain(f"the test uses {self._what}, which is not plain data")

    def __bool__(self):
        if self._truth is None:
            self._refuse()
        return self._truth

    def __getattr__(self, attribute):
        self._refuse()

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __len__ = __iter__ = __contains__ = _refuse
    __getitem__ = __setattr__ = __call__ = __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __floordiv__ = __mod__ = __pow__ = __neg__ = __abs__ = __int__ = __float__ = __index__ = _refuse
    __str__ = __format__ = __round__ = __and__ = __or__ = __xor__ = __invert__ = __rtruediv__ = _refuse

    def __repr__(self):
        return f"<opaque {self._what}>"


def _free_names(sources):
    names = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.add(node.id)
    return names


def _judge_namespace(job, channel, exec_tests):
    """The judge's namespace: the trusted context and setup, the program's names as remote functions."""
    namespace = {"__name__": "__judge__"}
    bind = job.get("bind", {})
    if job.get("context"):
        exec(compile(job["context"], "<context>", "exec"), namespace)
    for name in [*bind, *bind.values()]:  # the functions the program must write come from it
        namespace.pop(name, None)
    sources = [job.get("setup", ""), *(t["code"] for _, t in exec_tests)]
    asked = sorted(_free_names(sources) - set(namespace) - set(dir(builtins)))
    answer = channel.ask({"op": "names", "names": asked}).get("names", {}) if asked else {}
    for name in asked:
        kind = answer.get(name) if isinstance(answer, dict) else None
        kind = kind if isinstance(kind, list) and kind else ["missing"]
        if kind[0] in ("missing", "object") and name in sys.stdlib_module_names:
            namespace[name] = __import__(name)  # a module the program imported for the tests: the judge's own
        elif kind[0] == "callable":
            namespace[name] = _Remote(channel, name)
        elif kind[0] == "value":
            try:
                namespace[name] = decode(kind[1])
            except (ValueError, IndexError):
                namespace[name] = _Opaque(name, "value")
        elif kind[0] == "object":
            namespace[name] = _Opaque(name, str(kind[1]) if len(kind) > 1 else "object")
    if job.get("setup"):
        exec(compile(job["setup"], "<setup>", "exec"), namespace)
    return namespace


def _judge_main(job):
    """In the judge's child: the trusted code, the exec tests, one verdict record each on RESULT_FD."""

    def emit(record):
        os.write(RESULT_FD, (json.dumps(record) + "\n").encode())

    exec_tests = [(i, t) for i, t in enumerate(job["tests"]) if t["kind"] != "value"]
    try:
        namespace = _judge_namespace(job, _Channel(), exec_tests)
    except BaseException as exc:
        reason = _judge_reason(exc)
        for index, _ in exec_tests:
            emit({"i": index, "ok": False, "error": reason, "message": f"{type(exc).__name__}: {str(exc)[:200]}"})
        os._exit(0)
    for index, test in exec_tests:
        try:
            exec(compile(test["code"], f"<test {index}>", "exec"), namespace)
            record = {"i": index, "ok": True}
        except BaseException as exc:
            record = {"i": index, "ok": False, "error": _judge_reason(exc), "message": str(exc)[:200]}
        emit(record)
    os._exit(0)


def _judge_reason(exc):
    if isinstance(exc, Undecidable):
        return "undecidable"
    if isinstance(exc, NotPlain):
        return "not_plain"
    if isinstance(exc, ProgramGone):
        return "program_gone"
    return type(exc).__name__


# -- isolation ----------------------------------------------------------------------------------------------


SYSTEM_LIBRARIES = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/etc/ld.so.cache")


def _allowed_paths():
    """(paths to bind read-only, paths to hide inside them, symlinks to recreate) for the program's root."""
    paths = sysconfig.get_paths()
    stdlib = {paths["stdlib"], paths["platstdlib"], *(p for p in sys.path if os.path.isdir(p))}
    binds, links = set(), {}
    for path in [*sorted(stdlib), *SYSTEM_LIBRARIES]:
        if os.path.islink(path):
            links[path] = os.readlink(path)
        if os.path.exists(path):
            binds.add(os.path.realpath(path))
    binds = {p for p in binds if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in binds)}
    packages = {paths["purelib"], paths["platlib"], *(os.path.join(p, "site-packages") for p in stdlib)}
    hide = sorted({os.path.realpath(p) for p in packages if os.path.isdir(p)
                   and any(os.path.realpath(p).startswith(b + "/") for b in binds)})
    return sorted(binds), hide, links


def _new_root_point(binds):
    for candidate in ("/mnt", "/media", "/srv", "/opt", "/run", "/tmp"):
        if os.path.isdir(candidate) and not os.path.islink(candidate) and not any(
                b == candidate or b.startswith(candidate + "/") for b in binds):
            return candidate
    raise OSError(errno.ENOENT, "no folder to build the sandbox root on")


def _enter_namespaces(config, uid):
    """In the namespaces' PID 1: build the allow-listed root, enter it, drop to ``uid``."""
    binds, hide, links = config["paths"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    root = config["root_point"]
    _mount("none", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path in binds:
        target = root + path
        if os.path.isdir(path):
            os.makedirs(target, 0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        _mount(path, target, None, MS_BIND | MS_REC)
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for path in hide:
        _mount("none", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
    for link, target in links.items():
        if not os.path.lexists(root + link):
            os.makedirs(os.path.dirname(root + link), 0o755, exist_ok=True)
            os.symlink(target, root + link)
    os.mkdir(root + "/dev", 0o755)
    _mount("none", root + "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEVICES:
        os.close(os.open(f"{root}/dev/{name}", os.O_CREAT | os.O_WRONLY, 0o666))
        _mount(f"/dev/{name}", f"{root}/dev/{name}", None, MS_BIND)
    os.symlink("/proc/self/fd", root + "/dev/fd")
    os.mkdir(root + "/proc", 0o555)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
    os.mkdir(root + "/tmp", 0o1777)
    _mount("none", root + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={config['tmpfs_mb']}m,mode=1777")
    os.mkdir(root + "/tmp/work", 0o700)
    os.chown(root + "/tmp/work", uid, uid)
    os.chdir(root)
    _mount(root, "/", None, MS_MOVE)
    os.chroot(".")
    _mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.chdir("/tmp/work")
    _drop_to(uid)


def _drop_to(uid):
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # a change of credentials clears it: set it again
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


# seccomp for the uid mode: refuse sockets, ptrace and namespace/mount calls with EPERM
_SYSCALLS = {
    "x86_64": (0xC000003E, {"socket": 41, "socketpair": 53, "ptrace": 101, "mount": 165, "umount2": 166,
                            "unshare": 272, "setns": 308, "process_vm_readv": 310, "process_vm_writev": 311,
                            "keyctl": 250, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298}),
    "aarch64": (0xC00000B7, {"socket": 198, "socketpair": 199, "ptrace": 117, "mount": 40, "umount2": 39,
                             "unshare": 97, "setns": 268, "process_vm_readv": 270, "process_vm_writev": 271,
                             "keyctl": 219, "bpf": 280, "userfaultfd": 282, "perf_event_open": 241}),
}


def _seccomp():
    arch, numbers = _SYSCALLS[platform.machine()]
    ld_w_abs, jeq_k, ret_k = 0x20, 0x15, 0x06
    errno_eperm, allow, kill = 0x00050000 | errno.EPERM, 0x7FFF0000, 0x80000000
    program = [(ld_w_abs, 0, 0, 4), (jeq_k, 1, 0, arch), (ret_k, 0, 0, kill), (ld_w_abs, 0, 0, 0)]
    blocked = sorted(numbers.values())
    for index, number in enumerate(blocked):
        program.append((jeq_k, len(blocked) - index, 0, number))
    program += [(ret_k, 0, 0, allow), (ret_k, 0, 0, errno_eperm)]
    raw = b"".join(struct.pack("HBBI", *insn) for insn in program)
    buffer = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(program), ctypes.addressof(buffer))
    fprog_buffer = ctypes.create_string_buffer(fprog)
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, fprog_buffer, 0, 0), "prctl(PR_SET_SECCOMP)")


def _set_limits(config, timeout):
    cpu = int(timeout) + 1
    memory = config["memory_mb"] << 20
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_FSIZE, config["file_bytes"], config["file_bytes"]),
        (resource.RLIMIT_NOFILE, config["open_files"], config["open_files"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, 0, 0),  # no fork, no threads (threads are tasks too); holds for its own uid
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


_BLOCKED_EVENTS = (
    "socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "signal.pthread_kill", "ctypes.", "os.setuid", "os.chroot", "pty.spawn",
)


def _audit_hook(writable_root):
    """Defence in depth only: a program can undo it, so nothing depends on it."""

    def hook(event, args):
        if event.startswith(_BLOCKED_EVENTS):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and len(args) > 1 and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (mode and any(c in str(mode) for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR)
            if writing and not os.path.realpath(os.fsdecode(args[0])).startswith(writable_root):
                raise PermissionError(f"sandbox: writing {args[0]!r} is not allowed")

    return hook


def _layout(fds):
    """Put ``fds`` ({target: source}) at their numbers and close everything else."""
    moved = {target: os.dup(source) for target, source in fds.items()}
    for target, source in moved.items():
        os.dup2(source, target)
    os.closerange(max(fds) + 1, 1 << 16)


def _module_paths_by_fd():
    """Uid mode: open the interpreter's module folders while still root; import through ``/proc/self/fd/N``.

    The interpreter may live where the program's uid cannot look (a pyenv under /root, mode 0700).
    """
    moved = {}
    for path in [p for p in sys.path if os.path.isdir(p)]:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        target = FIRST_PATH_FD + len(moved)
        os.dup2(fd, target)
        os.close(fd)
        moved[path] = f"/proc/self/fd/{target}"
    sys.path[:] = list(moved.values())
    for module in list(sys.modules.values()):  # packages already imported look for submodules in __path__
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            package_path += [m + p[len(o):] for p in list(package_path) for o, m in moved.items() if p.startswith(o)]
    sys.path_importer_cache.clear()


def _become(role, job, config, uid, workdir):
    """The last steps of every mode's child, then the role's main (never returns)."""
    os.environ.clear()
    sys.argv[:] = ["<program>"]
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    sys.stdin = open(0, closefd=False)
    _set_limits(config, job["timeout"])
    sys.setrecursionlimit(2000)
    if config["audit_hook"]:
        sys.addaudithook(_audit_hook(workdir))
    try:
        (_program_main if role == "program" else _judge_main)(job)
    except BaseException:  # the program broke the harness (closed its channel, ...): it ended the run
        os._exit(EXIT_BROKEN)


def _child(role, job, config, mode, fds, uid, worker_pid):
    """Runs in the forked child (never returns): isolate by ``mode``, then become ``role``."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != worker_pid:  # the worker died before the line above
        os._exit(EXIT_SETUP)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    if mode != "namespaces":
        _layout({0: null, **fds})
        if mode == "uid":
            workdir = f"{config['scratch']}/{uid}"
            os.chdir(workdir)
            _module_paths_by_fd()
            _drop_to(uid)
            _prctl(PR_SET_DUMPABLE, 1)  # so that it may open its own /proc/self/fd/N (core dumps stay off)
            if os.getppid() != worker_pid:
                os._exit(EXIT_SETUP)
            _seccomp()
        else:
            workdir = config["scratch"]
            os.chdir(workdir)
        _become(role, job, config, uid, workdir)
    life_r, life_w = os.pipe()
    _layout({0: null, **fds, LIFELINE: life_r, 7: life_w})
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    pid = os.fork()
    if pid == 0:  # PID 1 of the new namespaces; a setup error goes up to _spawn, which reports it
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        os.close(7)
        _enter_namespaces(config, uid)
        os.set_blocking(LIFELINE, False)
        try:
            alive = os.read(LIFELINE, 1) != b""
        except BlockingIOError:
            alive = True
        if not alive:  # the relay died before PR_SET_PDEATHSIG was set again
            os._exit(EXIT_SETUP)
        os.close(LIFELINE)
        _become(role, job, config, uid, "/tmp")
    # The relay. The worker ends a run with SIGTERM here as soon as it reads EOF on the child's channels, so
    # the handler goes in before the relay closes its copies of them: installed after, a program that ends
    # within that gap (a syntax error, under load) saw the relay die of SIGTERM and scored "killed". The
    # child stays unreaped (WNOWAIT) while the handler may fire, so its pid cannot have been reused when the
    # handler kills it.
    signal.signal(signal.SIGTERM, lambda *_: os.kill(pid, signal.SIGKILL))
    for fd in range(1, LIFELINE + 1):  # so that EOF comes when the child ends
        os.close(fd)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(min(os.WEXITSTATUS(status), 127))


def _spawn(role, job, config, mode, fds, uid):
    worker_pid = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            _child(role, job, config, mode, fds, uid, worker_pid)
        except BaseException as exc:  # setup failed: report it, never run the program
            try:
                os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
            finally:
                os._exit(EXIT_SETUP)
        os._exit(EXIT_SETUP)
    return pid


def _wait_for_exit(pid, deadline):
    """Whether child ``pid`` ended by ``deadline`` (it stays unreaped, for :func:`_reap`).

    A program closes its channels (so the worker reads EOF) a moment before its process ends; ending it at
    EOF raced its own exit and sometimes scored an honest program that exited by itself as ``killed``.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (kernel < 5.3): poll
        while time.monotonic() < deadline:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            time.sleep(0.001)
        return False
    try:
        return bool(select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0])
    finally:
        os.close(fd)


def _reap(pid, mode):
    """End a child and everything it left; returns its exit status as (signal or None, code)."""
    try:
        os.kill(pid, signal.SIGTERM if mode == "namespaces" else signal.SIGKILL)
    except ProcessLookupError:
        pass
    if mode != "namespaces":
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return os.WTERMSIG(status), None
    code = os.WEXITSTATUS(status)
    if mode == "namespaces" and code > 128:
        return code - 128, None
    return None, code


def _clean_uid(uid, scratch):
    """Uid mode: kill every process of ``uid``, remove its SysV IPC objects and its files in shared folders."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)  # every process this uid may signal: its own
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)
    _remove_ipc(uid)
    for folder in ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue"):
        _remove_files_of(uid, folder)
    workdir = f"{scratch}/{uid}"
    shutil.rmtree(workdir, ignore_errors=True)
    os.mkdir(workdir, 0o700)
    os.chown(workdir, uid, uid)


def _remove_ipc(uid):
    removers = {"shm": ("shmid", lambda i: _libc.shmctl(i, 0, None)),  # 0 = IPC_RMID
                "sem": ("semid", lambda i: _libc.semctl(i, 0, 0)),
                "msg": ("msqid", lambda i: _libc.msgctl(i, 0, None))}
    for kind, (key, remove) in removers.items():
        try:
            with open(f"/proc/sysvipc/{kind}") as handle:
                header, *rows = handle.read().splitlines()
        except OSError:
            continue
        for row in rows:
            values = dict(zip(header.split(), row.split(), strict=False))
            if uid in (int(values.get("uid", -1)), int(values.get("cuid", -1))):
                remove(int(values[key]))


def _remove_files_of(uid, folder):
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)  # fd-based: safe against symlink races
            else:
                os.unlink(entry.path)
        except OSError:
            pass


def _read_until(fds, deadline, caps, flood_fds):
    """Drain pipes until EOF on all or the deadline; returns (buffers, timed_out, flooded)."""
    buffers = {fd: bytearray() for fd in fds}
    totals = dict.fromkeys(fds, 0)
    open_fds = set(fds)
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return buffers, True, False
        ready, _, _ = select.select(list(open_fds), [], [], remaining)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                open_fds.discard(fd)
                continue
            totals[fd] += len(chunk)
            room = caps[fd] - len(buffers[fd])
            if room > 0:
                buffers[fd] += chunk[:room]
            if totals[fd] > caps[fd]:
                if fd in flood_fds:
                    return buffers, False, True
                open_fds.discard(fd)  # a judge's output past its cap: stop reading it
    return buffers, False, False


def run_job(job, config, mode, uids):
    """Run ``job``'s program (and its judge, if it has exec tests) and collect what they answered."""
    judge = any(t["kind"] != "value" for t in job["tests"])
    job = {**job, "judge": judge}
    start = time.monotonic()
    p_out, p_err, p_res = os.pipe(), os.pipe(), os.pipe()
    fds = {1: p_out[1], 2: p_err[1], 3: p_res[1]}
    mine = [p_out[0], p_err[0], p_res[0]]
    theirs = [p_out[1], p_err[1], p_res[1]]
    j_pipes = None
    if judge:
        to_program, to_judge, j_res, j_err = os.pipe(), os.pipe(), os.pipe(), os.pipe()
        fds.update({RPC_IN: to_program[0], RPC_OUT: to_judge[1]})
        j_pipes = {1: j_err[1], 2: j_err[1], 3: j_res[1], RPC_IN: to_judge[0], RPC_OUT: to_program[1]}
        mine += [j_res[0], j_err[0]]
        theirs += [to_program[0], to_program[1], to_judge[0], to_judge[1], j_res[1], j_err[1]]
    program = _spawn("program", job, config, mode, fds, uids[0])
    judge_pid = _spawn("judge", job, config, mode, j_pipes, uids[1]) if judge else None
    for fd in theirs:
        os.close(fd)
    caps = dict.fromkeys(mine, MAX_RESULT_BYTES)
    caps[p_out[0]] = caps[p_err[0]] = config["output_bytes"]
    deadline = start + job["timeout"]
    buffers, timed_out, flooded = _read_until(mine, deadline, caps, {p_out[0], p_err[0]})
    if not (timed_out or flooded) and not _wait_for_exit(program, deadline):
        timed_out = True  # it closed its channels and went on running
    sig, code = _reap(program, mode)
    if judge_pid is not None:
        _reap(judge_pid, mode)
    if mode == "uid":
        for uid in uids[: 2 if judge else 1]:
            _clean_uid(uid, config["scratch"])
    duration = time.monotonic() - start
    for fd in mine:
        os.close(fd)
    if timed_out:
        outcome = "timeout"
    elif flooded:
        outcome = "output_limit"
    elif sig is not None:
        outcome = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "file_size"}.get(sig, "killed")
    elif code == EXIT_SETUP:
        outcome = "sandbox_error"
    else:
        outcome = "exited" if code != 0 else "ok"
    text = lambda fd: bytes(buffers[fd]).decode("utf-8", "replace")  # noqa: E731
    return {
        "outcome": outcome,
        "results": text(p_res[0]),
        "verdicts": text(j_res[0]) if judge else "",
        "judge_stderr": text(j_err[0])[-2000:] if judge else "",
        "stdout": text(p_out[0]),
        "stderr": text(p_err[0]),
        "duration": duration,
    }


def _probe(config, mode, uids):
    """Whether ``mode`` works here: one trivial job, checked end to end."""
    job = {"program": "def f():\n    return 1\n", "setup": "", "bind": {}, "context": "", "timeout": 10.0,
           "tests": [{"kind": "value", "code": "f()"}, {"kind": "exec", "code": "assert f() == 1"}]}
    try:
        if mode == "uid":
            _clean_uid(uids[0], config["scratch"])
            _clean_uid(uids[1], config["scratch"])
        raw = run_job(job, config, mode, uids)
    except OSError as exc:
        return repr(exc)
    if raw["outcome"] == "ok" and '"value": "1"' in raw["results"] and '"ok": true' in raw["verdicts"]:
        return ""
    return (raw["stderr"] or raw["judge_stderr"] or raw["outcome"]).strip()[-300:]


def main():
    """Serve jobs from stdin until EOF."""
    config = json.loads(sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the process group: the host decides
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the host process
    if os.getppid() != config["host_pid"]:
        os._exit(1)
    base = config["uid_base"] + 2 * os.getpid()  # unique among live workers: a program's uid is its own
    uids = (base, base + 1)
    config["paths"] = _allowed_paths()
    wanted = config["isolation"]
    chosen, reasons = None, []
    for mode in ("namespaces", "uid") if wanted == "auto" else (wanted,):
        if mode == "uid" and os.geteuid() != 0:
            reasons.append("uid: not root, so no other uid to drop to")
            continue
        try:
            if mode == "namespaces":
                config["root_point"] = _new_root_point(config["paths"][0])
            else:
                config["scratch"] = f"/tmp/textgym-sandbox-{os.getpid()}"
                shutil.rmtree(config["scratch"], ignore_errors=True)
                os.mkdir(config["scratch"], 0o711 if mode == "uid" else 0o700)
            reason = _probe(config, mode, uids)
        except OSError as exc:
            reason = repr(exc)
        if not reason:
            chosen = mode
            break
        reasons.append(f"{mode}: {reason}")
    sys.stdout.write(json.dumps({"isolation": chosen, "reason": "; ".join(reasons)}) + "\n")
    sys.stdout.flush()
    if chosen is None:
        return
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.write(json.dumps(run_job(job, config, chosen, uids)) + "\n")
        sys.stdout.flush()
    if chosen in ("uid", "none"):
        shutil.rmtree(config["scratch"], ignore_errors=True)


if __name__ == "__main__":
    main()
