import pytest


@pytest.fixture(autouse=True)
def _fresh_default_store():
    """Commands run in-process (main([...])) may switch the process-wide store: never
    let that leak into the next test."""
    from nixlite.store import local

    yield
    local.reset_default_store()
