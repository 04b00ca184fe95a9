"""Run a shell script where ``/nix/store`` is nixlite's store: a private mount namespace
(and a user namespace unless we are root), optionally chrooted into an image's root.

Without ``root`` the script sees the host's files (as Debian's Nix builds with the sandbox
off) plus the store at ``/nix/store``: a tmpfs root made of bind mounts of the host's top
level, so nothing on the host is touched.  With an overlay (runAsRoot) it is chrooted into an
overlay mount of the image's layers with ``/dev``, ``/proc``, ``/sys`` and the store bound
in, the mount points made before and removed after as the seed's VM script does.  As root,
ownership changes are real; otherwise uid 0 is mapped to the calling user and the caller
records every file as root's.

``main`` is the child side (run as ``python -c CHILD``): it reads its spec as JSON on
stdin, sets the namespaces up and execs the shell.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import IO

from nixlite.build.native import StepFailed

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
MNT_DETACH = 2

CHILD = "from nixlite.image.steps.sandbox import main; main()"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NAMESPACE_HINT = ("user namespaces are unavailable (check the sysctls "
                  "kernel.unprivileged_userns_clone, user.max_user_namespaces and "
                  "kernel.apparmor_restrict_unprivileged_userns)")


def run_script(script: str, *, cwd: str, env: Mapping[str, str], store_real_dir: str,
               log: IO[str], store_dir: str = "/nix/store", overlay: dict | None = None,
               shell: str = "bash", scratch: str, what: str, cancelled=None) -> None:
    """Run ``shell -e -c script`` in ``cwd``; a non-zero exit is the step's failure.
    ``overlay`` ({lower: dir or None, upper, work, mnt}) chroots the script into an overlay
    of ``upper`` on ``lower`` instead (runAsRoot); its changes land in ``upper``.
    ``cancelled`` (an Event) kills the script's process group when set."""
    spec = {"script": script, "cwd": cwd, "env": dict(env), "store": store_real_dir,
            "store_dir": store_dir, "overlay": overlay, "shell": shell, "scratch": scratch}
    log.flush()
    proc = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd,
                            start_new_session=True)
    data: bytes | None = json.dumps(spec).encode()
    while True:
        try:
            out, _ = proc.communicate(input=data, timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            data = None
            if cancelled is not None and cancelled.is_set():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                raise StepFailed(f"{what}: interrupted") from None
    output = out.decode("utf-8", "replace")
    log.write(output)
    if proc.returncode == 125:
        raise StepFailed(f"{what}: {output.strip().splitlines()[-1] if output.strip() else NAMESPACE_HINT}")
    if proc.returncode != 0:
        tail = "\n".join(output.rstrip().splitlines()[-10:])
        raise StepFailed(f"{what} failed with exit code {proc.returncode}" + (f":\n{tail}" if tail else ""))


# child side ------------------------------------------------------------------------------

def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                           ctypes.c_void_p]
    return libc


def _fail(message: str) -> None:
    sys.stdout.write(f"error: {message}\n")
    sys.stdout.flush()
    os._exit(125)


def _mount(libc, source: str | None, target: str, fstype: str | None, flags: int) -> None:
    if libc.mount(source.encode() if source else None, target.encode(),
                  fstype.encode() if fstype else None, flags, None) != 0:
        err = ctypes.get_errno()
        _fail(f"cannot mount '{source}' on '{target}': {os.strerror(err)}")


def _bind(libc, source: str, target: str, readonly: bool = False) -> None:
    _mount(libc, source, target, None, MS_BIND | MS_REC)
    if readonly:
        _mount(libc, None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _enter_namespaces(libc) -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS if uid == 0 else CLONE_NEWNS | CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        _fail(f"cannot create a private namespace: {os.strerror(ctypes.get_errno())}; "
              + NAMESPACE_HINT)
    if uid != 0:
        with open("/proc/self/setgroups", "w") as f:
            f.write("deny")
        with open("/proc/self/uid_map", "w") as f:
            f.write(f"0 {uid} 1")
        with open("/proc/self/gid_map", "w") as f:
            f.write(f"0 {gid} 1")
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)


