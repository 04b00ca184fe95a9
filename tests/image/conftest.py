"""Shared fixtures for the image tests: small file trees exercising every tar corner."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

# the upstream reference drivers live beside the tests (importlib import mode needs this)
sys.path.insert(0, os.path.dirname(__file__))


def make_tree(root: str) -> str:
    """A small tree with what layer writers must get right: sort order, modes, symlinks,
    hard links, long names (99/100/101 bytes), long link targets, non-ASCII and
    non-UTF-8 names, empty and block-multiple files, a file > 1 MiB, a fifo."""
    os.makedirs(root)
    j = os.path.join
    os.makedirs(j(root, "bin"))
    with open(j(root, "bin", "hello"), "wb") as f:
        f.write(b"#!/bin/sh\necho hello\n")
    os.chmod(j(root, "bin", "hello"), 0o755)
    os.symlink("hello", j(root, "bin", "hi"))
    os.symlink("/nix/store/0000000000000000000000000000000-x/bin/x", j(root, "bin", "abs"))
    for name in ("b", "b-c", "b.d", "B", "b0"):
        os.makedirs(j(root, "sort", name))
        with open(j(root, "sort", name, "x"), "w") as f:
            f.write(name)
    with open(j(root, "empty"), "wb"):
        pass
    with open(j(root, "block"), "wb") as f:
        f.write(b"\x01" * 512)
    with open(j(root, "big"), "wb") as f:
        f.write(os.urandom(1 << 20) + b"z" * 70001)
    os.link(j(root, "block"), j(root, "hardlink"))
    deep = j(root, "deep")
    os.makedirs(deep)
    for n in (97, 98, 99, 100, 101, 140):
        with open(j(deep, "n" * n), "w") as f:
            f.write(str(n))
    long_dir = j(root, "d" * 120, "e" * 120)
    os.makedirs(long_dir)
    with open(j(long_dir, "f"), "w") as f:
        f.write("deep")
    os.symlink("t" * 150, j(root, "longtarget"))
    os.symlink("u" * 150, j(root, "l" * 130))
    with open(j(root, "grüße-ö"), "w") as f:
        f.write("umlaut")
    with open(os.path.join(os.fsencode(root), b"raw-\xff\xfe"), "w") as f:
        f.write("bytes")
    with open(j(root, "setuid"), "w") as f:
        f.write("s")
    os.chmod(j(root, "setuid"), 0o4711)
    os.mkfifo(j(root, "fifo"))
    os.makedirs(j(root, ".config", "app"))
    with open(j(root, ".config", "app", ".rc"), "w") as f:
        f.write("dotfiles are archived too")
    os.makedirs(j(root, "ro"))
    with open(j(root, "ro", "file"), "w") as f:
        f.write("ro")
    os.chmod(j(root, "ro", "file"), 0o444)
    os.chmod(j(root, "ro"), 0o555)
    return root


@pytest.fixture(scope="session")
def tree(tmp_path_factory):
    base = tmp_path_factory.mktemp("tree")
    root = make_tree(str(base / "root"))
    yield root
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o755)
    shutil.rmtree(base, ignore_errors=True)
