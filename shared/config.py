"""Settings from environment variables, with safe local defaults.

`Settings` is what every process needs (database, Redis, ports, upstreams, logs, event-path tuning, the metrics
token); each service declares its own knobs and secrets in a subclass beside it (services/<name>/settings.py),
so a process reads, and in production demands, only its own secrets. Read once by each entrypoint (never at
import time) with `load_settings(TheServicesSettings)` and passed down explicitly.

A field is read from the environment variable named after it in upper case (or the one its `setting(env=…)`
names), parsed by its type; unset, it keeps its default (or what its `fallback` makes of the environment).
"""

from __future__ import annotations

import os
import typing
from dataclasses import Field, dataclass, field, fields, replace
from typing import Any, Callable, Mapping, Self, TypeVar, overload

SERVICE_PORTS = {"gateway": 8080, "booking": 8081, "payments": 8082, "notifications": 8083, "web": 8084}
DEV_WEBHOOK_SECRET = "whsec_dev_only_not_secret"
DEV_MANAGE_LINK_KEY = "dev-only-manage-link-key"
DEV_INTERNAL_TOKEN = "dev-only-internal-token"
DEV_VOUCHER_CODE_KEY = "dev-only-voucher-code-key"
DEV_HEALTH_DATA_KEY = "dev-only-health-data-key"
DEV_METRICS_TOKEN = "dev-only-metrics-token"

Environ = Mapping[str, str]
# The APP_ENV values that are not production: development defaults (and leniencies) apply only to these.
DEVELOPMENT_ENVS = frozenset({"development", "test"})
T = TypeVar("T")
S = TypeVar("S", bound="Settings")


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def setting(
    default: T,
    *,
    env: str | None = None,
    fallback: Callable[[Environ], str] | None = None,
    parse: Callable[[str], T] | None = None,
) -> T:
    """A settings field read from the variable `env` (default: the field's name in upper case) and parsed with
    `parse` (default: by the field's type). Unset, the field is `fallback(environ)` parsed the same way if a
    fallback is given (a default that depends on other variables), else `default`."""
    return field(default=default, metadata={"env": env, "fallback": fallback, "parse": parse})


def _ports(env: Environ) -> dict[str, int]:
    return {name: int(env.get(f"{name.upper()}_PORT", port)) for name, port in SERVICE_PORTS.items()}


def _upstreams(env: Environ) -> dict[str, str]:
    return {name: env[f"{name.upper()}_URL"] for name in SERVICE_PORTS if env.get(f"{name.upper()}_URL")}


def _gateway_url(env: Environ) -> str:
    return f"http://127.0.0.1:{_ports(env)['gateway']}"


def fake_stripe_url(env: Environ) -> str:
    """STRIPE_API_BASE's default: the local fake Stripe (on FAKE_STRIPE_PORT)."""
    return f"http://127.0.0.1:{env.get('FAKE_STRIPE_PORT', '8420')}"


def default_mailbox_dir(env: Environ) -> str:
    """MAILBOX_DIR's default: `mailbox` in VAR_DIR."""
    return os.path.join(env.get("VAR_DIR", "var"), "mailbox")


