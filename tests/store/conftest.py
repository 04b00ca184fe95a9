import pytest


@pytest.fixture
def nix_conf_dir(tmp_path, monkeypatch):
    """nixlite's nix.conf lookups (system, user, $NIX_CONFIG) land in an empty private directory."""
    conf = tmp_path / "conf"
    conf.mkdir()
    for var in ("NIX_CONFIG", "NIX_USER_CONF_FILES", "XDG_CONFIG_DIRS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NIX_CONF_DIR", str(conf))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(conf / "user"))
    return conf
