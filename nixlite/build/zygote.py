"""The builder launcher: a small process that enters the build namespaces once and forks
every builder from itself.

``sandbox.Launcher`` starts it as a fresh interpreter (``python -S -E zygote.py …``) that
imports only the standard library.  It then

* unshares a mount namespace (plus a user namespace when not root, plus a network
  namespace with only a loopback interface for builds that are not fixed-output), makes
  every mount private and bind-mounts nixlite's store at the logical store directory — or,
  where that directory does not exist on the host, builds a new root (a tmpfs with every
  top-level entry of ``/`` bind-mounted into it, and the store) and chroots into it;
* installs Nix's seccomp filter (``chmod`` with setuid/setgid bits fails with EPERM,
  extended attributes with ENOTSUP) with no-new-privileges, as Nix does even without its
  sandbox: a store cannot hold what a NAR cannot express;
* forks one child per request, which becomes a session leader with stdin on
  ``/dev/null``, stdout and stderr on the build's pseudo-terminal, umask 022 and default
  signal dispositions, changes to the build directory and executes the builder.

Forking from this small process instead of from nixlite (whose evaluation may hold a
large heap) makes starting a builder several times cheaper.

Protocol on stdin (a ``SOCK_SEQPACKET`` socket), one JSON object per message:
requests ``{"id", "path", "argv", "env", "cwd"}`` carry the pseudo-terminal as
``SCM_RIGHTS``; replies are ``{"ready": true}`` or ``{"error", "errno", "stage"}`` once
after set-up, then ``{"id", "pid"}`` per start and ``{"id", "status"}`` (a ``waitpid``
status) per exit.  End of file on the socket kills every builder still running.
"""

from __future__ import annotations

import array
import ctypes
import ctypes.util
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.unshare.argtypes = [ctypes.c_int]
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_void_p]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class SetupError(OSError):
    """A set-up step failed; ``stage`` names it."""

    def __init__(self, err: int, stage: str, what: str) -> None:
        super().__init__(err, f"{what}: {os.strerror(err)}")
        self.stage = stage


def _check(result: int, stage: str, what: str) -> None:
    if result != 0:
        raise SetupError(ctypes.get_errno(), stage, what)


def _mount(src: bytes | None, dst: bytes, fstype: bytes | None, flags: int,
           data: bytes | None = None) -> None:
    _check(_libc.mount(src, dst, fstype, flags, data), "mount", f"mounting '{os.fsdecode(dst)}'")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _loopback_up() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        s.close()


# ------------------------------------------------------------------ seccomp

class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _assemble(program) -> ctypes.Array:
    """Classic BPF from ``(label, code, k, jump-if-true label, jump-if-false label)`` rows."""
    where = {row[0]: i for i, row in enumerate(program) if row[0]}
    out = (_SockFilter * len(program))()
    for i, (_, code, k, jt, jf) in enumerate(program):
        out[i] = _SockFilter(code, where[jt] - i - 1 if jt else 0, where[jf] - i - 1 if jf else 0, k)
    return out


_LD, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOTSUP = 1, 95
_SET_ID_BITS = 0o6000
AUDIT_ARCH_X86_64 = 0xC000003E
# seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i (low word first on x86_64)
_FILTER_ROWS = [
    (None, _LD, 4, None, None),
    (None, _JEQ, AUDIT_ARCH_X86_64, None, "allow"),
    (None, _LD, 0, None, None),
    (None, _JEQ, 90, "mode1", None),     # chmod
    (None, _JEQ, 91, "mode1", None),     # fchmod
    (None, _JEQ, 268, "mode2", None),    # fchmodat
    (None, _JEQ, 452, "mode2", None),    # fchmodat2
    (None, _JEQ, 188, "notsup", None),   # setxattr
    (None, _JEQ, 189, "notsup", None),   # lsetxattr
    (None, _JEQ, 190, "notsup", None),   # fsetxattr
    (None, _RET, _ALLOW, None, None),
    ("mode1", _LD, 24, None, None),
    (None, _JSET, _SET_ID_BITS, "eperm", "allow"),
    ("mode2", _LD, 32, None, None),
    (None, _JSET, _SET_ID_BITS, "eperm", "allow"),
    ("eperm", _RET, _ERRNO | _EPERM, None, None),
    ("notsup", _RET, _ERRNO | _ENOTSUP, None, None),
    ("allow", _RET, _ALLOW, None, None),
]


