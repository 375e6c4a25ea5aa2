"""Sandbox worker: a clean, stdlib-only process that forks one isolated child per untrusted program.

Started by :mod:`textgym.scorers.code_exec` as ``python -I -S _sandbox_worker.py CONFIG_JSON`` with an empty
environment. It reads one JSON job per line on stdin and answers one JSON result per line on stdout. It never
runs untrusted code itself: each job runs in a fresh forked child that, before touching the program,

1. starts a new session (its own process group, so a timeout kills the whole group);
2. where the kernel allows (root, or user namespaces): enters new mount and network namespaces, makes every
   mount private and read-only, hides the project folders behind empty read-only tmpfs mounts, mounts a
   small writable tmpfs on /tmp as its only writable place, and drops to an unprivileged uid/gid;
   the new network namespace has only a loopback that is down, so no socket reaches anything;
3. otherwise (the documented fallback): stays in the caller's namespaces and relies on the resource limits
   plus a Python audit hook that refuses sockets, new processes, signals, ctypes and writes outside /tmp;
4. sets resource limits (CPU seconds, address space, file size, open files, no core dumps, no new processes
   or threads via RLIMIT_NPROC = 0, which holds for root too once the uid is dropped);
5. clears the environment, reads stdin from /dev/null and writes stdout/stderr to capped pipes.

The program then runs in a fresh namespace, followed by its tests. A "value" test sends only an expression
to the child: the child returns the value's literal form (exact builtin types only, so no object with a
forged ``__eq__`` passes) and the *host* compares it with the expected literal, which the child never sees.
Results are written line by line on a dedicated pipe, so a timeout keeps the tests finished before it.
"""

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
RESULT_FD = 3
MAX_RESULT_BYTES = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret, what):
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


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


def _mount_points():
    with open("/proc/self/mountinfo") as handle:
        points = [line.split()[4] for line in handle]
    # octal escapes (\040 for a space) as the kernel writes them
    return [p.encode().decode("unicode_escape") for p in points]


def _isolate_namespaces(config):
    """Steps 2 of the module docstring; raises OSError where the kernel refuses."""
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare(CLONE_NEWNS|CLONE_NEWNET)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    for path in config["hide"]:
        try:
            _mount("none", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
        except OSError:
            pass  # already hidden by a parent, or gone
    _mount("none", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={config['tmpfs_mb']}m,mode=1777")
    # The interpreter may live where the unprivileged uid cannot look (a pyenv under /root, mode 0700):
    # bind its module folders under /tmp/.python (made read-only below) and search them there.
    os.mkdir("/tmp/.python", 0o755)
    moved = {}
    for index, path in enumerate(p for p in list(sys.path) if os.path.isdir(p)):
        moved[path] = target = f"/tmp/.python/{index}"
        os.mkdir(target, 0o755)
        _mount(path, target, None, MS_BIND | MS_REC)
        sys.path.append(target)
    for module in list(sys.modules.values()):  # packages already imported look for submodules in __path__
        package_path = getattr(module, "__path__", None)
        if isinstance(package_path, list):
            package_path += [m + p[len(o):] for p in list(package_path) for o, m in moved.items() if p.startswith(o)]
    for point in _mount_points():
        if point == "/tmp" or point in config["hide"]:
            continue
        try:
            _mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID)
        except OSError:
            # A mount the kernel will not remount (rare pseudo filesystems); the dropped uid and
            # file permissions still hold there.
            pass
    work = "/tmp/work"
    os.mkdir(work, 0o700)
    os.chown(work, config["uid"], config["uid"])
    os.chdir(work)
    os.setgroups([])
    os.setgid(config["uid"])
    os.setuid(config["uid"])


_BLOCKED_EVENTS = (
    "socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
    "os.kill", "os.killpg", "signal.pthread_kill", "ctypes.", "os.setuid", "os.chroot", "pty.spawn",
)


def _audit_hook(writable_root):
    def hook(event, args):
        if event.startswith(_BLOCKED_EVENTS):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and len(args) > 1 and args[0] is not None and not isinstance(args[0], int):
            mode, flags = args[1], args[2] if len(args) > 2 else 0
            writing = (mode and any(c in str(mode) for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR)
            if writing and not os.path.realpath(os.fsdecode(args[0])).startswith(writable_root):
                raise PermissionError(f"sandbox: writing {args[0]!r} is not allowed")
        if event in ("os.remove", "os.rename", "os.rmdir", "shutil.rmtree", "os.chmod", "os.chown"):
            path = args[0] if args else None
            if isinstance(path, (str, bytes)) and not os.path.realpath(os.fsdecode(path)).startswith(writable_root):
                raise PermissionError(f"sandbox: {event} outside {writable_root} is not allowed")

    return hook


def _set_limits(config, timeout):
    cpu = int(timeout) + 1
    memory = config["memory_mb"] << 20
    limits = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),
        (resource.RLIMIT_AS, memory, memory),
        (resource.RLIMIT_FSIZE, config["file_bytes"], config["file_bytes"]),
        (resource.RLIMIT_NOFILE, config["open_files"], config["open_files"]),
        (resource.RLIMIT_CORE, 0, 0),
        (resource.RLIMIT_NPROC, 0, 0),  # no fork, no threads (threads are tasks too)
    ]
    for which, soft, hard in limits:
        resource.setrlimit(which, (soft, hard))


