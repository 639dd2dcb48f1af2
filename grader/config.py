"""Configuration: environment variables with the prefix ``GRADER_``.

Every setting has an embedded default, so ``grader dev`` works on a bare
machine (SQLite in the instance folder, the filesystem broker). Production
(``GRADER_ENV=production``, the default of ``grader serve`` and ``grader
worker``) refuses to start with the default secret key. The README's
configuration reference lists the same names; ``tests/test_config.py`` keeps
the two in step.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

PREFIX = "GRADER_"
DEFAULT_SECRET_KEY = "dev-only-insecure-secret-key"
ENVIRONMENTS = ("development", "production", "testing")
POLICIES = ("best", "last")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def default_instance_path() -> Path:
    """``instance/`` next to the code for a checkout (Flask's convention), else under the working directory."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root / "instance"
    return Path.cwd() / "instance"


def _default_assignments_dir() -> Path:
    from worker.assignments import assignments_root

    return assignments_root()


@dataclass(frozen=True)
class Settings:
    """All settings; each field ``name`` comes from the variable ``GRADER_NAME``."""

    env: str = "development"
    instance_path: Path = field(default_factory=default_instance_path)
    secret_key: str = DEFAULT_SECRET_KEY
    # Empty means "the embedded default in the instance folder" (see database_uri / broker_uri).
    database_url: str = ""
    broker_url: str = ""
    queue: str = "grader"
    broker_prefix: str = ""  # Redis: a prefix for every key, to share one Redis between deployments
    assignments_dir: Path = field(default_factory=_default_assignments_dir)
    # Uploads: the whole request; each file is also capped by the engine (512 KiB).
    max_request_bytes: int = 2 * 1024 * 1024
    token_days: int = 90
    # Failed logins per client address, in the limits library's notation (see the README's Security).
    login_rate_limit: str = "10/minute;50/hour"
    login_max_failures: int = 10
    # Failed logins a minute, site-wide, above which each failure counts 5 times against its address (0: off).
    login_spray_threshold: int = 200
    login_lockout_seconds: int = 900
    # Reliability model (DESIGN.md): sweeper period, leases, attempts, time limits.
    sweep_seconds: float = 30.0
    queued_timeout_seconds: float = 600.0
    lease_seconds: float = 420.0
    max_attempts: int = 3
    task_soft_time_limit: float = 330.0
    task_time_limit: float = 360.0
    heartbeat_seconds: float = 10.0
    # A task the worker received but its pool has not started for this long: the pool cannot run tasks, and the
    # worker stops beating (it must not look alive). Above a pool process's start (sandbox self-test included).
    worker_stall_seconds: float = 300.0
    worker_concurrency: int = 0  # 0: one grading per core
    # Gradebook policy defaults; each assignment.toml's [policy] table overrides them.
    policy: str = "best"
    late_penalty_per_day: float = 0.0
    max_submissions_per_hour: int = 20
    cooldown_seconds: float = 0.0
    # Uploads refused as ungradable, per student and hour (their own limit; 0: none).
    max_rejected_uploads_per_hour: int = 60
    # Web server (`grader serve`).
    port: int = 8000
    web_workers: int = 2
    proxy_count: int = 0  # reverse proxies in front of the web app whose X-Forwarded-* to trust
    # The public address of the site (scheme, host, optional path), for absolute URLs; empty: from the request.
    external_url: str = ""
    # One-time sign-in links (grader/signin.py): a roster import's first sign-in, and a reset by the staff.
    signin_link_days: int = 14
    reset_link_hours: int = 72
    # Mixed with each report's seed to draw the inputs of hidden tests; see worker/hidden_key.py.
    hidden_key: str = ""
    log_level: str = "INFO"

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def database_uri(self) -> str:
        return self.database_url or f"sqlite:///{self.instance_path / 'grader.sqlite3'}"

    @property
    def broker_uri(self) -> str:
        return self.broker_url or "filesystem://localhost/"

    @property
    def broker_dir(self) -> Path:
        """The filesystem broker's folders (only used when the broker is ``filesystem://``)."""
        return self.instance_path / "broker"

    @property
    def concurrency(self) -> int:
        return self.worker_concurrency or (os.cpu_count() or 1)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None,
                 ) -> "Settings":
        """Settings from ``GRADER_*`` variables, then ``overrides`` (field names, any case)."""
        environ = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, f in fields.items():
            raw = environ.get(PREFIX + name.upper())
            if raw is not None and raw != "":
                values[name] = _convert(PREFIX + name.upper(), raw, f.type)
        for key, value in (overrides or {}).items():
            name = key.lower()
            if name.startswith(PREFIX.lower()):
                name = name[len(PREFIX):]
            if name in fields:
                values[name] = _convert(key, value, fields[name].type) if isinstance(value, str) else value
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.env not in ENVIRONMENTS:
            raise ConfigError(f"GRADER_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        if self.policy not in POLICIES:
            raise ConfigError(f"GRADER_POLICY must be one of {', '.join(POLICIES)}, not {self.policy!r}")
        if self.max_attempts < 1:
            raise ConfigError("GRADER_MAX_ATTEMPTS must be at least 1")
        if not 0 < self.task_soft_time_limit <= self.task_time_limit:
            raise ConfigError("GRADER_TASK_SOFT_TIME_LIMIT must be positive and at most GRADER_TASK_TIME_LIMIT")
        if self.lease_seconds <= self.task_time_limit:
            # A lease shorter than the hard time limit would let the sweeper hand a job that is still
            # running to a second worker.
            raise ConfigError("GRADER_LEASE_SECONDS must be longer than GRADER_TASK_TIME_LIMIT")
        for name in ("sweep_seconds", "queued_timeout_seconds", "heartbeat_seconds", "worker_stall_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"GRADER_{name.upper()} must be positive")
        try:
            from limits import parse_many

            parse_many(self.login_rate_limit)
        except ValueError:
            raise ConfigError(f"GRADER_LOGIN_RATE_LIMIT must look like '10/minute;50/hour', "
                              f"not {self.login_rate_limit!r}") from None
        if self.external_url and not self.external_url.startswith(("http://", "https://")):
            raise ConfigError(f"GRADER_EXTERNAL_URL must start with http:// or https://, not {self.external_url!r}")
        if self.signin_link_days < 1 or self.reset_link_hours < 1:
            raise ConfigError("GRADER_SIGNIN_LINK_DAYS and GRADER_RESET_LINK_HOURS must be at least 1")
        self.check_production()

    def check_production(self) -> None:
        """Refuse to run a production process with the default (public) secret key."""
        if self.production and (not self.secret_key or self.secret_key == DEFAULT_SECRET_KEY
                                or len(self.secret_key) < 16):
            raise ConfigError("GRADER_SECRET_KEY must be set to a long random value in production "
                              "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')")


def _convert(name: str, raw: str, kind: Any) -> Any:
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser()
    except ValueError:
        raise ConfigError(f"{name} must be {'an integer' if kind == 'int' else 'a number'}, not {raw!r}") from None
    return raw
