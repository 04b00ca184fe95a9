"""The local store: validity in SQLite, atomic adds, crash safety, concurrency."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from nixlite.store.local import LocalStore, StoreError
from nixlite.store.paths import text_path_of

HERE = os.path.dirname(__file__)
FILES = os.path.join(HERE, "vectors", "files")


def test_add_text_registers_metadata(tmp_path):
    store = LocalStore(str(tmp_path / "s"))
    p = store.add_text("hello.txt", b"hello\n")
    assert p == "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt"
    info = store.query_path_info(p)
    assert info.nar_size == 120 and info.nar_hash.base32() == "04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw"
    assert info.references == set() and info.ca.startswith("text:sha256:")
    real = store.physical(p)
    assert real.startswith(str(tmp_path)) and open(real, "rb").read() == b"hello\n"
    assert os.stat(real).st_mode & 0o777 == 0o444
    q = store.add_text("refs", p.encode(), [p])
    assert store.query_path_info(q).references == {p}
    assert store.closure([q]) == {p, q}
    assert store.verify() == []
    assert os.listdir(store.tmp_dir) == []


def test_add_path_and_idempotence(tmp_path):
    store = LocalStore(str(tmp_path / "s"))
    p, h = store.add_path(os.path.join(FILES, "tree"), "tree")
    assert p == "/nix/store/nr6w2p22rdqx71zp19zj8013xljbv5fd-tree"
    assert os.readlink(store.physical(p) + "/sub/link") == "../a.txt"
    assert store.add_path(os.path.join(FILES, "tree"), "tree") == (p, h)
    flat, _ = store.add_path(os.path.join(FILES, "hello.txt"), "hello.txt", recursive=False)
    assert flat == "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt"
    assert store.verify() == []
    assert len(store.all_valid_paths()) == 2


def test_flat_objects_keep_the_executable_bit(tmp_path):
    """As `nix-store --add-fixed sha256 run.sh` in Nix 2.8: r-xr-xr-x, NAR with the marker."""
    store = LocalStore(str(tmp_path / "s"))
    p, _ = store.add_path(os.path.join(FILES, "run.sh"), "run.sh", recursive=False)
    assert p == "/nix/store/8ryqzj9wi83f5d9sijbmxhkffg8bbb7b-run.sh"
    assert os.stat(store.physical(p)).st_mode & 0o777 == 0o555
    info = store.query_path_info(p)
    assert info.nar_hash.sri() == "sha256-XgrM8Czt7eXkEZ/6FeeeeaX7H7m8Q8PUNPMyJ6FEd6A=" and info.nar_size == 168


def test_reference_must_be_valid(tmp_path):
    store = LocalStore(str(tmp_path / "s"))
    ghost = text_path_of("ghost", b"boo")
    with pytest.raises(StoreError, match="is not valid"):
        store.add_text("x", ghost.encode(), [ghost])


def test_refuses_nix_own_store():
    with pytest.raises(StoreError, match="Nix's own store"):
        LocalStore("/nix")


def test_unusable_database_is_a_store_error(tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    (root / "db.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the store database"):
        LocalStore(str(root))


def test_verify_detects_tampering(tmp_path):
    store = LocalStore(str(tmp_path / "s"))
    p = store.add_text("t", b"abc")
    real = store.physical(p)
    os.chmod(real, 0o644)
    with open(real, "wb") as f:
        f.write(b"abd")
    assert any("was modified" in msg for msg in store.verify())


WRITER = textwrap.dedent("""
    import os, sys
    from nixlite.store.local import LocalStore
    store = LocalStore(sys.argv[1])
    src = sys.argv[2]
    for i in range(10000):
        # a new directory each round: many files, so the kill lands mid-copy
        with open(os.path.join(src, "round"), "w") as f:
            f.write(str(i))
        path, _ = store.add_path(src, "big")
        print(path, flush=True)
""")


def _big_tree(root, files=400, size=20000):
    os.makedirs(root)
    for i in range(files):
        with open(os.path.join(root, f"f{i:04}"), "wb") as f:
            f.write(os.urandom(size))


def test_killed_writer_leaves_store_valid(tmp_path):
    src = str(tmp_path / "src")
    _big_tree(src)
    root = str(tmp_path / "s")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, root, src], stdout=subprocess.PIPE, text=True)
    done = [proc.stdout.readline().strip() for _ in range(3)]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = LocalStore(root)
    for p in done:
        assert store.is_valid(p)
    assert store.verify() == []
    # every object present in store/ is either registered or garbage the next writer replaces
    with open(os.path.join(src, "round"), "w") as f:
        f.write("after the crash")
    p, _ = store.add_path(src, "big")
    assert store.is_valid(p) and store.verify() == []
    assert os.listdir(store.tmp_dir) == []  # the dead writer's temp dir was cleaned up


DIE_AFTER_RENAME = textwrap.dedent("""
    import os, sys
    from nixlite.store.local import LocalStore
    def die(self, info):
        os.kill(os.getpid(), 9)   # crash between rename and the DB transaction
    LocalStore._register = die
    store = LocalStore(sys.argv[1])
    store.add_text("victim", b"half written")
