"""The import-linter contracts in pyproject.toml (run by `make test` before pytest) state the architecture: the
services are independent of each other, `shared` imports no service, domain modules import no I/O library.
Each contract is shown to bite: on a copy of the code with one forbidden import added, `lint-imports` fails
naming it; on the untouched copy it passes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def copy(tmp_path) -> Path:
    """The Python code and the contracts, copied (no templates, assets or migrations: only imports matter)."""
    for package in ("services", "shared"):
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "migrations", "*.json"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def lint(root: Path) -> subprocess.CompletedProcess:
    # The copy first on the path, ahead of the project's editable install.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, env=env, capture_output=True, text=True, timeout=60
    )


def add_import(root: Path, module: str, statement: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text() + f"\n{statement}\n")


def broken(done: subprocess.CompletedProcess) -> str:
    """The report of the broken contracts, asserting that some are."""
    assert done.returncode == 1, done.stdout + done.stderr
    return done.stdout.split("Broken contracts", 1)[1]


def test_the_code_as_it_is_keeps_every_contract(copy):
    done = lint(copy)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


@pytest.mark.parametrize(
    "importer, imported",
    [
        ("services.gateway.openapi", "services.booking.api_spec"),  # what the gateway did before issue 17
        ("services.booking.routes", "services.payments.domain"),
        ("services.web.pages", "services.notifications.emails.rendering"),
        ("services.notifications.emails.tasks", "services.gateway.routing"),
    ],
)
def test_a_service_importing_another_breaks_independence(copy, importer, imported):
    add_import(copy, importer, f"import {imported}")
    report = broken(lint(copy))
    assert "The services are independent of each other" in report
    assert f"{importer} -> {imported}" in report
    assert "shared imports no service" not in report and "Domain modules" not in report


def test_shared_importing_a_service_breaks_its_contract(copy):
    add_import(copy, "shared.errors", "import services.booking.domain")
    report = broken(lint(copy))
    assert "shared imports no service" in report
    assert "shared.errors -> services.booking.domain" in report


@pytest.mark.parametrize(
    "module, statement, chain",
    [
        ("services.booking.domain", "import asyncpg", "services.booking.domain -> asyncpg"),
        ("services.payments.domain", "import asyncpg.exceptions", "services.payments.domain -> asyncpg"),
        ("services.booking.availability", "from redis import asyncio", "services.booking.availability -> redis"),
        ("services.payments.vouchers", "import stripe", "services.payments.vouchers -> stripe"),
        (
            "services.notifications.emails.reminders",
            "import smtplib",
            "services.notifications.emails.reminders -> smtplib",
        ),
        # Indirectly too: through a module of ours that does I/O.
        (
            "services.booking.domain",
            "from services.booking import store",
            "services.booking.domain -> services.booking.store",
        ),
    ],
)
def test_a_domain_module_importing_an_io_library_breaks_its_contract(copy, module, statement, chain):
    add_import(copy, module, statement)
    report = broken(lint(copy))
    assert "Domain modules import no I/O library" in report
    assert chain in report
    assert "The services are independent of each other" not in report
