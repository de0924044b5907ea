"""Settings and network profiles: invalid values stop the start with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import ConfigError, load_profile, load_settings

MASUMI_ADMIN_KEY_HASHES = [
    "fc16a1fcf309aed03ec18bb2176f5ea29acea70bb79145ebaffa8e75",
    "7f78161369549d8e2b138fee724c9fa606d6107a66720bdb4c48ada6",
    "89eef9ea84e0ee7fe4921fa93eb2873ff6e34473f751d5d52cb75aa6",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("PAYNODE_"):
            monkeypatch.delenv(name)


def test_defaults_run_a_devnet_node_on_sqlite() -> None:
    settings = load_settings()
    assert settings.network == "devnet"
    assert settings.database_url == "sqlite:///data/paynode.sqlite"
    assert settings.port == 3001


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYNODE_PORT", "4000")
    monkeypatch.setenv("PAYNODE_DATABASE_URL", "postgresql://u@127.0.0.1:5432/x")
    settings = load_settings()
    assert settings.port == 4000
    assert settings.database_url.startswith("postgresql://")


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("PAYNODE_PORT", "not-a-port", "PAYNODE_PORT"),
        ("PAYNODE_PORT", "70000", "PAYNODE_PORT"),
        ("PAYNODE_NETWORK", "testnet", "PAYNODE_NETWORK"),
        ("PAYNODE_DATABASE_URL", "mysql://x", "PAYNODE_DATABASE_URL"),
        ("PAYNODE_ENCRYPTION_KEY", "short", "PAYNODE_ENCRYPTION_KEY"),
        ("PAYNODE_ADMIN_KEY", "tiny", "PAYNODE_ADMIN_KEY"),
        ("PAYNODE_LOG_LEVEL", "loud", "PAYNODE_LOG_LEVEL"),
        ("PAYNODE_NO_SUCH_SETTING", "1", "PAYNODE_NO_SUCH_SETTING"),
    ],
)
def test_invalid_setting_names_the_key(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_empty_optional_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYNODE_ADMIN_KEY", "")
    assert load_settings().admin_key is None


def test_real_network_requires_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYNODE_NETWORK", "preprod")
    with pytest.raises(ConfigError, match="PAYNODE_ENCRYPTION_KEY"):
        load_settings()
    monkeypatch.setenv("PAYNODE_ENCRYPTION_KEY", "x" * 40)
    with pytest.raises(ConfigError, match="PAYNODE_BLOCKFROST_PROJECT_ID"):
        load_settings()
    monkeypatch.setenv("PAYNODE_BLOCKFROST_PROJECT_ID", "preprodabc")
    assert load_settings().network == "preprod"


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "paynode.toml"
    config.write_text('port = 5005\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("PAYNODE_CONFIG_FILE", str(config))
    monkeypatch.setenv("PAYNODE_HOST", "127.0.0.2")
    settings = load_settings()
    assert settings.port == 5005
    assert settings.host == "127.0.0.2"


def test_invalid_toml_value_names_the_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "paynode.toml"
    config.write_text('port = "many"\n')
    monkeypatch.setenv("PAYNODE_CONFIG_FILE", str(config))
    with pytest.raises(ConfigError, match="PAYNODE_PORT"):
        load_settings()


def test_missing_toml_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PAYNODE_CONFIG_FILE", str(tmp_path / "absent.toml"))
    with pytest.raises(ConfigError, match="PAYNODE_CONFIG_FILE"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "network_id", "policy", "unit"),
    [
        (
            "preprod",
            0,
            "7e8bdaf2b2b919a3a4b94002cafb50086c0c845fe535d07a77ab7f77",
            "16a55b2a349361ff88c03788f93e1e966e5d689605d044fef722ddde0014df10745553444d",
        ),
        (
            "mainnet",
            1,
            "ad6424e3ce9e47bbd8364984bd731b41de591f1d11f6d7d43d0da9b9",
            "c48cbb3d5e57ed56e276bc45f99ab39abe94e6cd7ac39fb402da47ad0014df105553444d",
        ),
    ],
)
def test_masumi_v1_profiles_carry_the_network_constants(
    name: str, network_id: int, policy: str, unit: str
) -> None:
    profile = load_profile(name)
    assert profile.network_id == network_id
    assert profile.escrow.source == "chain"
    assert profile.escrow.script_hash == "bd2adb685621e224aae7571cb6bd8f0beb0fdd31875eb3a27feee6c0"
    assert profile.escrow.admin_key_hashes == MASUMI_ADMIN_KEY_HASHES
    assert profile.escrow.required_admin_signatures == 2
    assert profile.escrow.fee_permille == 50
    assert profile.escrow.cooldown_ms == 420_000
    assert profile.registry.policy_id == policy
    assert profile.stablecoin.unit == unit
    assert profile.stablecoin.decimals == 6


def test_slot_config_converts_both_ways() -> None:
    slot_config = load_profile("preprod").slot_config
    assert slot_config is not None
    assert slot_config.slot_to_posix_ms(86_400) == 1_655_769_600_000
    slot = 86_400 + 1_000_000
    assert slot_config.posix_ms_to_slot(slot_config.slot_to_posix_ms(slot) + 999) == slot


def test_every_profile_loads() -> None:
    for name in ("devnet", "preview", "preprod", "mainnet"):
        assert load_profile(name).name == name


def test_profile_with_wrong_network_address_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "config" / "preprod.toml").read_text()
    broken = text.replace("network_id = 0", "network_id = 1")
    (tmp_path / "preprod.toml").write_text(broken)
    with pytest.raises(ConfigError, match=r"escrow\.address.*another network"):
        load_profile("preprod", tmp_path)


def test_profile_whose_address_is_not_its_script_is_refused(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "config" / "mainnet.toml").read_text()
    broken = text.replace(
        'script_hash = "bd2adb685621e224aae7571cb6bd8f0beb0fdd31875eb3a27feee6c0"',
        'script_hash = "a15ce9d82d2f67645fc624e2edac03c6f1c106d0ad1af5815a3b14ad"',
    )
    (tmp_path / "mainnet.toml").write_text(broken)
    with pytest.raises(ConfigError, match=r"does not pay to escrow\.script_hash"):
        load_profile("mainnet", tmp_path)
