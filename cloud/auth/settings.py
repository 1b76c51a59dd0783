"""Authentication settings: the JWT signing secret, token lifetime, the member pseudonym key,
and how hard logging in may be tried."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class LoginLimits(BaseModel):
    """Read as YZ_CLOUD_AUTH__LOGIN__ACCOUNT_FAILURES etc.; enforced by cloud/auth/throttle.py.

    Kept in each API process's memory: with N replicas behind nginx each count allows up to N
    times its failures (nginx spreads one client's requests), which is still a few guesses a
    minute against argon2id, and nothing to migrate or clean up.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Failed logins counted over a sliding window; at a limit, further tries it covers are
    # refused (429, before any hashing) until its oldest failure leaves the window.
    window_s: int = Field(default=15 * 60, ge=10, le=24 * 3600)
    # One username from one client address: the guesser's limit. A person who mistypes a few
    # times waits minutes, and a guesser elsewhere cannot use it against them.
    account_address_failures: int = Field(default=5, ge=1, le=1000)
    # One username from all addresses together: caps a guesser spread over many addresses.
    # 50 per 15 min is ~3 guesses a minute, ~4,800 a day, each an argon2id hash: hopeless
    # against any real password. Locking the owner out with it takes 10 addresses (each
    # stops at the limit above) kept failing every window; 5 would take one address.
    account_failures: int = Field(default=50, ge=1, le=100_000)
    # Per client address (an IPv6 /64 counts as one: one host holds a whole /64); higher than
    # per account and address, since one office's NAT puts many desks behind one address.
    address_failures: int = Field(default=30, ge=1, le=100_000)
    # argon2id takes 64 MiB and ~0.2 s of a core per hash: 40 at once took a replica from
    # 143 MB to 1.1 GB and slowed everything 7x. Past this many, a login waits up to
    # hash_wait_s for a slot and is then answered 503 (try again) instead of queueing.
    concurrent_hashes: int = Field(default=2, ge=1, le=64)
    hash_wait_s: float = Field(default=2.0, ge=0, le=60)
    # Keys remembered at once in each count; the least recently failing is forgotten first,
    # so a spray of made-up usernames cannot grow the process without bound.
    max_tracked: int = Field(default=10_000, ge=100, le=1_000_000)

    @model_validator(mode="after")
    def _account_wide_above_one_address(self) -> LoginLimits:
        # Below the one-address limit, a single guesser's address could lock the owner out
        # everywhere again: the account-wide count must take more than one address to fill.
        if self.account_failures <= self.account_address_failures:
            raise ValueError(
                f"account_failures ({self.account_failures}) must be above "
                f"account_address_failures ({self.account_address_failures}), or one "
                "address's failures lock the account out everywhere; raise account_failures"
            )
        return self


class AuthSettings(BaseModel):
    """Read as YZ_CLOUD_AUTH__JWT_SECRET etc.; CloudSettings refuses weak ones in production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Signs people's access tokens (HS256). None only in development, where each process
    # draws a random one: logins then last until the next restart.
    jwt_secret: SecretStr | None = None
    # Short, because a JWT cannot be revoked; a person logs in again after this.
    jwt_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # Keys the HMAC that turns member ids into pseudonyms for managers. Unset, it is derived
    # from jwt_secret; set it separately so rotating jwt_secret keeps pseudonyms stable.
    pseudonym_key: SecretStr | None = None
    login: LoginLimits = Field(default_factory=LoginLimits)

    @field_validator("jwt_secret", "pseudonym_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
