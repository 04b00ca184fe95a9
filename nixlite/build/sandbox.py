"""Run builders where nixlite's store is ``/nix/store``.

nixlite keeps its store wherever the user can write (``~/.local/share/…``), but
builders and their outputs name ``/nix/store/…``.  Builders are therefore started
in a private mount namespace (plus a user namespace when not root) in which the
real store directory is bind-mounted at the logical one.  Nothing else is hidden,
as with Debian's Nix and ``sandbox = false``: host tools stay usable.  Builds that
are not fixed-output get a network namespace with only a loopback interface
(shared by the builds of one run); fixed-output ones keep the host's network.

The namespaces are entered once per run by a launcher process (``zygote.py``) per
network mode, which then forks each builder: see there for the details.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import subprocess
import sys

from nixlite.errors import NixliteError

ZYGOTE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zygote.py")


class SandboxUnavailable(NixliteError):
    """The kernel refuses the namespaces a build needs."""


def _unavailable(reply: dict, user_namespace: bool) -> SandboxUnavailable:
    reason = reply.get("error", "unknown error")
    if reply.get("stage") != "unshare" or not user_namespace:
        return SandboxUnavailable(f"cannot set up the build namespaces: {reason}")
    settings = []
    for path, setting in (("/proc/sys/kernel/unprivileged_userns_clone", "kernel.unprivileged_userns_clone=1"),
                          ("/proc/sys/user/max_user_namespaces", "user.max_user_namespaces (> 0)"),
                          ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
                           "kernel.apparmor_restrict_unprivileged_userns=0")):
        if os.path.exists(path):
            settings.append(setting)
    hint = " or ".join(settings) or "user namespaces in the kernel configuration"
    return SandboxUnavailable(
        f"cannot create a user namespace for builders ({reason}); nixlite needs user namespaces "
        f"to show its store at /nix/store to builders: enable them with sysctl {hint}, or run "
        "as root")


class _Zygote:
    """One launcher process and the replies it has sent that nobody asked for yet."""

    def __init__(self, argv: list[str], user_namespace: bool) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.proc = subprocess.Popen(argv, stdin=theirs,
                                     env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        theirs.close()
        self.pending: dict[int, dict] = {}  # request id -> its {"status"} reply
        reply = self._recv()
        if not reply.get("ready"):
            self.close()
            raise _unavailable(reply, user_namespace)

    def _recv(self) -> dict:
        try:
            data = self.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            raise NixliteError("the builder launcher died unexpectedly")
        return json.loads(data)

    def start(self, req: dict, pty: int) -> int:
        try:
            self.sock.sendmsg([json.dumps(req).encode()],
                              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [pty]))])
        except OSError:
            raise NixliteError("the builder launcher died unexpectedly") from None
        while True:
            reply = self._recv()
            if reply["id"] == req["id"] and "pid" in reply:
                return reply["pid"]
            self.pending[reply["id"]] = reply

    def wait(self, ident: int) -> int:
        while ident not in self.pending:
            reply = self._recv()
            self.pending[reply["id"]] = reply
        return self.pending.pop(ident)["status"]

    def close(self) -> None:
        self.sock.close()  # the launcher kills what is left and exits
        self.proc.wait()


class Builder:
    """A builder started by ``Launcher.start``."""

    def __init__(self, zygote: _Zygote, ident: int, pid: int) -> None:
        self.zygote = zygote
        self.ident = ident
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        """Exit code as ``subprocess`` gives it (``-N`` for a signal)."""
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(self.zygote.wait(self.ident))
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class Launcher:
    """Starts builders of one store in its namespaces; launchers are started on first use."""

    def __init__(self, real_store: str, store_dir: str, new_root: str) -> None:
        self.real_store = real_store
        self.store_dir = store_dir
        self.new_root = new_root
        # root can mount in a plain mount namespace; anyone else needs a user namespace
        self.user_namespace = os.geteuid() != 0
        # where the logical store directory is missing, builders get a new root
        self.need_new_root = not os.path.isdir(store_dir)
        self._zygotes: dict[bool, _Zygote] = {}
        self._count = 0

    def _zygote(self, private_network: bool) -> _Zygote:
        z = self._zygotes.get(private_network)
        if z is None:
            os.makedirs(self.new_root, exist_ok=True)
            modes = ["net"] * private_network + ["user"] * self.user_namespace \
                + ["newroot"] * self.need_new_root
            argv = [sys.executable, "-S", "-E", ZYGOTE, self.real_store, self.store_dir,
                    self.new_root, ",".join(modes) or "-"]
            z = self._zygotes[private_network] = _Zygote(argv, self.user_namespace)
        return z

    def start(self, private_network: bool, path: str, argv: list[str], env: dict[str, str],
              cwd: str, pty: int) -> Builder:
        z = self._zygote(private_network)
        self._count += 1
        req = {"id": self._count, "path": path, "argv": argv, "env": env, "cwd": cwd}
        return Builder(z, self._count, z.start(req, pty))

    def close(self) -> None:
        for z in self._zygotes.values():
            z.close()
        self._zygotes.clear()
