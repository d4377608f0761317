"""Runs inside the sandbox, as its PID 1: receive one program and its tests, run each test in a fresh child.

Not imported by rlpr: a copy, byte-compiled by the sandbox's interpreter, is mounted read-only in the
sandbox and imported there (see `bwrap.prepare_runner`), so it may only use the standard library and
syntax that interpreter understands (Python >= 3.9, on Linux >= 5.3: it uses os.pidfd_open).

argv: CONTROL_FD. On that socket the host sends
    b"SOURCE_LEN N\\n" + source, then per test b"STDIN_LEN WALL_MS CPU_S AS NPROC FSIZE NOFILE OUT\\n" + stdin
(wall clock in milliseconds, CPU in seconds, sizes in bytes; 0 = none) and shuts down its side. The runner answers b"S" (it is alive and
holds the request), then, test by test, b"T EXIT KILLED TIME_US PEAK_KB CPU_US OUT_LEN ERR_LEN\\n" + stdout +
stderr, where KILLED is 0, 1 (wall clock), 2 (stdout + stderr passed OUT; cut there) or 3 (the runner could
not run the test; the reason is in stderr), and EXIT is the exit code, 128 + N for signal N.

Each test: a child is forked with stdin from a memory file, stdout and stderr on pipes the runner reads;
the child sets its limits (soft = hard, so the program cannot raise them; CPU gets one second between
SIGXCPU and SIGKILL) and runs the program as `__main__`. After it, `kill(-1, SIGKILL)` (from PID 1: every
other process in the sandbox) clears whatever it left behind. The program cannot signal PID 1. The runner
limits itself too (processes, address space): a program that took it over (ptrace) would get no more room
than a test has, and the host still times every result.
"""

import os
import resource
import sys
import time

FILENAME = "main.py"  # written to the working directory (the private /tmp); what tracebacks call the program
_KILL = 9


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse(request):
    line, _, rest = request.partition(b"\n")
    size, count = (int(v) for v in line.split())
    source, rest = rest[:size], rest[size:]
    tests = []
    for _ in range(count):
        line, _, rest = rest.partition(b"\n")
        fields = [int(v) for v in line.split()]
        tests.append((rest[: fields[0]], fields[1:]))
        rest = rest[fields[0] :]
    return source.decode("utf-8", "replace"), tests


def _set_limit(which, soft, hard):
    current = resource.getrlimit(which)[1]
    if current != resource.RLIM_INFINITY:  # a hard limit can be lowered, never raised
        soft, hard = min(soft, current), min(hard, current)
    resource.setrlimit(which, (soft, hard))


def _set_limits(cpu_s, address_space, processes, file_size, open_files):
    _set_limit(resource.RLIMIT_CORE, 0, 0)
    if cpu_s > 0:
        _set_limit(resource.RLIMIT_CPU, cpu_s, cpu_s + 1)
    for which, value in [
        (resource.RLIMIT_AS, address_space),
        (resource.RLIMIT_NPROC, processes),
        (resource.RLIMIT_FSIZE, file_size),
        (resource.RLIMIT_NOFILE, open_files),
    ]:
        if value > 0:
            _set_limit(which, value, value)


def _report(exc):
    """Print the traceback the way Python would (through sys.excepthook), minus the runner's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != FILENAME:
        tb = tb.tb_next
    exc = exc.with_traceback(tb)
    try:
        sys.excepthook(type(exc), exc, tb)
    except BaseException:
        sys.__excepthook__(type(exc), exc, tb)


def _exit(code):
    """Exit like the interpreter does (join threads, atexit, flush), minus its slow module teardown."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    if "threading" in sys.modules:
        sys.modules["threading"]._shutdown()
    import atexit

    atexit._run_exitfuncs()  # prints, and swallows, the handlers' own errors
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            code = code or 120  # what Python exits with when it cannot flush stdout
    os._exit(code & 0xFF)


def _child(code, syntax_error, stdin_fd, out_w, err_w, limits):
    """In the forked child: wire up stdin/stdout/stderr, set the limits, run the program; never returns."""
    try:
        os.setsid()  # its own process group, for _kill_all outside a sandbox
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        _set_limits(*limits)
        import _signal
        import _sitebuiltins
        import builtins

        _signal.signal(_signal.SIGINT, _signal.default_int_handler)
        # -S skips `site`, which is what defines exit() and quit(); programs use them.
        builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
        builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
        module = type(sys)("__main__")
        module.__file__ = FILENAME
        module.__builtins__ = builtins
        sys.modules["__main__"] = module
        sys.argv = [FILENAME]
    except BaseException:
        os._exit(126)
    try:
        if syntax_error is not None:
            raise syntax_error
        exec(code, module.__dict__)
    except SystemExit as exc:
        status = exc.code
    except BaseException as exc:  # the program's own error: report it like an uncaught exception
        _report(exc)
        status = 1
    else:
        status = 0
    _exit(status)


