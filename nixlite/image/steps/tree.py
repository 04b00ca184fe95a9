"""Building a layer's directory tree from store paths, as upstream's shell steps do.

``copy_contents`` is mkPureLayer's ``rsync -a{k,K} --chown=0:0 ITEM/ layer/`` (files copied,
symlinks kept as links except that ``-k`` copies a link to a directory as that directory);
``link_contents`` is symlinkJoin's ``lndir`` (real directories, files as absolute links to
their store path, links copied as links).  Both read through a ``StoreView``.
"""

from __future__ import annotations

import os
import shutil
import stat

from nixlite.errors import NixliteError
from nixlite.image.steps.storeview import StoreView


def _clear(dest: str) -> None:
    """Remove whatever is at ``dest`` (rsync replacing an entry of another type)."""
    if os.path.islink(dest) or not os.path.isdir(dest):
        os.unlink(dest)
    else:
        for dirpath, dirnames, _ in os.walk(dest):
            for d in dirnames:
                os.chmod(os.path.join(dirpath, d), 0o755)
        os.chmod(dest, 0o755)
        shutil.rmtree(dest)


def _is_dir_here(dest: str, keep_dirlinks: bool) -> bool:
    if os.path.islink(dest):
        return keep_dirlinks and os.path.isdir(dest)
    return os.path.isdir(dest)


def copy_contents(view: StoreView, item: str, layer: str, *, keep_dirlinks: bool) -> None:
    """``rsync -a(K|k) ITEM/ LAYER/``: ``item`` is a logical store path (or a path below one)."""
    source = view.resolve(item)
    real = view.physical(source)
    if not os.path.isdir(real):
        raise NixliteError(f"contents item '{item}' is not a directory")
    _copy_dir(view, source, layer, keep_dirlinks, top=True)


def _copy_dir(view: StoreView, logical: str, dest: str, keep_dirlinks: bool, top: bool = False) -> None:
    real = view.physical(logical)
    mode = stat.S_IMODE(os.stat(real).st_mode)
    if not _is_dir_here(dest, keep_dirlinks):
        if os.path.lexists(dest):
            _clear(dest)
        os.mkdir(dest, 0o700)
    target = os.path.realpath(dest) if os.path.islink(dest) else dest
    os.chmod(target, mode | 0o700)
    for name in sorted(os.listdir(real)):
        child = logical + "/" + name
        child_real = real + "/" + name
        child_dest = os.path.join(target, name)
        st = os.lstat(child_real)
        if stat.S_ISLNK(st.st_mode) and not keep_dirlinks and view.is_dir(child):
            _copy_dir(view, view.resolve(child), child_dest, keep_dirlinks)
        elif stat.S_ISDIR(st.st_mode):
            _copy_dir(view, child, child_dest, keep_dirlinks)
        else:
            if os.path.lexists(child_dest):
                _clear(child_dest)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(child_real), child_dest)
            elif stat.S_ISREG(st.st_mode):
                shutil.copyfile(child_real, child_dest, follow_symlinks=False)
                os.chmod(child_dest, stat.S_IMODE(st.st_mode))
            else:
                raise NixliteError(f"cannot copy '{child}': not a file, directory or symlink")
    os.chmod(target, mode if not top else mode | 0o200)


LNDIR_SKIPS = {"RCS", "SCCS", "CVS", "CVS.adm", ".svn", ".git", ".hg"}


def link_contents(view: StoreView, item: str, dest: str) -> None:
    """``lndir -silent ITEM DEST`` (symlinkJoin): directories made, files linked to their
    logical path, symlinks copied (their text); an existing entry is left alone; version
    control directories skipped.  (lndir's st_nlink shortcut, which may also descend into a
    linked directory depending on readdir order, is not reproduced: links stay links.)"""
    source = view.resolve(item)
    real = view.physical(source)
    if not os.path.isdir(real):
        raise NixliteError(f"contents item '{item}' is not a directory")
    os.makedirs(dest, exist_ok=True)
    for name in sorted(os.listdir(real)):
        child, child_real, child_dest = source + "/" + name, real + "/" + name, os.path.join(dest, name)
        st = os.lstat(child_real)
        if stat.S_ISDIR(st.st_mode):
            if name in LNDIR_SKIPS:
                continue
            if os.path.islink(child_dest) and view.is_dir(os.readlink(child_dest)):
                # an earlier package linked this directory: lndir descends into real dirs only
                continue
            link_contents(view, child, child_dest)
        elif not os.path.lexists(child_dest):
            os.symlink(os.readlink(child_real) if stat.S_ISLNK(st.st_mode) else child, child_dest)