def _encoder():
    """A literal encoder bound to the builtins as they are *before* the program runs.

    Values are read through the builtin types' own methods (``int.__repr__``, ``dict.items``, ...), never
    through the object's, so a subclass (``Counter``, a namedtuple, or a hostile ``int`` whose ``__eq__``
    always says yes) is encoded as its genuine contents; anything else is rejected.
    """
    _isinstance, _type, _float_repr = isinstance, type, float.__repr__
    readers = [
        (bool, bool.__repr__), (int, int.__repr__), (str, str.__repr__), (bytes, bytes.__repr__),
        (complex, complex.__repr__),
    ]
    list_iter, tuple_iter, dict_items, set_iter, frozenset_iter = (
        list.__iter__, tuple.__iter__, dict.items, set.__iter__, frozenset.__iter__
    )

    def encode(value, depth=0):
        if depth > 64:
            raise ValueError("nested too deeply")
        if value is None:
            return "None"
        if _isinstance(value, float):
            text = _float_repr(value)
            if text in ("inf", "-inf", "nan"):
                raise ValueError(f"non-finite float {text}")
            return text
        for base, reader in readers:
            if _isinstance(value, base):
                return reader(value)
        if _isinstance(value, list):
            return "[" + ", ".join(encode(v, depth + 1) for v in list_iter(value)) + "]"
        if _isinstance(value, tuple):
            items = [encode(v, depth + 1) for v in tuple_iter(value)]
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
        if _isinstance(value, dict):
            pairs = (f"{encode(k, depth + 1)}: {encode(v, depth + 1)}" for k, v in dict_items(value))
            return "{" + ", ".join(pairs) + "}"
        if _isinstance(value, (set, frozenset)):
            items = [encode(v, depth + 1) for v in (set_iter if _isinstance(value, set) else frozenset_iter)(value)]
            return "{" + ", ".join(items) + "}" if items else "set()"
        raise TypeError(f"return value of type {_type(value).__name__} is not a plain literal")

    return encode


def _harness(job):
    """Runs in the isolated child: the program, then each test; one result line per test on RESULT_FD."""
    write, dumps, exc_name = os.write, json.dumps, (lambda e: type(e).__name__)
    encode, _exec, _eval, _compile, _exit = _encoder(), exec, eval, compile, os._exit

    def emit(record):
        write(RESULT_FD, (dumps(record) + "\n").encode())

    namespace = {"__name__": "__candidate__"}
    try:
        code = _compile(job["program"], "<program>", "exec")
    except BaseException as exc:  # SyntaxError, ValueError (null bytes), MemoryError
        emit({"program_error": exc_name(exc), "message": str(exc)[:300]})
        _exit(0)
    try:
        _exec(code, namespace)
        if job.get("setup"):  # after the program, as MBPP's harness does: its setup may use the program's classes
            _exec(_compile(job["setup"], "<setup>", "exec"), namespace)
        for name, value in job.get("bind", {}).items():
            namespace[name] = namespace[value]
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from the program count as errors too
        emit({"program_error": exc_name(exc), "message": str(exc)[:300]})
        _exit(0)
    for index, test in enumerate(job["tests"]):
        try:
            if test["kind"] == "value":
                record = {"i": index, "ok": True, "value": encode(_eval(test["code"], namespace))}
            else:
                _exec(test["code"], namespace)
                record = {"i": index, "ok": True}
        except BaseException as exc:
            record = {"i": index, "ok": False, "error": exc_name(exc), "message": str(exc)[:200]}
        emit(record)
    _exit(0)


