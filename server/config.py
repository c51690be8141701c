"""Server settings, read from `SPYGLASS_*` environment variables (and an optional `.env` file).

Every setting is documented here and in the README's configuration table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SQLITE_FILE_NAME = "spyglass.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPYGLASS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default=Path("~/.spyglass"),
        description="Directory for the embedded SQLite database and uploaded files.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL. Empty means a SQLite file in data_dir. "
        "PostgreSQL: postgresql+psycopg://user:password@host:5432/dbname",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(default=3000, ge=1, le=65535, description="Port the HTTP server binds to.")
    public_url: str = Field(default="", description="URL users open; defaults to http://host:port.")
    init_project: str = Field(
        default="", description="Create this project at start if it does not exist."
    )
    init_public_key: str = Field(
        default="", description="With init_project: create this public key (pk-lf-…) at start."
    )
    init_secret_key: str = Field(
        default="", description="With init_project: the secret key (sk-lf-…) for init_public_key."
    )
    init_user_email: str = Field(
        default="",
        description="Dashboard user created at start (owner of every project) if no user exists yet.",
    )
    init_user_password: str = Field(
        default="", description="Password for init_user_email (at least 8 characters)."
    )
    session_days: int = Field(
        default=14, ge=1, le=365, description="Days a dashboard sign-in lasts."
    )
    max_body_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="Largest accepted request body, after decompression (413 above it).",
    )
    max_otlp_body_bytes: int = Field(
        default=32 * 1024 * 1024,
        ge=1024,
        description="Largest OTLP export, after decompression (exporters batch up to 512 spans).",
    )
    max_media_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest media file the SDKs may upload."
    )
    max_pending_records: int = Field(
        default=50_000,
        ge=100,
        description="Records waiting for the writer before new ingestion gets 503 + Retry-After.",
    )
    db_pool_size: int = Field(default=10, ge=1, description="PostgreSQL connection pool size.")

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "must start with sqlite:/// or postgresql+psycopg:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        if value.startswith(("postgresql://", "postgres://")):
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://…")
        return value

    @model_validator(mode="after")
    def _init_keys_come_in_pairs(self) -> Self:
        keys = (self.init_public_key, self.init_secret_key)
        if any(keys) and not all(keys):
            raise ValueError("SPYGLASS_INIT_PUBLIC_KEY and SPYGLASS_INIT_SECRET_KEY go together")
        if any(keys) and not self.init_project:
            raise ValueError("SPYGLASS_INIT_PUBLIC_KEY needs SPYGLASS_INIT_PROJECT")
        if self.init_public_key and not self.init_public_key.startswith("pk-"):
            raise ValueError("SPYGLASS_INIT_PUBLIC_KEY must start with pk-")
        if bool(self.init_user_email) != bool(self.init_user_password):
            raise ValueError("set init_user_email and init_user_password together")
        if self.init_user_password and len(self.init_user_password) < 8:
            raise ValueError("init_user_password must have at least 8 characters")
        if self.init_secret_key and not self.init_secret_key.startswith("sk-"):
            raise ValueError("SPYGLASS_INIT_SECRET_KEY must start with sk-")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / SQLITE_FILE_NAME}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"


class SettingsError(Exception):
    """Settings could not be loaded; the message is one line fit for a terminal."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            name = f"SPYGLASS_{field.upper()}" if field else "settings"
            problems.append(f"{name}: {error['msg'].removeprefix('Value error, ')}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
