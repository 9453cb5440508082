"""`mypy` ([tool.mypy] in pyproject.toml, run by `make test` before pytest) checks shared/ and the pure domain
modules strictly. No domain module escapes it: each one the import-linter's no-I/O contract names is in mypy's
files, but for those still waiting their turn (PENDING). And strictness is shown to bite: on a copy of the code
with an unannotated function added to a domain module and an untyped dict to a shared one, mypy fails naming
those two errors and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY = Path(sys.executable).with_name("mypy")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MYPY_FILES = PYPROJECT["tool"]["mypy"]["files"]

# Domain modules not type-checked yet, each waiting its turn (then it moves into [tool.mypy] files and out of here).
PENDING: set[str] = set()


def _domain_modules() -> list[str]:
    contracts = PYPROJECT["tool"]["importlinter"]["contracts"]
    (no_io,) = [c for c in contracts if c["id"] == "domain-has-no-io"]
    return list(no_io["source_modules"])


def _checked(module: str) -> bool:
    path = module.replace(".", "/")
    return any(path == entry.removesuffix(".py") or path.startswith(entry.rstrip("/") + "/") for entry in MYPY_FILES)


def test_every_domain_module_is_type_checked_or_pending():
    unchecked = {m for m in _domain_modules() if not _checked(m)}
    assert unchecked - PENDING == set(), "add these to [tool.mypy] files"
    assert PENDING - unchecked == set(), "these are checked now: drop them from PENDING"


def test_strict_mypy_bites_on_domain_and_shared_code(tmp_path):
    for package in ("services", "shared"):
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "static", "templates", "*.sql", "*.json"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    domain = tmp_path / "services/payments/domain.py"
    domain.write_text(domain.read_text() + "\n\ndef untyped(amount):\n    return amount\n")
    money = tmp_path / "shared/money.py"
    money.write_text(money.read_text() + "\n\ndef bare(value: dict) -> int:\n    return len(value)\n")

    done = subprocess.run(
        [str(MYPY), "--cache-dir", str(tmp_path / ".mypy_cache")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    errors = [line for line in done.stdout.splitlines() if ": error: " in line]
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(errors) == 2, done.stdout
    assert any(e.startswith("services/payments/domain.py:") and "[no-untyped-def]" in e for e in errors), errors
    assert any(e.startswith("shared/money.py:") and "[type-arg]" in e for e in errors), errors
