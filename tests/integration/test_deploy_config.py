"""The deploy files mirror the Procfile and pass offline validation.

- docker-compose.yml: `docker-compose config -q` (Debian's compose 1.29), one service per Procfile line
  with the same command.
- deploy/k8s: `kubectl kustomize` of the base and of each overlay, validated with
  `kubernetes-validate --strict`; every long-running process has a hardened Deployment.

The tools come from deploy/install-tools.sh. A missing tool FAILS these tests (never skips).
Nothing is written into the repository: rendered manifests go to pytest's tmp_path.
"""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = ROOT / "Procfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = "deploy/Dockerfile"
K8S_TARGETS = {
    "base": ROOT / "deploy" / "k8s" / "base",
    "production": ROOT / "deploy" / "k8s" / "overlays" / "production",
}
K8S_VERSION = "1.30"  # kubernetes-validate ships schemas for 1.25-1.37
SECRET_NAME = "clinic-secrets"

DEV_ONLY = {"fake-stripe", "smtp-sink"}  # development helpers: compose only, never Kubernetes
HTTP_PORTS = {"gateway": 8080, "booking": 8081, "payments": 8082, "notifications": 8083, "web": 8084}
TOOL_TIMEOUT_S = 120
INSTALL_HINT = "run `bash deploy/install-tools.sh` with the test interpreter's environment active"


