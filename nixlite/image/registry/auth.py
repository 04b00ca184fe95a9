"""Registry credentials and authentication challenges.

Credentials come from the files skopeo/podman and docker read, first match wins:
``$REGISTRY_AUTH_FILE``, ``$XDG_RUNTIME_DIR/containers/auth.json``,
``~/.config/containers/auth.json``, then ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``).  In each, ``auths`` keys may be a host, a URL
(``https://index.docker.io/v1/``) or a host with a repository namespace (most specific wins);
``credHelpers``/``credsStore`` name a ``docker-credential-<helper>`` program asked with
``get``.  Challenges are parsed from ``WWW-Authenticate`` (RFC 7235 auth-params).
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from dataclasses import dataclass

from nixlite.errors import NixliteError

_DOCKER_HUB_KEYS = ("docker.io", "index.docker.io", "registry-1.docker.io")


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str

    def basic_header(self) -> str:
        raw = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # 'bearer' or 'basic' (lower-case)
    params: dict[str, str]


_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``Bearer realm="…",service="…",scope="…"`` (and ``Basic realm=…``)."""
    challenges: list[Challenge] = []
    pos = 0
    header = header.strip()
    while pos < len(header):
        m = re.compile(r"\s*,?\s*([A-Za-z][A-Za-z0-9_-]*)").match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while True:
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else pm.group(3)
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
        challenges.append(Challenge(scheme, params))
    return challenges


def _auth_files() -> list[str]:
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(os.environ["REGISTRY_AUTH_FILE"])
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    home = os.path.expanduser("~")
    files.append(os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"),
                              "containers", "auth.json"))
    docker_dir = os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    files.append(os.path.join(docker_dir, "config.json"))
    return files


def _normalise_key(key: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``http://host:5000/x`` → ``host:5000/x``."""
    key = re.sub(r"^[a-z]+://", "", key).rstrip("/")
    if key.endswith("/v1") or key.endswith("/v2"):
        key = key[:-3]
    host, slash, rest = key.partition("/")
    if host in _DOCKER_HUB_KEYS:
        host = "docker.io"
    return host + slash + rest


def _decode_auth(value: str, path: str) -> Credentials:
    try:
        user, sep, password = base64.b64decode(value, validate=False).decode().partition(":")
    except (ValueError, UnicodeDecodeError, TypeError):
        raise NixliteError(f"invalid 'auth' value in '{path}' (expected base64 of user:password)") from None
    if not sep:
        raise NixliteError(f"invalid 'auth' value in '{path}' (expected base64 of user:password)")
    return Credentials(user, password)


def _helper_credentials(helper: str, host: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([program, "get"], input=host.encode(), capture_output=True, timeout=60)
    except FileNotFoundError:
        raise NixliteError(f"credential helper '{program}' is not on PATH") from None
    except subprocess.TimeoutExpired:
        raise NixliteError(f"credential helper '{program}' did not answer within 60 s") from None
    if proc.returncode != 0:
        if b"credentials not found" in proc.stdout + proc.stderr:
            return None
        raise NixliteError(f"credential helper '{program}' failed: "
                           f"{(proc.stderr or proc.stdout).decode(errors='replace').strip()}")
    try:
        data = json.loads(proc.stdout)
        return Credentials(data["Username"], data["Secret"])
    except (ValueError, KeyError, TypeError):
        raise NixliteError(f"credential helper '{program}' printed an unexpected answer") from None


def read_auth_file(path: str) -> dict | None:
    """An auth file's JSON object, checked (None if the file does not exist): a malformed
    file is an error as soon as it is named, as in skopeo, not when a registry first asks
    for credentials."""
    try:
        with open(path, "rb") as f:
            config = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise NixliteError(f"cannot read registry credentials from '{path}': {reason}") from None
    if not isinstance(config, dict):
        raise NixliteError(f"cannot read registry credentials from '{path}': not a JSON object")
    for field in ("auths", "credHelpers"):
        if not isinstance(config.get(field, {}), dict):
            raise NixliteError(f"cannot read registry credentials from '{path}': "
                               f"'{field}' is not an object")
    for entry in config.get("auths", {}).values():
        if isinstance(entry, dict) and entry.get("auth"):
            _decode_auth(entry["auth"], path)
    return config


def check_auth_file(path: str) -> None:
    """Refuse a missing or malformed ``--authfile`` before any network traffic."""
    if read_auth_file(path) is None:
        raise NixliteError(f"auth file '{path}' does not exist")


def find_credentials(host: str, repository: str, auth_file: str | None = None) -> Credentials | None:
    """Credentials for ``host`` (as in the reference, e.g. ``docker.io``) and repository,
    from ``auth_file`` only if given (skopeo's ``--authfile``), else the usual files."""
    wanted = host if host not in _DOCKER_HUB_KEYS else "docker.io"
    full = f"{wanted}/{repository}"
    for path in [auth_file] if auth_file else _auth_files():
        config = read_auth_file(path)
        if config is None:
            if auth_file:
                raise NixliteError(f"auth file '{auth_file}' does not exist")
            continue
        helpers = config.get("credHelpers") or {}
        if isinstance(helpers, dict):
            for key, helper in helpers.items():
                if _normalise_key(key) == wanted:
                    creds = _helper_credentials(helper, key)
                    if creds is not None:
                        return creds
        auths = config.get("auths") or {}
        best: tuple[int, Credentials] | None = None
        if isinstance(auths, dict):
            for key, entry in auths.items():
                norm = _normalise_key(key)
                if not (norm == wanted or (full + "/").startswith(norm + "/")):
                    continue
                if not isinstance(entry, dict):
                    continue
                if entry.get("auth"):
                    creds = _decode_auth(entry["auth"], path)
                elif entry.get("username") is not None:
                    creds = Credentials(entry["username"], entry.get("password", ""))
                else:
                    continue
                if best is None or len(norm) > best[0]:
                    best = (len(norm), creds)
        if best is not None:
            return best[1]
        store = config.get("credsStore")
        if isinstance(store, str) and store:
            key = "https://index.docker.io/v1/" if wanted == "docker.io" else wanted
            creds = _helper_credentials(store, key)
            if creds is not None:
                return creds
    return None


def parse_creds(text: str) -> Credentials:
    """``USER[:PASSWORD]`` as skopeo's ``--creds`` takes it."""
    user, _, password = text.partition(":")
    if not user:
        raise NixliteError("--creds needs a user name (USER[:PASSWORD])")
    return Credentials(user, password)