def _install_seccomp() -> None:
    if os.uname().machine != "x86_64":
        return  # the filter is written for x86_64 system call numbers
    rows = _assemble(_FILTER_ROWS)
    prog = _SockFprog(len(rows), rows)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "seccomp", "setting no-new-privileges")
    _check(_libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(prog), 0, 0),
           "seccomp", "installing the seccomp filter")


# ------------------------------------------------------------------ set-up

def enter(real_store: bytes, store_dir: bytes, new_root: bytes, private_network: bool,
          user_namespace: bool, need_new_root: bool) -> None:
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNS | (CLONE_NEWNET if private_network else 0)
    if user_namespace:
        flags |= CLONE_NEWUSER
    _check(_libc.unshare(flags), "unshare", "creating the build namespaces")
    if user_namespace:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    _mount(None, b"/", None, MS_REC | MS_PRIVATE)
    if need_new_root:
        _enter_new_root(real_store, store_dir, new_root)
    else:
        _mount(real_store, store_dir, None, MS_BIND | MS_REC)
    if private_network:
        _loopback_up()
    _install_seccomp()


def _enter_new_root(real_store: bytes, store_dir: bytes, root: bytes) -> None:
    _mount(b"tmpfs", root, b"tmpfs", 0, b"mode=0755")
    for name in os.listdir(b"/"):
        src = b"/" + name
        dst = root + b"/" + name
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            _mount(src, dst, None, MS_BIND | MS_REC)
        else:
            os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
            _mount(src, dst, None, MS_BIND)
    store = root + store_dir
    os.makedirs(store, exist_ok=True)
    _mount(real_store, store, None, MS_BIND | MS_REC)
    os.chroot(root)
    os.chdir(b"/")


# ------------------------------------------------------------------ serving

def _send(sock: socket.socket, msg: dict) -> None:
    sock.send(json.dumps(msg).encode())


def _start(req: dict, pty: int) -> int:
    pid = os.fork()
    if pid == 0:  # the builder
        try:
            _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            os.setsid()
            null = os.open("/dev/null", os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(pty, 1)
            os.dup2(pty, 2)
            os.closerange(3, 1 << 16)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            os.umask(0o022)
            os.chdir(req["cwd"])
            os.execve(req["path"], req["argv"], req["env"])
        except OSError as exc:
            what = "executing" if exc.filename is None else "setting up the build environment for"
            os.write(2, f"error: {what} '{req['path']}': {exc.strerror}\n".encode())
        finally:
            os._exit(1)
    return pid


def serve(sock: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    running: dict[int, int] = {}  # pid -> request id
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            while running:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                _send(sock, {"id": running.pop(pid), "status": status})
        if sock in ready:
            fds = array.array("i")
            data, ancdata, _, _ = sock.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
            if not data:
                for pid in running:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                return
            for level, kind, payload in ancdata:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            req = json.loads(data)
            pid = _start(req, fds[0])
            os.close(fds[0])
            running[pid] = req["id"]
            _send(sock, {"id": req["id"], "pid": pid})


def main(argv: list[str]) -> None:
    real_store, store_dir, new_root, flags = argv[1:5]
    modes = set(flags.split(","))
    sock = socket.socket(fileno=os.dup(0))
    os.dup2(os.open("/dev/null", os.O_RDONLY), 0)
    # No parent-death signal here: it would follow the *thread* that started us (an
    # evaluation thread, for imports from derivations).  The socket's end of file, which
    # also comes when nixlite is killed, is what stops the launcher and its builders.
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # nixlite decides what an interrupt stops
    try:
        enter(os.fsencode(real_store), os.fsencode(store_dir), os.fsencode(new_root),
              "net" in modes, "user" in modes, "newroot" in modes)
    except OSError as exc:
        _send(sock, {"error": str(exc), "errno": exc.errno, "stage": getattr(exc, "stage", "")})
        return
    _send(sock, {"ready": True})
    serve(sock)


if __name__ == "__main__":
    main(sys.argv)