def _host_view(libc, scratch: str, store: str, store_dir: str) -> str:
    """A tmpfs root holding bind mounts of the host's top level and the store."""
    newroot = os.path.join(scratch, "root")
    os.makedirs(newroot, exist_ok=True)
    _mount(libc, "tmpfs", newroot, "tmpfs", 0)
    for name in sorted(os.listdir("/")):
        source = "/" + name
        target = os.path.join(newroot, name)
        if name == store_dir.strip("/").split("/")[0]:
            continue
        if os.path.islink(source):
            os.symlink(os.readlink(source), target)
        elif os.path.isdir(source):
            os.mkdir(target)
            _bind(libc, source, target)
        elif os.path.isfile(source):
            open(target, "w").close()
            _bind(libc, source, target)
    store_target = newroot + store_dir
    os.makedirs(store_target)
    _bind(libc, store, store_target, readonly=True)
    return newroot


def _overlay_root(libc, overlay: dict, store: str, store_dir: str, userns: bool) -> list[str]:
    """Mount the overlay and the binds; returns the mount points to undo, in order."""
    mnt = overlay["mnt"]
    if overlay["lower"]:
        options = f"lowerdir={overlay['lower']},upperdir={overlay['upper']},workdir={overlay['work']}"
        if userns:
            options += ",userxattr"
        if libc.mount(b"overlay", mnt.encode(), b"overlay", 0, options.encode()) != 0:
            _fail(f"cannot mount the overlay for runAsRoot: {os.strerror(ctypes.get_errno())}")
    else:
        _bind(libc, overlay["upper"], mnt)
    points = []
    for source, rel in (("/dev", "dev"), ("/proc", "proc"), ("/sys", "sys"),
                        (store, store_dir.lstrip("/"))):
        target = os.path.join(mnt, rel)
        os.makedirs(target, exist_ok=True)
        _bind(libc, source, target, readonly=source == store)
        points.append(target)
    return points


def main() -> None:
    spec = json.loads(sys.stdin.buffer.read())
    libc = _libc()
    _enter_namespaces(libc)
    env = dict(spec["env"])
    if env.get("PATH") in (None, "", "/path-not-set"):
        env["PATH"] = HOST_PATH
    shell = spec["shell"] if "/" in spec["shell"] else _which(spec["shell"], env["PATH"])
    argv = [spec["shell"], "-e", "-c", spec["script"]]
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(1, 2)
    overlay = spec["overlay"]
    if overlay is None:
        os.chroot(_host_view(libc, spec["scratch"], spec["store"], spec["store_dir"]))
        os.chdir(spec["cwd"])
        _exec(shell, argv, env)
    points = _overlay_root(libc, overlay, spec["store"], spec["store_dir"], os.getuid() != 0)
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.chroot(overlay["mnt"])
        os.chdir("/")
        _exec(shell, argv, env)
    _, status = os.waitpid(pid, 0)
    for target in reversed(points):
        libc.umount2(target.encode(), MNT_DETACH)
    mnt = overlay["mnt"]
    for rel in ("dev", "proc", "sys", spec["store_dir"].lstrip("/"),
                os.path.dirname(spec["store_dir"]).lstrip("/")):
        try:
            os.rmdir(os.path.join(mnt, rel))
        except OSError:
            pass  # rmdir --ignore-fail-on-non-empty
    libc.umount2(mnt.encode(), MNT_DETACH)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _exec(shell: str, argv: list[str], env: dict[str, str]) -> None:
    try:
        os.execve(shell, argv, env)
    except OSError as e:
        _fail(f"cannot run '{argv[0]}': {e.strerror}")


def _which(program: str, path: str) -> str:
    for directory in path.split(":"):
        candidate = os.path.join(directory, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return program