@dataclass(frozen=True)
class Settings:
    env: str = setting("development", env="APP_ENV")
    database_url: str = "postgresql://postgres@127.0.0.1:5432/clinic"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "clinic:"
    service_host: str = "127.0.0.1"
    # GATEWAY_PORT, BOOKING_PORT, …; BOOKING_URL, PAYMENTS_URL, … (unset: 127.0.0.1 on the service's port).
    ports: Mapping[str, int] = field(default_factory=lambda: dict(SERVICE_PORTS), metadata={"read": _ports})
    upstreams: Mapping[str, str] = field(default_factory=dict, metadata={"read": _upstreams})
    public_url: str = setting("http://127.0.0.1:8080", fallback=_gateway_url, parse=lambda url: url.rstrip("/"))
    # What a Prometheus scrape sends as `Authorization: Bearer …` for /metrics, which every service serves
    # (never public: the gateway's port faces the internet).
    metrics_token: str = DEV_METRICS_TOKEN
    log_level: str = "INFO"
    # Event path tuning (seconds unless named otherwise): the relays and the stream consumers.
    relay_poll_interval: float = 1.0
    relay_republish_window: float = 7 * 24 * 3600.0
    consumer_block_ms: int = 1000
    consumer_claim_idle_ms: int = 30_000
    consumer_max_attempts: int = 5
    db_command_timeout: float = 10.0

    @property
    def development(self) -> bool:
        return self.env in DEVELOPMENT_ENVS

    def port(self, service: str) -> int:
        return self.ports[service]

    def upstream(self, service: str) -> str:
        return self.upstreams.get(service) or f"http://127.0.0.1:{self.port(service)}"

    def with_overrides(self, **changes: Any) -> Self:
        return replace(self, **changes)

    def production_problems(self) -> list[str]:
        """What must stop a production start: development defaults standing in for this process's secrets.
        A subclass adds its own to `super().production_problems()` (cooperatively: a class combining several
        services' settings gets all of theirs)."""
        problems = []
        if self.metrics_token == DEV_METRICS_TOKEN:
            problems.append("METRICS_TOKEN must be set in production")
        return problems


@dataclass(frozen=True)
class InternalTokenSettings(Settings):
    """The services that call each other's internal API or answer it (booking, payments, notifications, the
    gateway; not the web pages, which use the public API like any client)."""

    # Shared by the services for their internal calls (never routed by the gateway).
    internal_token: str = DEV_INTERNAL_TOKEN

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.internal_token == DEV_INTERNAL_TOKEN:
            problems.append("INTERNAL_TOKEN must be set in production")
        return problems


def env_name(settings_field: Field[Any]) -> str | None:
    """The variable a field is read from (None for one read from several, such as `ports`)."""
    if settings_field.metadata.get("read") is not None:
        return None
    name = settings_field.metadata.get("env") or settings_field.name.upper()
    assert isinstance(name, str)
    return name


def _tuple_parser(element: object, name: str) -> Callable[[str], tuple[Any, ...]]:
    if element is float:
        return lambda text: tuple(float(x) for x in text.split(","))
    if element is int:
        return lambda text: tuple(int(x) for x in text.split(","))
    if element is str:
        return lambda text: tuple(x.strip() for x in text.split(",") if x.strip())
    raise TypeError(f"settings field {name}: give setting(parse=…) for tuples of {element}")


def _parser(hint: object, name: str) -> Callable[[str], Any]:
    if hint is str:
        return str
    if hint is bool:
        return _bool
    if hint is int:
        return int
    if hint is float:
        return float
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple_parser(args[0], name)
    raise TypeError(f"settings field {name}: give setting(parse=…) for {hint}")


@overload
def load_settings(cls: None = None, environ: Environ | None = None) -> Settings: ...
@overload
def load_settings(cls: type[S], environ: Environ | None = None) -> S: ...


def load_settings(cls: type[Settings] | None = None, environ: Environ | None = None) -> Settings:
    """`cls` (a Settings dataclass; default the base) from `environ` (default os.environ)."""
    cls = Settings if cls is None else cls
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        read = f.metadata.get("read")
        if read is not None:
            values[f.name] = read(env)
            continue
        name = env_name(f)
        assert name is not None
        parse = f.metadata.get("parse") or _parser(hints[f.name], f.name)
        text = env.get(name)
        if text is None:
            fallback = f.metadata.get("fallback")
            if fallback is None:
                continue  # the field's default
            text = fallback(env)
        elif text == "" and f.metadata.get("parse") is None and typing.get_origin(hints[f.name]) is tuple:
            continue  # an empty list: the default
        values[f.name] = parse(text)
    return cls(**values)


def validate_for_production(settings: Settings) -> list[str]:
    """Problems that must stop a production start (dev defaults standing in for this process's secrets)."""
    if settings.env != "production":
        return []
    return list(dict.fromkeys(settings.production_problems()))


def stripe_mode(key: str) -> str:
    """ "live" or "test" by a Stripe key's prefix (pk_live_…, sk_test_…, rk_live_…)."""
    return "live" if "_live_" in key else "test"
