import pytest


@pytest.fixture
def tmp_store(tmp_path, monkeypatch):
    """A fresh local store under tmp_path, used by everything in the test."""
    root = tmp_path / "nixlite-store"
    monkeypatch.setenv("NIXLITE_STORE", str(root))
    from nixlite.store import local

    local.reset_default_store()
    yield local.default_store()
    local.reset_default_store()
