"""Settings, read from the environment in one place.

| variable | meaning | default |
|---|---|---|
| `DATABASE_URL` | PostgreSQL to use; unset means the embedded server | unset |
| `ABRI_DATA_DIR` | where the embedded server keeps its data and the demo key | `<project>/.abri` |
| `ABRI_DB_POOL_MIN` / `ABRI_DB_POOL_MAX` | connection pool bounds | 2 / 10 |
| `ABRI_TIMEZONE` | local time zone for calendar dates (facility opening) | `Europe/Paris` |
| `ABRI_LOG_FORMAT` | `json`, `console` or `auto` (console on a terminal) | `auto` |
| `ABRI_LOG_LEVEL` | `debug`, `info`, `warning`, `error` | `info` |
| `ABRI_REFERENCE_KEY` | HMAC-SHA256 secret for referral references, 32+ characters | see below |
| `ABRI_SOLVER_WORKERS` | solver processes per API process (proposals queue for them) | 1 |
| `ABRI_SMALL_COUNT_THRESHOLD` | managers see counts of people below this as "<N" | 5 |
| `ABRI_WEBHOOK_POLL_S` | how often an idle webhook loop looks for due events | 0.5 |
| `ABRI_WEBHOOK_TIMEOUT_S` | how long a receiver may take to answer | 10 |
| `ABRI_WEBHOOK_MAX_ATTEMPTS` | failed attempts before an event becomes a dead letter | 16 |
| `ABRI_WEBHOOK_BACKOFF_S` / `…_CAP_S` | first wait after a failure, doubling up to the cap | 1 / 3600 |
| `ABRI_WEBHOOK_CONCURRENCY` | delivery loops per API process (subscriptions delivered at once) | 4 |
| `ABRI_RATE_LIMIT` | requests a second each API key may send, per process, after its burst; 0 for no limit | 100 |
| `ABRI_RATE_BURST` | requests each API key may send at once | 500 |
| `ABRI_MAX_IN_FLIGHT` | /v1 requests served at once per API process; beyond, 503 with Retry-After | 64 |
| `ABRI_BODY_TIMEOUT_S` | how long a request body may take to arrive before a 408 | 30 |

`ABRI_REFERENCE_KEY` is required with `DATABASE_URL`; the embedded server generates one
into `<data dir>/reference-key`. Changing it breaks duplicate-referral detection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """`.abri/` at the repository root when run from a checkout, else in the working directory."""
    root = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").exists() else Path.cwd()
    return root / ".abri"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str | None = None
    data_dir: Path
    db_pool_min: Annotated[int, Meta(ge=1, le=100)] = 2
    db_pool_max: Annotated[int, Meta(ge=1, le=500)] = 10
    timezone: str = "Europe/Paris"
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    reference_key: Annotated[str, Meta(min_length=32)] | None = None
    solver_workers: Annotated[int, Meta(ge=1, le=64)] = 1
    small_count_threshold: Annotated[int, Meta(ge=1, le=100)] = 5
    """For managers, counts of people from 1 to this − 1 are shown as "<this" (1: none hidden)."""
    webhook_poll_s: Annotated[float, Meta(ge=0.01, le=60)] = 0.5
    webhook_timeout_s: Annotated[float, Meta(ge=0.1, le=60)] = 10.0
    webhook_max_attempts: Annotated[int, Meta(ge=1, le=100)] = 16
    """With the default backoff, about 6 hours of retries before an event is dead-lettered."""
    webhook_backoff_s: Annotated[float, Meta(ge=0.01, le=3600)] = 1.0
    webhook_backoff_cap_s: Annotated[float, Meta(ge=0.01, le=86400)] = 3600.0
    webhook_concurrency: Annotated[int, Meta(ge=1, le=64)] = 4
    rate_limit: Annotated[float, Meta(ge=0, le=1_000_000)] = 100
    """Requests a second per API key and process, once its burst is spent (service/rate_limit.py); 0: none."""
    rate_burst: Annotated[int, Meta(ge=1, le=1_000_000)] = 500
    max_in_flight: Annotated[int, Meta(ge=1, le=100_000)] = 64
    """Requests under /v1 served at once per process; the rest get 503 at once (service/load_shedding.py)."""
    body_timeout_s: Annotated[float, Meta(gt=0, le=600)] = 30.0
    """How long a request body may take to arrive; it is read before a connection is taken (service/auth.py)."""

    @property
    def embedded(self) -> bool:
        return self.database_url is None


_ENV = {
    "database_url": "DATABASE_URL",
    "data_dir": "ABRI_DATA_DIR",
    "db_pool_min": "ABRI_DB_POOL_MIN",
    "db_pool_max": "ABRI_DB_POOL_MAX",
    "timezone": "ABRI_TIMEZONE",
    "log_format": "ABRI_LOG_FORMAT",
    "log_level": "ABRI_LOG_LEVEL",
    "reference_key": "ABRI_REFERENCE_KEY",
    "solver_workers": "ABRI_SOLVER_WORKERS",
    "small_count_threshold": "ABRI_SMALL_COUNT_THRESHOLD",
    "webhook_poll_s": "ABRI_WEBHOOK_POLL_S",
    "webhook_timeout_s": "ABRI_WEBHOOK_TIMEOUT_S",
    "webhook_max_attempts": "ABRI_WEBHOOK_MAX_ATTEMPTS",
    "webhook_backoff_s": "ABRI_WEBHOOK_BACKOFF_S",
    "webhook_backoff_cap_s": "ABRI_WEBHOOK_BACKOFF_CAP_S",
    "webhook_concurrency": "ABRI_WEBHOOK_CONCURRENCY",
    "rate_limit": "ABRI_RATE_LIMIT",
    "rate_burst": "ABRI_RATE_BURST",
    "max_in_flight": "ABRI_MAX_IN_FLIGHT",
    "body_timeout_s": "ABRI_BODY_TIMEOUT_S",
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from the environment; raises `msgspec.ValidationError` on bad values."""
    env = os.environ if environ is None else environ
    raw: dict[str, object] = {"data_dir": str(default_data_dir())}
    raw.update({field: env[var] for field, var in _ENV.items() if env.get(var)})
    return msgspec.convert(raw, Settings, strict=False, dec_hook=_decode)


def _decode(type_: type, value: object) -> object:
    if type_ is Path:
        return Path(str(value)).expanduser().resolve()
    raise NotImplementedError