def _child(job, config, isolation, fds):
    out_w, err_w, res_w = fds
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.dup2(res_w, RESULT_FD)
    os.closerange(RESULT_FD + 1, 1 << 16)
    sys.stdout = open(1, "w", closefd=False, buffering=1)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    sys.stdin = open(0, closefd=False)
    if isolation == "namespaces":
        _isolate_namespaces(config)
    else:
        os.makedirs(config["fallback_dir"], exist_ok=True)
        os.chdir(config["fallback_dir"])
    os.environ.clear()
    sys.argv[:] = ["<program>"]
    _set_limits(config, job["timeout"])
    sys.setrecursionlimit(2000)
    if isolation != "namespaces":
        sys.addaudithook(_audit_hook(config["fallback_dir"]))
    elif config["audit_hook"]:
        sys.addaudithook(_audit_hook("/tmp"))  # defence in depth: the same rules inside the namespaces
    try:
        _harness(job)
    except BaseException:  # the program broke the harness (closed its result pipe, ...): it ended the run
        os._exit(72)


def _read_until(fds, deadline, caps):
    """Drain the child's pipes until EOF or the deadline; returns (buffers, totals, timed_out, flooded)."""
    buffers = {fd: bytearray() for fd in fds}
    totals = dict.fromkeys(fds, 0)
    open_fds = set(fds)
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return buffers, totals, True, False
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
                return buffers, totals, False, True
    return buffers, totals, False, False


def run_job(job, config, isolation):
    """Fork an isolated child for ``job`` and collect its results."""
    pipes = [os.pipe() for _ in range(3)]
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # child
        try:
            for r, _ in pipes:
                os.close(r)
            _child(job, config, isolation, [w for _, w in pipes])
        except BaseException as exc:  # setup failed: report it, never run the program
            try:
                os.write(2, f"sandbox setup failed: {exc!r}\n".encode())
            finally:
                os._exit(71)
        os._exit(0)
    for _, w in pipes:
        os.close(w)
    out_r, err_r, res_r = (r for r, _ in pipes)
    caps = {out_r: config["output_bytes"], err_r: config["output_bytes"], res_r: MAX_RESULT_BYTES}
    buffers, _totals, timed_out, flooded = _read_until([out_r, err_r, res_r], start + job["timeout"], caps)
    try:
        os.killpg(pid, signal.SIGKILL)  # the whole group, whatever it left behind
    except (ProcessLookupError, PermissionError):
        pass
    _, status = os.waitpid(pid, 0)
    duration = time.monotonic() - start
    for r in (out_r, err_r, res_r):
        os.close(r)
    if timed_out:
        outcome = "timeout"
    elif flooded:
        outcome = "output_limit"
    elif os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        outcome = {signal.SIGXCPU: "timeout", signal.SIGXFSZ: "file_size"}.get(sig, "killed")
    elif os.WEXITSTATUS(status) == 71:
        outcome = "sandbox_error"
    elif os.WEXITSTATUS(status) == 72:
        outcome = "exited"
    else:
        outcome = "exited" if os.WEXITSTATUS(status) != 0 else "ok"
    return {
        "outcome": outcome,
        "returncode": os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status),
        "results": bytes(buffers[res_r]).decode("utf-8", "replace"),
        "stdout": bytes(buffers[out_r]).decode("utf-8", "replace"),
        "stderr": bytes(buffers[err_r]).decode("utf-8", "replace"),
        "duration": duration,
    }


def probe(config):
    """Whether namespace isolation works here: try it in a throwaway child."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            _isolate_namespaces(config)
            os.write(w, b"ok")
        except BaseException as exc:
            os.write(w, repr(exc).encode()[:300])
        os._exit(0)
    os.close(w)
    answer = os.read(r, 400).decode()
    os.close(r)
    os.waitpid(pid, 0)
    return ("namespaces", "") if answer == "ok" else ("fallback", answer)


def main():
    """Serve jobs from stdin until EOF."""
    config = json.loads(sys.argv[1])
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the host process
    except AttributeError:
        pass
    if config["isolation"] == "fallback":
        isolation, reason = "fallback", "requested"
    else:
        isolation, reason = probe(config)
    sys.stdout.write(json.dumps({"isolation": isolation, "reason": reason}) + "\n")
    sys.stdout.flush()
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.write(json.dumps(run_job(job, config, isolation)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
