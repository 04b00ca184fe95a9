"""buildImageWithNixDb / buildLayeredImageWithNixDb: the image's own Nix database.

What the seed's ``nix-store --load-db < closureInfo/registration`` leaves under the layer's
``nix/var/nix`` (schema version 10, the SQLite tables of Nix 2.x, readable by ``nix-store``
2.8), with every path of the contents' closure registered, plus the
``nix/var/nix/gcroots/docker/NAME`` roots.  Written before the user's extraCommands, as the
seed prepends its command to them.  Registration times are 1 so the layer is reproducible.
"""

from __future__ import annotations

import os
import sqlite3

from nixlite.store.local import LocalStore

SCHEMA_VERSION = "10"
_SCHEMA = """
CREATE TABLE ValidPaths (
    id               integer primary key autoincrement not null,
    path             text unique not null,
    hash             text not null,
    registrationTime integer not null,
    deriver          text,
    narSize          integer,
    ultimate         integer,
    sigs             text,
    ca               text
);
CREATE TABLE Refs (
    referrer  integer not null,
    reference integer not null,
    primary key (referrer, reference),
    foreign key (referrer) references ValidPaths(id) on delete cascade,
    foreign key (reference) references ValidPaths(id) on delete restrict
);
CREATE INDEX IndexReferrer on Refs(referrer);
CREATE INDEX IndexReference on Refs(reference);
CREATE TRIGGER DeleteSelfRefs before delete on ValidPaths
  begin
    delete from Refs where referrer = old.id and reference = old.id;
  end;
CREATE TABLE DerivationOutputs (
    drv  integer not null,
    id   text not null,
    path text not null,
    primary key (drv, id),
    foreign key (drv) references ValidPaths(id) on delete cascade
);
CREATE INDEX IndexDerivationOutputs on DerivationOutputs(path);
"""


def write_nix_db(store: LocalStore, layer: str, roots: list[str]) -> None:
    """Register the closure of ``roots`` in ``layer/nix/var/nix/db`` and root them."""
    state = os.path.join(layer, "nix", "var", "nix")
    for sub in ("db", "temproots", "profiles/per-user", "gcroots/per-user", "gcroots/docker"):
        os.makedirs(os.path.join(state, sub), exist_ok=True)
    with open(os.path.join(state, "db", "schema"), "w") as f:
        f.write(SCHEMA_VERSION)
    db_path = os.path.join(state, "db", "db.sqlite")
    db = sqlite3.connect(db_path, isolation_level=None)
    try:
        db.executescript(_SCHEMA)
        db.execute("BEGIN")
        ids: dict[str, int] = {}
        closure = sorted(store.closure(roots))
        for path in closure:
            info = store.query_path_info(path)
            cursor = db.execute(
                "INSERT INTO ValidPaths (path, hash, registrationTime, deriver, narSize, ca) "
                "VALUES (?, ?, 1, ?, ?, ?)",
                (path, "sha256:" + info.nar_hash.hex(), None, info.nar_size, info.ca))
            ids[path] = cursor.lastrowid
        for path in closure:
            for ref in sorted(store.references(path)):
                db.execute("INSERT INTO Refs (referrer, reference) VALUES (?, ?)",
                           (ids[path], ids[ref]))
        db.execute("COMMIT")
    finally:
        db.close()
    for root in roots:
        link = os.path.join(state, "gcroots", "docker", os.path.basename(root))
        if not os.path.lexists(link):
            os.symlink(root, link)
