"""Run a Python program on one or more tests in a sandbox, with limits, and say what happened to each.

Statuses: `passed` / `wrong_answer` (the program exited 0 and its stdout was compared with `expected`),
`ok` (exited 0, nothing to compare), `runtime_error` (non-zero exit; stderr holds the trace),
`time_limit` (wall clock, or the CPU seconds ran out), `memory_limit` (MemoryError or an allocation failure
under the address-space limit), `output_limit` (stdout + stderr passed `output_bytes`: the program is killed
there), `sandbox_failure` (the sandbox could not run the test: not the program's doing).

One sandbox per program: `run_program` starts a sandbox, hands it the source and all the tests, and the
runner inside (`_runner.py`) forks a fresh process per test, sets its limits before the program's first
line (address space, processes, file size, open files, CPU: rlimits, soft = hard), enforces the wall clock
and the output cap, and after the test kills everything the test left behind. Tests of one program share
only its sandbox (its /tmp); different programs never share anything. This process also keeps a clock on
the whole sandbox and on the gap between results, so a program cannot buy itself time by tampering with
the runner.

`time_s` is the test's wall time measured in the sandbox, from the fork to the exit; `memory_mb` is its
peak resident set size (ru_maxrss from `wait4`, which includes the children the program reaped itself).
"""

from __future__ import annotations

import math
import os
import selectors
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from rlpr.sandbox.bwrap import NOBODY, Sandbox, SandboxConfig, get_sandbox

STATUSES = ("passed", "wrong_answer", "ok", "runtime_error", "time_limit", "memory_limit", "output_limit",
            "sandbox_failure")  # fmt: skip
PYTHON_FLAGS = ("-I", "-S")  # isolated mode (no env vars, no user site, no cwd on sys.path); no `site` import
TRACE_CHARS = 4000  # stderr kept in a result: the head and the tail around a cut
MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "out of memory", "std::bad_alloc")
SETUP_S = 5.0  # the sandbox's own start and end, on top of the tests' wall limits
SLACK_S = 1.0  # how late a test's result may arrive, past its wall limit, before this process calls it late


@dataclass
class Limits:
    wall_s: float = 10.0  # wall clock per test
    cpu_s: float | None = None  # CPU seconds (SIGXCPU); None: the wall limit rounded up, plus 1
    memory_mb: int = 1024  # address space of each process
    processes: int = 64  # processes and threads in the sandbox, its runner included
    file_size_mb: int = 16  # largest file the program may write (into its private /tmp)
    open_files: int = 64
    output_bytes: int = 1 << 20  # stdout + stderr together

    def cpu_limit(self) -> int:
        return math.ceil(self.cpu_s if self.cpu_s is not None else math.ceil(self.wall_s) + 1)


@dataclass
class RunResult:
    status: str  # one of STATUSES
    exit_code: int | None  # the program's (128 + N for signal N); None: a limit ended it here, or no run
    stdout: str
    stderr: str  # trimmed to about TRACE_CHARS
    time_s: float  # wall time of the test, see the module docstring
    memory_mb: float  # peak RSS, see the module docstring

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass
class Job:
    source: str
    stdin: str = ""
    expected: str | None = None
    limits: Limits | None = None  # None: the caller's default
    compare: Callable[[str, str], bool] | None = None  # None: whitespace-token equality


def tokens_equal(output: str, expected: str) -> bool:
    """Default comparison: the same whitespace-separated tokens."""
    return output.split() == expected.split()


def run_python(
    source: str,
    stdin: str = "",
    limits: Limits | None = None,
    expected: str | None = None,
    compare: Callable[[str, str], bool] | None = None,
    config: SandboxConfig | None = None,
) -> RunResult:
    """Run `source` as `__main__` in a fresh sandbox with `stdin` on standard input.

    With `expected`, a clean exit is `passed` if `compare(stdout, expected)` (default: `tokens_equal`), else
    `wrong_answer`. Raises SandboxUnavailable if no sandbox can be made and unsandboxed runs were not
    allowed; never raises because of what the program does.
    """
    return run_program(get_sandbox(config), [Job(source, stdin, expected, limits, compare)])[0]


def run_program(sandbox: Sandbox, jobs: list[Job], limits: Limits | None = None) -> list[RunResult]:
    """Run jobs that share one source in one sandbox, a fresh process per job; results in order.

    `limits` is the default for jobs without their own.
    """
    if not jobs:
        return []
    if any(job.source != jobs[0].source for job in jobs):
        raise ValueError("run_program runs one program: all jobs must have the same source")
    each = [job.limits or limits or Limits() for job in jobs]
    try:
        session = _session(sandbox, _request(jobs, each), each)
    except OSError as exc:  # could not even start bwrap
        message = f"could not start the sandbox: {exc}"
        return [RunResult("sandbox_failure", None, "", message, 0.0, 0.0) for _ in jobs]
    return [_result(session, k, job, lim) for k, (job, lim) in enumerate(zip(jobs, each))]