def _run_test(control, code, syntax_error, stdin, limits):
    import select

    wall_ms, out_cap = limits[0], limits[6]
    stdin_fd = os.memfd_create("stdin")
    _send(stdin_fd, stdin)
    os.lseek(stdin_fd, 0, 0)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    start = time.monotonic()
    deadline = start + wall_ms / 1000.0
    pid = os.fork()
    if pid == 0:
        _child(code, syntax_error, stdin_fd, out_w, err_w, limits[1:6])
    for fd in (stdin_fd, out_w, err_w):
        os.close(fd)
    exited = os.pidfd_open(pid)  # readable once the program's main process has exited
    received = {out_r: [], err_r: []}
    total, killed, watched = 0, 0, [out_r, err_r, exited]
    while (out_r in watched or err_r in watched) and not killed:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            killed = 1
            break
        ready, _, _ = select.select(watched, [], [], remaining)
        for fd in ready:
            if fd == exited:  # the test is over: end what it left running, then read what is left
                watched.remove(exited)
                _kill_all(pid)
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                watched.remove(fd)
                continue
            received[fd].append(chunk[: max(0, out_cap - total)])
            total += len(chunk)
            if total > out_cap:
                killed = 2
                break
    if not killed and exited in watched:  # outputs closed, but the program is still running
        ready, _, _ = select.select([exited], [], [], max(0.0, deadline - time.monotonic()))
        killed = 0 if ready else 1
    if killed:
        os.kill(pid, _KILL)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.monotonic() - start
    _clear(pid)
    for fd in (out_r, err_r, exited):
        os.close(fd)
    exit_code = 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    out, err = b"".join(received[out_r]), b"".join(received[err_r])
    cpu_us = int((usage.ru_utime + usage.ru_stime) * 1e6)
    fields = (exit_code, killed, int(elapsed * 1e6), usage.ru_maxrss, cpu_us, len(out), len(err))
    _send(control, ("T " + " ".join(str(v) for v in fields) + "\n").encode() + out + err)


def _kill_all(pid):
    """Kill what test `pid` started. As PID 1 of the sandbox, kill(-1) reaches every other process in it.
    Anywhere else (the explicitly unsafe unsandboxed mode) kill(-1) would hit all of the user's processes,
    so only the test's process group is killed there."""
    try:
        if os.getpid() == 1:
            os.kill(-1, _KILL)
        else:
            os.killpg(pid, _KILL)
    except OSError:  # nothing left
        pass


def _clear(pid):
    """Kill whatever test `pid` left running and reap it all."""
    _kill_all(pid)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            return


def _send(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main():
    import _signal

    _signal.signal(_signal.SIGINT, _signal.SIG_IGN)  # Python's own handler would make PID 1 interruptible
    control = int(sys.argv[1])
    request = _read_all(control)
    source, tests = _parse(request)
    with open(FILENAME, "w", encoding="utf-8") as f:  # into the private cwd: tracebacks show source lines
        f.write(source)
    # The runner's own limits: whatever a program might make of it, it gets no more than a test gets.
    processes = max(t[1][3] for t in tests)
    if processes > 0:
        _set_limit(resource.RLIMIT_NPROC, processes, processes)
    top = max(t[1][2] for t in tests) + len(request) + (256 << 20)
    _set_limit(resource.RLIMIT_AS, top, top)
    try:
        code, syntax_error = compile(source, FILENAME, "exec"), None
    except (SyntaxError, ValueError) as exc:
        code, syntax_error = None, exc
    _send(control, b"S")
    for stdin, limits in tests:
        try:
            _run_test(control, code, syntax_error, stdin, limits)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):  # the host is gone
                raise
            message = ("the sandbox could not run this test: " + repr(exc)).encode()
            _send(control, ("T -1 3 0 0 0 0 " + str(len(message)) + "\n").encode() + message)
    os._exit(0)


if __name__ == "__main__":
    main()
