"""Running an engine on user content in a sandbox (bubblewrap).

Whatever executes or interprets a user's file (an FMU's binary under fmpy, EnergyPlus,
the XML and JSON parsers) runs here, never in the process that holds the step's
envelope, its callback id or a credential:

- no network at all: its own network namespace (no metadata server, no internet, no
  local stack);
- a scrubbed environment: PATH, HOME, LANG and nothing else;
- a file view of the system's read-only libraries, the interpreter and the product's
  code, a read-only copy of the inputs it needs at /sandbox/in, an empty writable
  /sandbox/out, and a private /tmp of bounded size;
- its own PID, IPC and UTS namespaces, a new session, killed with its parent;
- limits: address space, CPU seconds, processes (run as an unprivileged user, so the
  kernel counts them), the size of any file it writes; what it prints is read up to a
  cap and the rest discarded; the wall-clock deadline kills it.

The engine returns data only, as named files in /sandbox/out, which the parent reads
(`take`) with a size cap and without following links. Anything else it leaves there
means it wrote where it may not, and the step gets an ERROR, never a PASS.

If the sandbox cannot be created, `SandboxUnavailable` is raised: an engine never runs
unsandboxed.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

BWRAP = "bwrap"
INSIDE_IN = "/sandbox/in"
INSIDE_OUT = "/sandbox/out"
MiB = 1024 * 1024
# Kept of what an engine prints (its diagnostics); the rest is read and dropped, so an
# engine that prints gigabytes neither blocks nor fills the job's memory.
KEPT_LOG_BYTES = 64 * 1024
# Where the sandbox runs as root (the local stack, CI), it switches to an unprivileged
# user of this range, a new one each time, so the kernel enforces the process limit and
# one sandbox cannot signal or read another's files.
_UIDS = range(200_000, 300_000)
# Read-only folders of code besides the product's: the test suite adds its own, so the
# checks it defines can be run by a sandboxed fork server; the product adds none.
EXTRA_CODE: list[str] = []


class SandboxUnavailable(Exception):
    """The sandbox could not be created; the engine was not run."""


class SandboxViolation(Exception):
    """The engine did what it may not (wrote elsewhere, returned malformed data)."""


class SandboxTimedOut(Exception):
    """The engine did not finish before its deadline and was killed."""


@dataclass(frozen=True)
class Limits:
    seconds: float
    memory_bytes: int = 2048 * MiB
    processes: int = 64
    file_bytes: int = 512 * MiB
    tmp_bytes: int = 512 * MiB


@dataclass(frozen=True)
class Finished:
    exit_code: int
    log: bytes
    out: Path


@cache
def _system_view() -> tuple[str, ...]:
    """Read-only binds of what any engine needs: the system's libraries, the
    interpreter (base and virtualenv) and the product's own packages; nothing else of
    the job's file system (not its input folder, not the repository's local data)."""
    return (*_system_binds(), *_code_binds(_code_folders()))


def _system_binds(etc: Sequence[str] = ()) -> list[str]:
    """The system's read-only libraries and programs, and the named files of /etc."""
    arguments: list[str] = ["--ro-bind", "/usr", "/usr"]
    for top in map(Path, ("/bin", "/sbin", "/lib", "/lib32", "/lib64")):
        if top.is_symlink():
            arguments += ["--symlink", str(top.readlink()), str(top)]
        elif top.is_dir():
            arguments += ["--ro-bind", str(top), str(top)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", *etc):
        if (Path("/etc") / name).exists():
            arguments += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    return arguments


def _code_binds(folders: Iterable[str]) -> list[str]:
    arguments: list[str] = []
    made: set[str] = set()
    for folder in folders:
        # The folders above a bind are bubblewrap's own, and it makes them 0700: an
        # unprivileged engine could not pass through them to the interpreter.
        for above in reversed(Path(folder).parents[:-1]):
            if str(above) not in made:
                made.add(str(above))
                arguments += ["--perms", "0755", "--dir", str(above)]
        arguments += ["--ro-bind", folder, folder]
    return arguments


def job_command(
    argv: Sequence[str], python: str, folder: Path, packages: Iterable[str]
) -> list[str]:
    """The bubblewrap command line that runs a whole validator job on the local stack,
    as its container would be: the job sees the system, its interpreter (`python`'s
    virtualenv and base installation) and the named `packages` of its code `folder`,
    read-only, and a private /tmp; not the stack's storage folder nor anything else of
    the host's files, so it reaches its run's objects only through its signed URLs
    (decision record 0024). The host's network stays (the gate, the metadata stand-in
    and the callback are on 127.0.0.1). The engines' own sandboxes nest inside: this
    one keeps the host's user (root, with no user namespace, where the stack runs as
    root), so theirs can switch users as they do in the images."""
    if shutil.which(BWRAP) is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    venv = Path(python).absolute().parent.parent
    base = Path(python).resolve().parent.parent
    code = [str(folder / name) for name in packages if (folder / name).is_dir()]
    folders = {str(venv), str(base), *code}
    folders = {f for f in folders if f != "/usr" and not f.startswith("/usr/")}
    # No --die-with-parent: its signal comes when the thread that started the job ends
    # (a request's, in the job runner); the runner stops a job's process group itself.
    arguments = [BWRAP, "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    if os.geteuid() != 0:
        arguments.append("--unshare-user")
    arguments += _system_binds(etc=("hosts", "resolv.conf", "nsswitch.conf", "ssl"))
    # The private /tmp first: a job's code may itself live under /tmp (a test's image).
    arguments += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]  # noqa: S108
    arguments += _code_binds(sorted(f for f in folders if not _within(f, folders)))
    arguments += ["--dir", str(folder), "--chdir", str(folder), "--"]
    return arguments + list(argv)


def _code_folders() -> list[str]:
    """The interpreter's prefixes, the folders it installs packages into (a deployed
    function's dependencies may sit in a layer of their own) and the product's two
    packages: never a folder that merely holds them (a repository's root holds its
    local stack's data)."""
    import shared
    import validators

    folders = {sys.base_prefix, sys.prefix, sys.exec_prefix}
    folders |= {str(Path(m.__file__ or "").resolve().parent) for m in (shared, validators)}
    folders |= {p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    folders |= set(EXTRA_CODE)
    folders = {f for f in folders if Path(f).is_dir() and f != "/usr"}
    return sorted(f for f in folders if not f.startswith("/usr/") and not _within(f, folders))


def _within(folder: str, folders: set[str]) -> bool:
    return any(other != folder and Path(folder).is_relative_to(other) for other in folders)


def _namespaces(as_root: bool, own_pids: bool) -> list[str]:
    common = ["--unshare-pid"] if own_pids else []
    common += ["--unshare-net", "--unshare-ipc", "--unshare-uts"]
    common += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    if as_root:
        # Root maps to root in a user namespace, whose processes the kernel does not
        # count: the command drops to an unprivileged user itself (setpriv), for which
        # bubblewrap keeps just the capabilities to switch.
        return [*common, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    return [*common, "--unshare-user", "--disable-userns"]


def _view(limits: Limits, uid: int | None, own_pids: bool = True) -> list[str]:
    """Namespaces, the system's read-only view, /proc (with its own PIDs only), /dev, a
    private /tmp and a scrubbed environment: what every sandbox has."""
    # The sandbox's own /tmp: a private tmpfs, gone with the sandbox.
    private_tmp = "/tmp"  # noqa: S108
    env = {"PATH": "/usr/bin:/bin", "HOME": private_tmp, "LANG": "C.UTF-8"}
    # The private /tmp comes first: a checkout (and its virtualenv) may live under the
    # machine's /tmp, and a tmpfs mounted after their binds would hide them.
    arguments = [*_namespaces(uid is not None, own_pids)]
    arguments += ["--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", private_tmp]
    arguments += [*_system_view()]
    arguments += ["--proc", "/proc"] if own_pids else []
    arguments += ["--dev", "/dev"]
    arguments += ["--clearenv", *[x for k, v in env.items() for x in ("--setenv", k, v)]]
    return arguments


def _as(uid: int | None) -> list[str]:
    if uid is None:
        return []
    switch = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return [*switch, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]


def command(
    argv: Sequence[str], scratch: Path, limits: Limits, uid: int | None, info_fd: int
) -> list[str]:
    """The bubblewrap command line that runs `argv` in the sandbox over `scratch`."""
    arguments = [BWRAP, *_view(limits, uid)]
    arguments += ["--perms", "0755", "--dir", str(Path(INSIDE_IN).parent)]
    arguments += ["--ro-bind", str(scratch / "in"), INSIDE_IN]
    arguments += ["--bind", str(scratch / "out"), INSIDE_OUT, "--chdir", INSIDE_OUT]
    arguments += ["--info-fd", str(info_fd), "--"]
    return arguments + _as(uid) + list(argv)


def interpreter(folder: Path, limits: Limits) -> Path:
    """An executable in `folder` that starts this Python inside a sandbox with no
    inputs: for a fork server (multiprocessing's `set_executable`), whose children then
    check bytes they are handed over a pipe. The folder a parent works in exists there,
    empty (a child of multiprocessing changes into it)."""
    if shutil.which(BWRAP) is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    uid = sandbox_uid()
    here = str(Path.cwd())
    # No PID namespace here: the parent stops a check by its PID, which must be the PID
    # it names on the host (in a namespace of its own it would name another process).
    # Without one there is no /proc either, so no check can list the host's processes.
    arguments = [BWRAP, *_view(limits, uid, own_pids=False), "--dir", here, "--chdir", here]
    # multiprocessing runs the parent's main script in the fork server first: that file
    # alone is shown (a test runner's, functions-framework's), not its folder.
    main = getattr(sys.modules["__main__"], "__file__", None)
    if main and Path(main).is_file():
        arguments += ["--ro-bind", str(Path(main).resolve()), str(Path(main).absolute())]
    arguments += ["--", *_as(uid), sys.executable]
    script = folder / "sandboxed-python"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(arguments)} "$@"\n')
    script.chmod(0o700)
    return script


def _limit(limits: Limits) -> None:
    """Runs in the child before bubblewrap starts: every process of the sandbox inherits
    these limits."""
    cpu = int(limits.seconds) + 5
    for kind, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, cpu),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))


