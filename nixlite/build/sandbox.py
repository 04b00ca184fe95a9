"""Run a builder where nixlite's store is ``/nix/store``: a private mount namespace.

nixlite keeps its store wherever the user can write (``~/.local/share/…``), but
builders and their outputs name ``/nix/store/…``.  Each builder therefore starts
in its own mount namespace (plus a user namespace when not root) in which the
real store directory is bind-mounted at the logical one.  Nothing else is
hidden, as with Debian's Nix and ``sandbox = false``: host tools stay usable.
A derivation that is not fixed-output also gets an empty network namespace
(only a loopback interface).

When the logical store directory does not exist on the host (no Nix installed,
nobody may create ``/nix``), the builder gets a new root instead: a tmpfs with
every top-level entry of ``/`` bind-mounted into it, plus the store.

As in Nix (even without its sandbox), a seccomp filter makes ``chmod`` with the
setuid/setgid bits fail with EPERM and extended attributes fail with ENOTSUP,
and no-new-privileges is set: a store cannot hold what a NAR cannot express.

The set-up runs in the forked child just before ``exec`` (``preexec_fn``), with
libc's ``unshare``/``mount`` through ctypes; it allocates little and takes no
Python-level lock, so it is safe although other threads (evaluation, native
steps) may be running.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct

from nixlite.errors import NixliteError

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_unshare = _libc.unshare
_unshare.argtypes = [ctypes.c_int]
_mount = _libc.mount
_mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_void_p]
_prctl = _libc.prctl
_prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
_SECCOMP_ALLOW = 0x7FFF0000
_SECCOMP_ERRNO = 0x00050000
_EPERM, _ENOTSUP = 1, 95
_SET_ID_BITS = 0o6000


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _assemble(program) -> ctypes.Array:
    """Classic BPF from ``(label, code, k, jt label, jf label)`` rows (labels may be None)."""
    where = {row[0]: i for i, row in enumerate(program) if row[0]}
    out = (_SockFilter * len(program))()
    for i, (_, code, k, jt, jf) in enumerate(program):
        out[i] = _SockFilter(code, where[jt] - i - 1 if jt else 0, where[jf] - i - 1 if jf else 0, k)
    return out


_LD, _JEQ, _JSET, _RET = 0x20, 0x15, 0x45, 0x06
# seccomp_data: nr at 0, arch at 4, args[i] at 16 + 8 i (low word first on x86_64)
_FILTER = _assemble([
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
    (None, _RET, _SECCOMP_ALLOW, None, None),
    ("mode1", _LD, 24, None, None),
    (None, _JSET, _SET_ID_BITS, "eperm", "allow"),
    ("mode2", _LD, 32, None, None),
    (None, _JSET, _SET_ID_BITS, "eperm", "allow"),
    ("eperm", _RET, _SECCOMP_ERRNO | _EPERM, None, None),
    ("notsup", _RET, _SECCOMP_ERRNO | _ENOTSUP, None, None),
    ("allow", _RET, _SECCOMP_ALLOW, None, None),
])
_FPROG = _SockFprog(len(_FILTER), _FILTER)


def _install_seccomp() -> None:
    if os.uname().machine != "x86_64":
        return  # the filter is written for x86_64 system call numbers
    if _prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        _fail("setting no-new-privileges")
    if _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(_FPROG), 0, 0) != 0:
        _fail("installing the seccomp filter")


class SandboxUnavailable(NixliteError):
    """The kernel refuses the namespaces a build needs."""


def _fail(what: str) -> None:
    err = ctypes.get_errno()
    raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount_or_fail(src: bytes | None, dst: bytes, fstype: bytes | None, flags: int,
                   data: bytes | None = None) -> None:
    if _mount(src, dst, fstype, flags, data) != 0:
        _fail(f"mounting '{os.fsdecode(dst)}'")


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


class Namespace:
    """How builders of one store are confined; ``enter(private_network, cwd)`` is the
    ``preexec_fn`` body.  ``new_root`` is an empty directory used only when the
    logical store directory is missing on the host."""

    def __init__(self, real_store: str, store_dir: str, new_root: str) -> None:
        self.real_store = os.fsencode(real_store)
        self.store_dir = os.fsencode(store_dir)
        self.need_new_root = not os.path.isdir(store_dir)
        self.new_root = os.fsencode(new_root)
        if self.need_new_root:
            os.makedirs(new_root, exist_ok=True)
        self.uid = os.geteuid()
        self.gid = os.getegid()

    def enter(self, private_network: bool, cwd: str) -> None:
        """Runs in the forked child, before exec."""
        _prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)
        flags = CLONE_NEWNS | (CLONE_NEWNET if private_network else 0)
        if self.uid != 0:
            flags |= CLONE_NEWUSER
        if _unshare(flags) != 0:
            _fail("creating the build namespaces")
        if self.uid != 0:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{self.uid} {self.uid} 1")
            _write("/proc/self/gid_map", f"{self.gid} {self.gid} 1")
        _mount_or_fail(None, b"/", None, MS_REC | MS_PRIVATE)
        if self.need_new_root:
            self._enter_new_root()
        else:
            _mount_or_fail(self.real_store, self.store_dir, None, MS_BIND | MS_REC)
        if private_network:
            _loopback_up()
        _install_seccomp()
        os.chdir(cwd)

    def _enter_new_root(self) -> None:
        root = self.new_root
        _mount_or_fail(b"tmpfs", root, b"tmpfs", 0, b"mode=0755")
        for name in os.listdir(b"/"):
            src = b"/" + name
            dst = root + b"/" + name
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            elif os.path.isdir(src):
                os.mkdir(dst)
                _mount_or_fail(src, dst, None, MS_BIND | MS_REC)
            else:
                os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o644))
                _mount_or_fail(src, dst, None, MS_BIND)
        store = root + self.store_dir
        os.makedirs(store, exist_ok=True)
        _mount_or_fail(self.real_store, store, None, MS_BIND | MS_REC)
        os.chroot(root)


_checked: dict[int, str | None] = {}


def check_available() -> None:
    """Fail early, with the setting to change, where the kernel forbids the namespaces."""
    uid = os.geteuid()
    if uid not in _checked:
        _checked[uid] = _probe(uid)
    problem = _checked[uid]
    if problem is not None:
        raise SandboxUnavailable(problem)


def _probe(uid: int) -> str | None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(r)
        code = 0
        if _unshare(CLONE_NEWNS | (CLONE_NEWUSER if uid != 0 else 0)) != 0:
            code = ctypes.get_errno() or 1
        os.write(w, code.to_bytes(4, "little"))
        os._exit(0)
    os.close(w)
    data = os.read(r, 4)
    os.close(r)
    os.waitpid(pid, 0)
    err = int.from_bytes(data, "little") if len(data) == 4 else 1
    if err == 0:
        return None
    reason = os.strerror(err)
    if uid == 0:
        return f"cannot create a mount namespace for builders: {reason}"
    settings = []
    for path, setting in (("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone=1"),
                          ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces (> 0)"),
                          ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                           "kernel.apparmor_restrict_unprivileged_userns=0")):
        if os.path.exists(path):
            settings.append(setting)
    hint = " or ".join(settings) or "user namespaces in the kernel configuration"
    return (f"cannot create a user namespace for builders ({reason}); nixlite needs user "
            f"namespaces to show its store at /nix/store to builders: enable them with sysctl "
            f"{hint}, or run as root")