def trim(text: str, limit: int = TRACE_CHARS) -> str:
    """Keep the first quarter and the last three quarters of `limit` characters of a long text."""
    if len(text) <= limit:
        return text
    head, tail = limit // 4, limit - limit // 4
    return f"{text[:head]}\n... [{len(text) - head - tail} characters cut] ...\n{text[-tail:]}"


@dataclass
class _Frame:
    """One test's report from the runner (see `_runner.py`)."""

    exit_code: int
    killed: int  # 0 no, 1 wall clock, 2 output cap, 3 the runner could not run it
    time_s: float
    peak_kb: int
    cpu_s: float
    stdout: bytes
    stderr: bytes
    late: bool = False  # arrived more than wall + SLACK_S after the previous one


@dataclass
class _Session:
    alive: bool  # the runner started and read the request
    frames: list[_Frame]
    killed: bool  # this process killed the sandbox (it ran past all its time)
    exit_code: int
    diagnostics: str  # bwrap's own stdout and stderr (where a failure to start shows)


def _result(session: _Session, k: int, job: Job, limits: Limits) -> RunResult:
    if k >= len(session.frames):
        if session.alive and session.killed:
            return RunResult("time_limit", None, "", "", limits.wall_s, 0.0)
        why = "the sandbox did not start" if not session.alive else "the sandbox stopped before this test"
        message = f"{why} (exit code {session.exit_code}): {session.diagnostics.strip()}"
        return RunResult("sandbox_failure", None, "", trim(message), 0.0, 0.0)
    frame = session.frames[k]
    stdout = frame.stdout.decode("utf-8", "replace")
    stderr = frame.stderr.decode("utf-8", "replace")
    memory_mb = round(frame.peak_kb / 1024, 1)
    status = _status(frame, stdout, stderr, limits, job.expected, job.compare or tokens_equal)
    exit_code = None if frame.killed else frame.exit_code
    return RunResult(status, exit_code, stdout, trim(stderr), round(frame.time_s, 4), memory_mb)


def _status(frame: _Frame, stdout: str, stderr: str, limits: Limits, expected, compare) -> str:
    if frame.killed == 3:
        return "sandbox_failure"
    if frame.killed == 2:
        return "output_limit"
    ran_out = frame.exit_code == 128 + signal.SIGXCPU or frame.cpu_s >= limits.cpu_limit()
    if frame.killed == 1 or frame.late or ran_out:
        return "time_limit"
    if frame.exit_code != 0:
        tail = stderr[-2000:]
        return "memory_limit" if any(sign in tail for sign in MEMORY_SIGNS) else "runtime_error"
    if expected is None:
        return "ok"
    return "passed" if compare(stdout, expected) else "wrong_answer"


def _request(jobs: list[Job], limits: list[Limits]) -> bytes:
    source = jobs[0].source.encode("utf-8", "replace")
    parts = [f"{len(source)} {len(jobs)}\n".encode(), source]
    for job, lim in zip(jobs, limits):
        stdin = job.stdin.encode("utf-8", "replace")
        fields = [len(stdin), math.ceil(lim.wall_s * 1000), lim.cpu_limit(), lim.memory_mb << 20, lim.processes,
                  lim.file_size_mb << 20, lim.open_files, lim.output_bytes]  # fmt: skip
        parts += [(" ".join(map(str, fields)) + "\n").encode(), stdin]
    return b"".join(parts)


def _bootstrap(sandbox: Sandbox) -> str:
    """The `-c` code that starts the runner from its (byte-compiled) module."""
    path = repr(sandbox.runner_dir)
    return f"import sys; sys.path.insert(0, {path}); import _runner; del sys.path[0]; _runner.main()"