# --- helpers ---------------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """The executable next to the running interpreter (its venv), else on PATH; fail if absent."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"`{name}` not found next to {sys.executable} or on PATH: {INSTALL_HINT}", pytrace=False)
    return found


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [find_tool(name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


def failure_text(proc: subprocess.CompletedProcess[str], limit: int = 4000) -> str:
    out = f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    return out if len(out) <= limit else out[:limit] + "\n[...]"


def procfile() -> dict[str, str]:
    processes: dict[str, str] = {}
    for line in PROCFILE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep and name.strip(), f"unparsable Procfile line: {line!r}"
        processes[name.strip()] = command.strip()
    assert processes, "Procfile lists no process"
    return processes


def as_argv(command: str | list[str]) -> list[str]:
    """A container command as the argv its Procfile line means.

    Procfile lines run through a shell (honcho); a container runs either the words directly or, when
    the line needs the shell (e.g. `${VAR:-default}`), `sh -c "exec <line>"`. Both compare equal here.
    """
    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    if words[:2] in (["tini", "--"], ["/usr/bin/tini", "--"]):
        words = words[2:]
    if len(words) == 3 and words[0] in ("sh", "/bin/sh") and words[1] == "-c":
        inner = words[2].strip()
        words = shlex.split(inner.removeprefix("exec "))
    return words


def needs_shell(command: str) -> bool:
    return any(ch in command for ch in "$`|;&<>*?")


def runs_through_shell(command: str | list[str]) -> bool:
    words = shlex.split(command) if isinstance(command, str) else list(command)
    return len(words) == 3 and words[0] in ("sh", "/bin/sh") and words[1] == "-c"


def published_port(entry: str | dict[str, Any]) -> tuple[str, str]:
    """(host port, container port) of a compose `ports` entry, short ("[ip:]host:container[/tcp]") or long."""
    if isinstance(entry, dict):
        return str(entry.get("published", "")), str(entry.get("target", ""))
    parts = str(entry).split("/")[0].split(":")
    return (parts[-2] if len(parts) >= 2 else ""), parts[-1]


# --- Dockerfile (static: there is no Docker engine here) ------------------------------------


def test_dockerfile_is_one_non_root_image_without_secrets() -> None:
    lines = []
    for raw in (ROOT / DOCKERFILE).read_text().replace("\\\n", " ").splitlines():
        if raw.strip() and not raw.lstrip().startswith("#"):
            lines.append(raw.strip())
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]
    assert [arg for op, arg in instructions if op == "FROM"] == ["python:3.11-slim"]
    users = [arg for op, arg in instructions if op == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0", (
        f"the last USER must be a numeric non-root uid (runAsNonRoot can only check numbers), got {users}"
    )
    assert any(op == "RUN" and re.search(r"pip install --no-cache-dir [\"']?\.", arg) for op, arg in instructions), (
        "the image must `pip install --no-cache-dir .` the project"
    )
    secretish = ("SECRET", "PASSWORD", "TOKEN", "_KEY", "DATABASE_URL")
    leaked = [f"{op} {arg}" for op, arg in instructions if op in ("ENV", "ARG") and any(w in arg.upper() for w in secretish)]
    assert not leaked, f"no secrets or credentials in the image: {leaked}"


# --- docker-compose --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """docker-compose.yml as compose itself resolves it (anchors merged, defaults applied)."""
    proc = run_tool("docker-compose", "-f", str(COMPOSE_FILE), "config")
    assert proc.returncode == 0, "docker-compose config failed:\n" + failure_text(proc)
    return yaml.safe_load(proc.stdout)


def compose_command(service: dict[str, Any]) -> str | list[str]:
    command = service.get("command")
    assert command, "no command"
    # compose escapes a literal `$` as `$$`; the container receives a single `$`.
    if isinstance(command, str):
        return command.replace("$$", "$")
    return [str(word).replace("$$", "$") for word in command]


def test_compose_config_is_valid() -> None:
    proc = run_tool("docker-compose", "-f", str(COMPOSE_FILE), "config", "-q")
    assert proc.returncode == 0, "docker-compose config -q rejected docker-compose.yml:\n" + failure_text(proc)


def test_compose_runs_every_procfile_process_with_its_command(compose: dict[str, Any]) -> None:
    services = compose["services"]
    problems = []
    for name, line in procfile().items():
        service = services.get(name)
        if service is None:
            problems.append(f"{name}: no compose service")
            continue
        command = compose_command(service)
        if as_argv(command) != shlex.split(line):
            problems.append(f"{name}: command {command!r} is not the Procfile's {line!r}")
        if needs_shell(line) and not runs_through_shell(command):
            problems.append(f"{name}: the Procfile line needs a shell; run it as sh -c 'exec ...'")
        build = service.get("build") or {}
        if Path(str(build.get("context", ""))).resolve() != ROOT or build.get("dockerfile") != DOCKERFILE:
            problems.append(f"{name}: must build context . with dockerfile {DOCKERFILE}, got {build!r}")
    assert not problems, "\n".join(problems)


def test_compose_http_services_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    problems = []
    for name, port in HTTP_PORTS.items():
        service = services[name]
        env = service.get("environment") or {}
        if env.get("SERVICE_HOST") != "0.0.0.0":
            problems.append(f"{name}: SERVICE_HOST must be 0.0.0.0 in a container")
        if str(env.get(f"{name.upper()}_PORT", port)) != str(port):
            problems.append(f"{name}: {name.upper()}_PORT is not {port}")
        test = " ".join(map(str, (service.get("healthcheck") or {}).get("test") or []))
        if f":{port}/" not in test or not ("/readyz" in test or "/healthz" in test):
            problems.append(f"{name}: healthcheck must probe /readyz or /healthz on port {port}: {test!r}")
    gateway_env = services["gateway"].get("environment") or {}
    for upstream, port in HTTP_PORTS.items():
        if upstream != "gateway" and gateway_env.get(f"{upstream.upper()}_URL") != f"http://{upstream}:{port}":
            problems.append(f"gateway: {upstream.upper()}_URL must be http://{upstream}:{port}")
    published = [published_port(p) for p in services["gateway"].get("ports", [])]
    if ("8080", "8080") not in published:
        problems.append(f"gateway must publish its port 8080 on host port 8080, got {published!r}")
    assert not problems, "\n".join(problems)


# --- Kubernetes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[dict[str, Any]]]]:
    """`kubectl kustomize` output per target: (file in a tmp dir, parsed documents)."""
    out_dir = tmp_path_factory.mktemp("k8s")
    result = {}
    for target, path in K8S_TARGETS.items():
        proc = run_tool("kubectl", "kustomize", str(path))
        assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n" + failure_text(proc)
        out = out_dir / f"{target}.yaml"
        out.write_text(proc.stdout)
        docs = [doc for doc in yaml.safe_load_all(proc.stdout) if doc]
        assert docs, f"kubectl kustomize {path} rendered nothing"
        result[target] = (out, docs)
    return result


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") == kind}


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_manifests_pass_strict_schema_validation(target: str, rendered) -> None:
    path, _ = rendered[target]
    proc = run_tool("kubernetes-validate", "--strict", "--quiet", "--kubernetes-version", K8S_VERSION, str(path))
    assert proc.returncode == 0, f"kubernetes-validate --strict rejected {target}:\n" + failure_text(proc)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_every_procfile_process_has_a_deployment(target: str, rendered) -> None:
    _, docs = rendered[target]
    deployments = of_kind(docs, "Deployment")
    expected = {name: line for name, line in procfile().items() if name not in DEV_ONLY}
    assert not expected.keys() - deployments.keys(), f"processes without a Deployment: {sorted(expected.keys() - deployments.keys())}"
    assert not DEV_ONLY & deployments.keys(), f"development helpers must not be deployed: {sorted(DEV_ONLY & deployments.keys())}"
    problems = []
    for name, line in expected.items():
        container = deployments[name]["spec"]["template"]["spec"]["containers"][0]
        command = [*container.get("command", []), *container.get("args", [])]
        if as_argv(command) != shlex.split(line):
            problems.append(f"{name}: runs {command!r}, the Procfile says {line!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_deployments_are_hardened_and_probed(target: str, rendered) -> None:
    _, docs = rendered[target]
    services = of_kind(docs, "Service")
    accounts = of_kind(docs, "ServiceAccount")
    problems = []
    for name, deployment in of_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        pod_sc = pod.get("securityContext") or {}
        if pod.get("serviceAccountName") != name or name not in accounts:
            problems.append(f"{name}: needs its own ServiceAccount {name!r}")
        tmp_volumes = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            where = f"{name}/{container['name']}"
            sc = container.get("securityContext") or {}
            resources = container.get("resources") or {}
            for section in ("requests", "limits"):
                for key in ("cpu", "memory"):
                    if not (resources.get(section) or {}).get(key):
                        problems.append(f"{where}: resources.{section}.{key} missing")
            if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")):
                problems.append(f"{where}: runAsNonRoot is not true")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: readOnlyRootFilesystem is not true")
            if not any(m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container.get("volumeMounts", [])):
                problems.append(f"{where}: /tmp must be an emptyDir mount")
            env_from = container.get("envFrom") or []
            if not any((source.get("secretRef") or {}).get("name") == SECRET_NAME for source in env_from):
                problems.append(f"{where}: must take its secrets from the Secret {SECRET_NAME!r}")
            if name in HTTP_PORTS:
                ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
                if HTTP_PORTS[name] not in ports.values():
                    problems.append(f"{where}: containerPort {HTTP_PORTS[name]} missing")
                for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    http_get = (container.get(probe) or {}).get("httpGet") or {}
                    port = ports.get(http_get.get("port"), http_get.get("port"))
                    if http_get.get("path") != path or port != HTTP_PORTS[name]:
                        problems.append(f"{where}: {probe} must GET {path} on port {HTTP_PORTS[name]}")
        if name in HTTP_PORTS:
            service = services.get(name)
            if service is None or HTTP_PORTS[name] not in [p["port"] for p in service["spec"]["ports"]]:
                problems.append(f"{name}: needs a Service named {name!r} on port {HTTP_PORTS[name]}")
    beat = of_kind(docs, "Deployment")["celery-beat"]["spec"]
    if beat.get("replicas") != 1 or (beat.get("strategy") or {}).get("type") != "Recreate":
        problems.append("celery-beat: must have replicas 1 and strategy Recreate")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_config_and_secrets(target: str, rendered) -> None:
    _, docs = rendered[target]
    assert not of_kind(docs, "Secret"), "secret values must not be part of the manifests"
    config_maps = of_kind(docs, "ConfigMap")
    for name, deployment in of_kind(docs, "Deployment").items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            refs = [s["configMapRef"]["name"] for s in container.get("envFrom", []) if "configMapRef" in s]
            assert refs and all(ref in config_maps for ref in refs), f"{name}: envFrom a missing ConfigMap {refs}"
            for ref in refs:
                data = config_maps[ref].get("data") or {}
                assert data.get("SERVICE_HOST") == "0.0.0.0", f"{name}: SERVICE_HOST must be 0.0.0.0"
                if target == "production":
                    assert data.get("APP_ENV") == "production", f"{name}: APP_ENV must be production"
                    assert "STRIPE_API_BASE" not in data, "production must use the real Stripe API"
