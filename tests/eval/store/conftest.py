import pytest


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A fresh nixlite store for one test; evaluations in the test use it."""
    monkeypatch.setenv("NIXLITE_STORE", str(tmp_path / "nixlite-store"))
    monkeypatch.delenv("NIX_STORE_DIR", raising=False)
    from nixlite.store.local import LocalStore

    store = LocalStore()
    yield store
    store.close()