def _session(sandbox: Sandbox, request: bytes, limits: list[Limits]) -> _Session:
    """Start the sandbox, send it the request, collect the runner's reports until it ends or time is up."""
    host, child = socket.socketpair()
    argv = [*sandbox.argv, *PYTHON_FLAGS, "-c", _bootstrap(sandbox), str(child.fileno())]
    ids = {}
    if sandbox.run_as is not None:  # no setpriv: Popen switches user itself (forking this whole process)
        ids = {"user": sandbox.run_as, "group": sandbox.run_as, "extra_groups": []}
    workdir = None if sandbox.isolated else tempfile.TemporaryDirectory(prefix="rlpr-unsandboxed-")
    try:
        if workdir is not None and os.geteuid() == 0:
            os.chown(workdir.name, NOBODY, NOBODY)
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(child.fileno(),), env={"PATH": "/usr/bin:/bin"},
            cwd=workdir.name if workdir else "/", start_new_session=True, **ids,
        )  # fmt: skip
        child.close()
        try:
            session = _communicate(proc, host, request, limits)
        except BaseException:
            _kill(proc)
            os.wait4(proc.pid, 0)
            raise
        _, status, _ = os.wait4(proc.pid, 0)
    finally:
        host.close()
        child.close()
        if workdir is not None:
            workdir.cleanup()
    code = os.waitstatus_to_exitcode(status)
    session.exit_code = code if code >= 0 else 128 - code
    return session


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL bwrap's process group; its PID namespace, and so the whole program, goes with it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _communicate(
    proc: subprocess.Popen, control: socket.socket, request: bytes, limits: list[Limits]
) -> _Session:
    """Send the request, read the reports (and bwrap's own output) until all is closed or time is up."""
    start = time.monotonic()
    deadline = start + SETUP_S + sum(lim.wall_s + 0.1 for lim in limits)
    cap = sum(lim.output_bytes + 256 for lim in limits) + 64  # what an honest runner can send
    ctl, out, err = control.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
    received = {out: bytearray(), err: bytearray()}
    pending = memoryview(request)
    control.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ctl, selectors.EVENT_READ | selectors.EVENT_WRITE)
    sel.register(out, selectors.EVENT_READ)
    sel.register(err, selectors.EVENT_READ)
    parser = _Parser(limits, start)
    killed = False
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                killed = True
                break
            for key, events in sel.select(remaining):
                if events & selectors.EVENT_WRITE:
                    pending = _send_some(sel, control, pending)
                if not events & selectors.EVENT_READ:
                    continue
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    sel.unregister(key.fd)
                elif key.fd == ctl:
                    parser.feed(chunk)
                    if parser.size > cap:  # not what the runner sends: the program has taken it over
                        killed = True
                        break
                else:
                    received[key.fd] += chunk[: max(0, (1 << 16) - len(received[key.fd]))]
            if killed:
                break
        if not killed:
            killed = _wait_until(proc, deadline)
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    if killed:
        _kill(proc)
    diagnostics = (received[out] + received[err]).decode("utf-8", "replace")
    return _Session(parser.alive, parser.frames, killed, 0, diagnostics)


def _send_some(sel: selectors.BaseSelector, control: socket.socket, pending: memoryview) -> memoryview:
    try:
        pending = pending[control.send(pending[: 1 << 16]) :]
    except (BrokenPipeError, ConnectionResetError):
        pending = pending[:0]
    except BlockingIOError:
        return pending
    if not pending:  # all sent: from now on only listen
        sel.modify(control.fileno(), selectors.EVENT_READ)
        try:
            control.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    return pending


class _Parser:
    """Turns the runner's byte stream into `_Frame`s, noting when each arrives."""

    def __init__(self, limits: list[Limits], start: float):
        self.limits, self.last = limits, start
        self.buffer = bytearray()
        self.alive, self.frames, self.size = False, [], 0

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self.buffer += chunk
        if not self.alive and self.buffer[:1] == b"S":
            self.alive, self.last = True, time.monotonic()
            del self.buffer[:1]
        while self.alive and self._next():
            pass

    def _next(self) -> bool:
        end = self.buffer.find(b"\n")
        if end < 0 or len(self.frames) >= len(self.limits):
            return False
        fields = self.buffer[:end].split()
        try:
            code, killed, time_us, peak_kb, cpu_us, n_out, n_err = (int(v) for v in fields[1:])
        except ValueError:
            fields = []
        if len(fields) != 8 or fields[0] != b"T" or n_out < 0 or n_err < 0:
            self.size = 1 << 62  # garbage, not the runner's: treat like an overflow
            return False
        if len(self.buffer) < end + 1 + n_out + n_err:
            return False
        body = bytes(self.buffer[end + 1 : end + 1 + n_out + n_err])
        del self.buffer[: end + 1 + n_out + n_err]
        now = time.monotonic()
        late = now - self.last > self.limits[len(self.frames)].wall_s + SLACK_S
        self.frames.append(
            _Frame(code, killed, time_us / 1e6, peak_kb, cpu_us / 1e6, body[:n_out], body[n_out:], late)
        )
        self.last = now
        return True


def _wait_until(proc: subprocess.Popen, deadline: float) -> bool:
    """Poll for the exit of `proc` without reaping it; True if the deadline passes first."""
    delay = 0.0005
    while True:
        try:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return False
        except ChildProcessError:
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