""")


def test_crash_between_rename_and_register(tmp_path):
    root = str(tmp_path / "s")
    r = subprocess.run([sys.executable, "-c", DIE_AFTER_RENAME, root])
    assert r.returncode == -signal.SIGKILL
    store = LocalStore(root)
    p = text_path_of("victim", b"half written")
    assert os.path.exists(store.physical(p)) and not store.is_valid(p)
    assert store.add_text("victim", b"half written") == p
    assert store.is_valid(p) and store.verify() == []


RACER = textwrap.dedent("""
    import sys, time
    from nixlite.store.local import LocalStore
    store = LocalStore(sys.argv[1])
    # both processes wait for the same start signal (a file), then add at once
    while not __import__("os").path.exists(sys.argv[3]):
        time.sleep(0.001)
    print(store.add_path(sys.argv[2], "same")[0])
""")


def test_two_processes_add_same_path(tmp_path):
    src = str(tmp_path / "src")
    _big_tree(src, files=200, size=5000)
    root = str(tmp_path / "s")
    LocalStore(root).close()
    go = str(tmp_path / "go")
    procs = [subprocess.Popen([sys.executable, "-c", RACER, root, src, go],
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    open(go, "w").close()
    outs = [p.communicate()[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0] == outs[1]
    store = LocalStore(root)
    assert store.all_valid_paths() == [outs[0]]
    assert os.listdir(store.real_dir) == [os.path.basename(outs[0])]
    assert os.listdir(store.tmp_dir) == []
    assert store.verify() == []


DEFERRED = textwrap.dedent("""
    import os, sys
    from nixlite.store.local import LocalStore
    store = LocalStore(sys.argv[1])
    store.defer_registration()
    paths = [store.add_text(f"t{i}", str(i).encode()) for i in range(50)]
    print(paths[-1], flush=True)
    if sys.argv[2] == "kill":
        os.kill(os.getpid(), 9)
""")


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_deferred_registration(tmp_path, how):
    root = str(tmp_path / "s")
    r = subprocess.run([sys.executable, "-c", DEFERRED, root, how], capture_output=True, text=True)
    last = r.stdout.strip()
    store = LocalStore(root)
    if how == "exit":  # registered at exit, in one transaction
        assert r.returncode == 0 and len(store.all_valid_paths()) == 50 and store.is_valid(last)
    else:  # killed before the group commit: nothing valid, files are harmless leftovers
        assert r.returncode == -signal.SIGKILL and store.all_valid_paths() == []
        assert os.path.exists(store.physical(last))
        assert store.add_text("t49", b"49") == last and store.is_valid(last)
    assert store.verify() == []


def test_deferred_paths_visible_in_process(tmp_path):
    store = LocalStore(str(tmp_path / "s"))
    store.defer_registration()
    a = store.add_text("a", b"a")
    b = store.add_text("b", a.encode(), [a])
    assert store.is_valid(b) and store.references(b) == {a}  # answered from memory
    other = LocalStore(str(tmp_path / "s"))
    assert not other.is_valid(a)  # not registered yet
    assert store.query_path_info(a).nar_size == 120  # also answered from memory
    store.flush()
    assert other.is_valid(a) and other.references(b) == {a}
    store.close()


def test_opening_the_store_clears_what_killed_writers_left(tmp_path):
    """A writer killed mid-add leaves its temporary under tmp/; the next process to open
    the store removes it, but never one whose writer is still running."""
    store = LocalStore(str(tmp_path / "s"))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    stale_dir = os.path.join(store.tmp_dir, f"{dead.pid}-aaaaaa")
    os.makedirs(os.path.join(stale_dir, "sub"))
    stale_file = os.path.join(store.tmp_dir, f"{dead.pid}-bbbbbb")
    open(stale_file, "w").close()
    live = os.path.join(store.tmp_dir, f"{os.getppid()}-cccccc")
    open(live, "w").close()
    LocalStore(str(tmp_path / "s"))
    assert sorted(os.listdir(store.tmp_dir)) == [os.path.basename(live)]