def _drain(stream: Iterable[bytes], kept: bytearray) -> None:
    for chunk in stream:
        if len(kept) < KEPT_LOG_BYTES:
            kept += chunk[: KEPT_LOG_BYTES - len(kept)]


@contextlib.contextmanager
def scratch(inputs: dict[str, Path], uid: int | None) -> Iterator[Path]:
    """A folder with `in/` (a copy of each input, by its name here) and an empty `out/`
    the sandbox's user owns; removed with everything the engine left in it."""
    folder = Path(tempfile.mkdtemp(prefix="assay-sandbox-"))
    try:
        (folder / "in").mkdir()
        (folder / "out").mkdir()
        for name, source in inputs.items():
            _copy(source, folder / "in" / name)
        for path in (folder, folder / "in"):
            path.chmod(0o755)
        if uid is not None:
            os.chown(folder / "out", uid, uid)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy(source: Path, target: Path) -> None:
    """A hard link where the file system allows (nothing is copied); the sandbox sees it
    read-only either way."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    target.chmod(0o644)


@cache
def available() -> bool:
    """Whether this machine can run a sandbox at all (bubblewrap is installed)."""
    return shutil.which(BWRAP) is not None


def sandbox_uid() -> int | None:
    """The unprivileged user a sandbox runs as when the job runs as root; None when it
    runs as a user already (the images' 65532), which bubblewrap maps into its own user
    namespace."""
    return _UIDS.start + secrets.randbelow(len(_UIDS)) if os.geteuid() == 0 else None


def run(argv: Sequence[str], folder: Path, limits: Limits, uid: int | None) -> Finished:
    """Runs `argv` in a sandbox over `folder` (made by `scratch`). Raises
    SandboxUnavailable when bubblewrap is missing or cannot set the sandbox up, and
    SandboxTimedOut when the engine outlives `limits.seconds`."""
    if shutil.which(BWRAP) is None:
        raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
    info_read, info_write = os.pipe()
    try:
        process = subprocess.Popen(
            command(argv, folder, limits, uid, info_write),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(info_write,),
            preexec_fn=lambda: _limit(limits),
            start_new_session=True,
        )
    except OSError as exc:
        os.close(info_read)
        raise SandboxUnavailable(f"bubblewrap could not start: {exc}") from None
    finally:
        os.close(info_write)
    return _wait(process, info_read, folder, limits)


def _wait(
    process: subprocess.Popen[bytes], info_read: int, folder: Path, limits: Limits
) -> Finished:
    kept = bytearray()
    assert process.stdout is not None
    reader = threading.Thread(target=_drain, args=(process.stdout, kept), daemon=True)
    reader.start()
    try:
        code = process.wait(timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        _kill(process)
        raise SandboxTimedOut(f"the engine did not finish within {limits.seconds:.0f}s") from None
    finally:
        reader.join(timeout=5)
        with os.fdopen(info_read, "rb") as info:
            started = bool(info.read(4096).strip())
    if not started:
        raise SandboxUnavailable(f"the sandbox could not be created: {_text(kept)}")
    return Finished(exit_code=code, log=bytes(kept), out=folder / "out")


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _text(log: bytes | bytearray) -> str:
    return bytes(log[-500:]).decode("utf-8", errors="replace").strip()


def take(out: Path, name: str, max_bytes: int) -> bytes | None:
    """The engine's file `name` from its out folder: None when it wrote none; refused
    when it is a link, not a regular file, or larger than `max_bytes`."""
    try:
        handle = os.open(out / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SandboxViolation(f"{name}: the engine left something that is not a file") from exc
    with os.fdopen(handle, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise SandboxViolation(f"{name}: the engine left something that is not a file")
        data = source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SandboxViolation(f"{name}: larger than its {max_bytes // MiB} MiB cap")
    return data


def stray(out: Path, allowed: Iterable[str]) -> list[str]:
    """What the engine left in its out folder besides the files it may write."""
    expected = set(allowed)
    return sorted(p.name for p in out.iterdir() if p.name not in expected)


def keep(out: Path, names: Iterable[str], into: Path, max_bytes: int) -> None:
    """Moves the engine's files `names` (those it wrote) from its out folder into the
    parent's folder `into`: regular files only, each at most `max_bytes`, never through
    a link."""
    for name in names:
        source = out / name
        try:
            found = source.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(found.st_mode):
            raise SandboxViolation(f"{name}: the engine left something that is not a file")
        if found.st_size > max_bytes:
            raise SandboxViolation(f"{name}: larger than its {max_bytes // MiB} MiB cap")
        shutil.move(source, into / name)
