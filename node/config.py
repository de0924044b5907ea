"""Network profiles (config/*.toml) and the node's settings (PAYNODE_* variables, optional TOML)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from node.chain.addresses import AddressError, parse_address

NETWORK_NAMES = ("devnet", "preview", "preprod", "mainnet")
NetworkName = Literal["devnet", "preview", "preprod", "mainnet"]
Hex28 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{56}$")]
AssetUnit = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{56}([0-9a-f]{2}){0,32}$")]

ENV_PREFIX = "PAYNODE_"
MIN_ENCRYPTION_KEY_CHARS = 32


class ConfigError(Exception):
    """A setting or a profile is invalid; the message names the key."""


class SlotConfig(BaseModel):
    """Slot <-> POSIX milliseconds, anchored at a Shelley-era slot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    zero_time_ms: int = Field(ge=0)
    zero_slot: int = Field(ge=0)
    slot_length_ms: int = Field(gt=0)

    def slot_to_posix_ms(self, slot: int) -> int:
        return self.zero_time_ms + (slot - self.zero_slot) * self.slot_length_ms

    def posix_ms_to_slot(self, posix_ms: int) -> int:
        return self.zero_slot + (posix_ms - self.zero_time_ms) // self.slot_length_ms


class EscrowProfile(BaseModel):
    """The V1 escrow contract a network uses, with the parameters it was applied with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["chain", "contracts", "file"]
    address: str | None = None
    script_hash: Hex28 | None = None
    script_file: Path | None = None
    fee_address: str | None = None
    # where an output carrying the escrow script as a reference script lives: spends reference
    # it instead of paying for the script's bytes in every transaction
    reference_address: str | None = None
    fee_permille: int = Field(ge=0, le=1000)
    cooldown_ms: int = Field(ge=0)
    required_admin_signatures: int = Field(ge=1)
    admin_key_hashes: list[Hex28]

    @model_validator(mode="after")
    def _source_has_what_it_needs(self) -> EscrowProfile:
        if self.source == "chain" and not (self.address and self.script_hash):
            raise ValueError("source 'chain' needs address and script_hash")
        if self.source == "file" and self.script_file is None:
            raise ValueError("source 'file' needs script_file")
        if self.admin_key_hashes and self.required_admin_signatures > len(self.admin_key_hashes):
            raise ValueError("required_admin_signatures exceeds the number of admin_key_hashes")
        return self


class RegistryProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_id: Hex28 | None = None


class StablecoinProfile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    unit: AssetUnit | None = None
    decimals: int = Field(ge=0, le=18)


class NetworkProfile(BaseModel):
    """One network the node can serve: where the chain is and which contracts it speaks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: NetworkName
    display_name: str
    network_id: Literal[0, 1]
    blockfrost_url: str
    required_confirmations: int = Field(ge=0)
    slot_config: SlotConfig | None = None
    escrow: EscrowProfile
    registry: RegistryProfile
    stablecoin: StablecoinProfile

    @model_validator(mode="after")
    def _addresses_belong_to_network(self) -> NetworkProfile:
        for key, value in (
            ("escrow.address", self.escrow.address),
            ("escrow.fee_address", self.escrow.fee_address),
            ("escrow.reference_address", self.escrow.reference_address),
        ):
            if value is None:
                continue
            try:
                parsed = parse_address(value, self.network_id)
            except AddressError as error:
                raise ValueError(f"{key}: {error}") from error
            if key == "escrow.address" and parsed.script_hash != self.escrow.script_hash:
                raise ValueError("escrow.address does not pay to escrow.script_hash")
        return self


def default_config_dir() -> Path:
    """config/ beside the installed packages (a source checkout), unless PAYNODE_CONFIG_DIR says."""
    override = os.environ.get(f"{ENV_PREFIX}CONFIG_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "config"


def load_profile(name: str, config_dir: Path | None = None) -> NetworkProfile:
    if name not in NETWORK_NAMES:
        raise ConfigError(
            f"{ENV_PREFIX}NETWORK: unknown network {name!r}, expected one of {NETWORK_NAMES}"
        )
    path = (config_dir or default_config_dir()) / f"{name}.toml"
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as error:
        raise ConfigError(f"network profile {path} does not exist") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"network profile {path}: {error}") from error
    try:
        return NetworkProfile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(error, prefix=f"{path.name}: ")) from error


