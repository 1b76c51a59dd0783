"""Where release artifacts live, which key signs releases, and how rollouts pace themselves
(``CloudSettings.releases``, ``YZ_CLOUD_RELEASES__…``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# A canary box first, then ever wider; each soak lets a slow failure (a leak, a crash at the
# first nightly job) show before more boxes take the release.
DEFAULT_STAGES: list[dict[str, int]] = [
    {"count": 1, "soak_s": 600},
    {"percent": 5, "soak_s": 1800},
    {"percent": 25, "soak_s": 3600},
    {"percent": 100, "soak_s": 0},
]
# A box waits for its venue's window (up to a day) and may be off for a night: a stage's
# boxes get a day and a half to report before the silent ones count as failed.
DEFAULT_STAGE_TIMEOUT_S = 36 * 3600
# The update command's life: long enough for a box switched off over a weekend, and at most
# protocol.commands.UpdateCommand.max_lifetime (7 days).
DEFAULT_COMMAND_LIFETIME_S = 3 * 24 * 3600


class StageSpec(BaseModel):
    """One stage: ``count`` more boxes, or up to ``percent`` % of the target in all."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    count: Annotated[int, Field(ge=1, le=100_000)] | None = None
    percent: Annotated[float, Field(gt=0, le=100)] | None = None
    soak_s: Annotated[float, Field(ge=0, le=7 * 24 * 3600)] = 0

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if (self.count is None) == (self.percent is None):
            raise ValueError('give a stage either "count" (boxes) or "percent" (of the target)')
        return self


class ReleaseSettings(BaseModel):
    """Read as YZ_CLOUD_RELEASES__KEY_FILE, …__STORE, …__S3_ENDPOINT and so on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # The release key's public half (protocol.release.ReleaseKey JSON); None: publishing is
    # refused until one is configured. Rotation statements stored in the database extend it.
    key_file: Path | None = None
    store: Literal["disk", "s3"] = "disk"
    # Disk store: where blobs live; None: <data_dir>/releases/blobs.
    blob_dir: Path | None = None
    # S3-compatible store (MinIO, a cloud bucket): host[:port], no scheme.
    s3_endpoint: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
    s3_bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    s3_prefix: str = Field(default="releases/blobs/", max_length=200)
    s3_region: str | None = Field(default=None, max_length=40)
    s3_secure: bool = True
    # No defaults: the keys come from the environment (YZ_CLOUD_RELEASES__S3_ACCESS_KEY).
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    # How often the leader looks at running rollouts; a few seconds is cheap (one query
    # when nothing runs) and is what lets a benchmark run stages with short soaks.
    rollout_interval_s: float = Field(default=5.0, gt=0, le=3600)
    stage_timeout_s: float = Field(default=DEFAULT_STAGE_TIMEOUT_S, gt=0, le=30 * 24 * 3600)
    command_lifetime_s: int = Field(default=DEFAULT_COMMAND_LIFETIME_S, ge=60, le=7 * 24 * 3600)
    failure_threshold: float = Field(default=0.02, ge=0, le=1)
    default_stages: list[StageSpec] = Field(
        default_factory=lambda: [StageSpec.model_validate(s) for s in DEFAULT_STAGES],
        min_length=1,
        max_length=20,
    )

    @field_validator("s3_access_key", "s3_secret_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _s3_complete(self) -> Self:
        if self.store != "s3":
            return self
        missing = [
            f"YZ_CLOUD_RELEASES__{name.upper()}"
            for name in ("s3_endpoint", "s3_bucket", "s3_access_key", "s3_secret_key")
            if getattr(self, name) is None
        ]
        if missing:
            raise ValueError(
                f"releases.store=s3 needs {', '.join(missing)}; set them, or use store=disk"
            )
        return self

    def blob_path(self, data_dir: Path) -> Path:
        return self.blob_dir if self.blob_dir is not None else data_dir / "releases" / "blobs"