class Settings(BaseSettings):
    """The node's settings: variables PAYNODE_<KEY>, or a TOML file named in PAYNODE_CONFIG_FILE."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    network: NetworkName = "devnet"
    database_url: str = "sqlite:///data/paynode.sqlite"
    data_dir: Path = Path("data")
    config_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=1, le=65535)
    encryption_key: SecretStr | None = None
    admin_key: SecretStr | None = None
    blockfrost_project_id: SecretStr | None = None
    blockfrost_url: str | None = None
    wallet_lock_timeout_s: int = Field(default=300, gt=0)
    worker_interval_ms: int = Field(default=2000, ge=0)  # background jobs; 0 runs none
    # a Purchasing wallet's lock waits up to this long after its oldest ready purchase for others
    # to share the transaction (up to 10; its fee is split between them); 0 locks at once
    lock_gather_ms: int = Field(default=2000, ge=0)
    # WALLET_LOW_BALANCE: a hot wallet holding less lovelace than this (0: never checked),
    # its balance read at most once per interval
    wallet_low_balance_lovelace: int = Field(default=10_000_000, ge=0)
    wallet_balance_interval_s: int = Field(default=300, gt=0)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # failed token checks: after this many from one client address within the window, its
    # requests answer 429 (Retry-After) unchecked until the window passes; 0 never throttles
    auth_failure_limit: int = Field(default=10, ge=0)
    auth_failure_window_s: int = Field(default=60, gt=0)

    @field_validator(
        "encryption_key", "admin_key", "blockfrost_project_id", "blockfrost_url", mode="before"
    )
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        # docker-compose passes `${VAR:-}` through as an empty string
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must be a sqlite:// or postgresql:// URL")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _strong_encryption_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ENCRYPTION_KEY_CHARS:
            raise ValueError(f"must be at least {MIN_ENCRYPTION_KEY_CHARS} characters")
        return value

    @field_validator("admin_key")
    @classmethod
    def _long_admin_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 20:
            raise ValueError("must be at least 20 characters")
        return value

    @model_validator(mode="after")
    def _real_networks_need_real_secrets(self) -> Settings:
        if self.network == "devnet":
            return self
        if self.encryption_key is None:
            raise ValueError(f"{ENV_PREFIX}ENCRYPTION_KEY is required on {self.network}")
        if self.blockfrost_project_id is None:
            raise ValueError(f"{ENV_PREFIX}BLOCKFROST_PROJECT_ID is required on {self.network}")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_file)))
        return tuple(sources)

    def profile(self) -> NetworkProfile:
        return load_profile(self.network, self.config_dir)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and PAYNODE_CONFIG_FILE); a ConfigError names the key."""
    _refuse_unknown_variables()
    toml_file = os.environ.get(f"{ENV_PREFIX}CONFIG_FILE")
    if toml_file and not Path(toml_file).is_file():
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: {toml_file} is not a file")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(_describe(error, prefix="", env_names=True)) from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{ENV_PREFIX}CONFIG_FILE: {error}") from error


# Read by the launcher, the test suite or node.failpoints, not settings of the node itself.
_OTHER_VARIABLES = {"CONFIG_FILE", "TEST_DATABASE_URL", "SKIP_CONTRACT_REBUILD", "FAILPOINTS"}


def _refuse_unknown_variables() -> None:
    """A misspelt PAYNODE_ variable would otherwise be ignored and its default used silently."""
    known = {name.upper() for name in Settings.model_fields} | _OTHER_VARIABLES
    for variable in sorted(os.environ):
        if variable.startswith(ENV_PREFIX) and variable.removeprefix(ENV_PREFIX) not in known:
            raise ConfigError(f"{variable}: unknown setting")


def _describe(error: ValidationError, *, prefix: str, env_names: bool = False) -> str:
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        if env_names and location:
            location = ENV_PREFIX + location.upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{prefix}{location}: {message}" if location else f"{prefix}{message}")
    return "; ".join(lines)
