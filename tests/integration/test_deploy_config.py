"""The deploy files mirror the Procfile and pass offline validation.

- docker-compose.yml: `docker-compose config -q` (Debian's compose 1.29), one service per Procfile line
  with the same command.
- deploy/k8s: `kubectl kustomize` of the base and of each overlay, validated with
  `kubernetes-validate --strict`; every long-running process has a hardened Deployment.
- Issue 19, against tables of what the code does (CALLS, found by scanning for `settings.upstream(...)`; who uses
  PostgreSQL, Redis, Stripe, SMTP; NEEDS_SECRETS): the NetworkPolicies allow exactly those calls (every pair of
  pods, both directions) and that egress; each process mounts only the secret keys it reads; every replicated
  Deployment has a PodDisruptionBudget; the autoscalers target real Deployments; the production Ingress has TLS
  for PUBLIC_URL's host and the gateway trusts only private proxy networks; a migrations Job runs `make db`'s
  command before a rollout; zone spread and grace periods per process; compose's migrations one-shot, `dev`
  profile and health checks.

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
    leaked = [
        f"{op} {arg}" for op, arg in instructions if op in ("ENV", "ARG") and any(w in arg.upper() for w in secretish)
    ]
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
    assert not expected.keys() - deployments.keys(), (
        f"processes without a Deployment: {sorted(expected.keys() - deployments.keys())}"
    )
    assert not DEV_ONLY & deployments.keys(), (
        f"development helpers must not be deployed: {sorted(DEV_ONLY & deployments.keys())}"
    )
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
            if not any(
                m["mountPath"] == "/tmp" and m["name"] in tmp_volumes for m in container.get("volumeMounts", [])
            ):
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


# --- issue 19: production deploy (what the code does, as tables; the manifests checked against them) ------

INGRESS_NAMESPACE = "ingress-nginx"  # where ingress-nginx (ingressClassName nginx) runs; see deploy/README.md
MONITORING_NAMESPACE = "monitoring"  # Prometheus, scraping /metrics
MIGRATIONS_COMMAND = "python -m shared.migrations services/booking services/payments services/notifications"
STATELESS = {
    "gateway",
    "web",
    "booking",
    "payments",
    "notifications",
    "booking-consumer",
    "payments-consumer",
    "notifications-consumer",
    "celery-worker",
}
AUTOSCALED = {"gateway", "web", "booking", "celery-worker"}
SINGLETONS = {"celery-beat", "booking-relay", "payments-relay"}

# Who calls whom over HTTP: every `settings.upstream("<service>")` in the code (and the gateway's route table),
# attributed to the process running that file. test_k8s_http_call_table_matches_the_code keeps it true.
CALLS = {
    ("gateway", "web"),
    ("gateway", "booking"),
    ("gateway", "payments"),
    ("gateway", "notifications"),
    ("web", "booking"),
    ("web", "payments"),
    ("web", "gateway"),  # services/web/app.py: the dashboard calls the clinic API through the gateway
    ("booking", "payments"),  # services/booking/payments_client.py
    ("booking", "notifications"),  # services/booking/privacy_client.py: a customer's emails, exported or erased
    ("payments", "booking"),  # services/payments/catalogue.py
    ("celery-worker", "payments"),  # services/notifications/emails/tasks.py: a gift email's voucher code
}
UPSTREAM_CALLERS = {  # source folder or file -> the process that runs it
    "services/gateway": "gateway",
    "services/web": "web",
    "services/booking": "booking",
    "services/payments": "payments",
    "services/notifications/emails/tasks.py": "celery-worker",
}

# What each process reaches outside the cluster.
USES_POSTGRES = {
    "booking",
    "payments",
    "notifications",
    "booking-relay",
    "payments-relay",
    "booking-consumer",
    "payments-consumer",
    "notifications-consumer",
    "celery-worker",
    "migrations",
}
USES_REDIS = {
    "gateway",
    "web",
    "payments",
    "notifications",
    "booking-relay",
    "payments-relay",
    "booking-consumer",
    "payments-consumer",
    "notifications-consumer",
    "celery-worker",
    "celery-beat",
}
CALLS_STRIPE = {"payments", "payments-consumer"}  # services/payments/stripe_gateway.py
SENDS_MAIL = {"celery-worker"}  # services/notifications/emails/smtp.py
CALLS_CLINICS = {"celery-worker"}  # signed webhooks to any public address and port
PUBLIC_SAMPLE = "198.51.100.7"  # a public address outside every private range

# The secret keys each process reads (each one's settings and code paths; issue 17: a Secret per process holding
# only what it needs). Every pod takes `clinic-secrets` (REDIS_URL) and its own `<name>-secrets`.
COMMON_SECRET_KEYS = {"REDIS_URL"}
NEEDS_SECRETS = {
    "gateway": {"REDIS_URL", "INTERNAL_TOKEN", "METRICS_TOKEN"},
    "web": {"REDIS_URL", "METRICS_TOKEN", "STRIPE_PUBLISHABLE_KEY"},
    "booking": {"DATABASE_URL", "INTERNAL_TOKEN", "METRICS_TOKEN", "MANAGE_LINK_KEY", "HEALTH_DATA_KEY"},
    "payments": {
        "DATABASE_URL",
        "REDIS_URL",
        "INTERNAL_TOKEN",
        "METRICS_TOKEN",
        "STRIPE_SECRET_KEY",
        "STRIPE_PUBLISHABLE_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "VOUCHER_CODE_KEY",
    },
    "notifications": {"DATABASE_URL", "REDIS_URL", "INTERNAL_TOKEN", "METRICS_TOKEN"},
    "booking-relay": {"DATABASE_URL", "REDIS_URL"},
    "payments-relay": {"DATABASE_URL", "REDIS_URL"},
    "booking-consumer": {"DATABASE_URL", "REDIS_URL", "MANAGE_LINK_KEY"},
    "payments-consumer": {"DATABASE_URL", "REDIS_URL", "STRIPE_SECRET_KEY"},
    "notifications-consumer": {"DATABASE_URL", "REDIS_URL"},
    "celery-worker": {"DATABASE_URL", "REDIS_URL", "INTERNAL_TOKEN", "SMTP_USER", "SMTP_PASSWORD"},
    "celery-beat": {"REDIS_URL"},
    "migrations": {"DATABASE_URL"},
}
# The one key a pod gets without reading it: booking's HTTP process opens no Redis connection
# (create_base_app(with_redis=False)), but every Deployment takes the common Secret.
UNREAD_COMMON = {"booking": {"REDIS_URL"}}

# terminationGracePeriodSeconds: what each process finishes after SIGTERM (deploy/README.md, "Stopping").
PRE_STOP_SECONDS = 5
GRACE_SECONDS = {
    **{name: 20 for name in HTTP_PORTS},  # preStop 5 + aiohttp shutdown_timeout + closing pools
    "booking-relay": 15,
    "payments-relay": 15,
    "booking-consumer": 30,
    "notifications-consumer": 30,
    "payments-consumer": 60,
    "celery-worker": 90,  # TASK_TIME_LIMIT + the runtime's close
    "celery-beat": 10,
}


def selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def workloads(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployments and Jobs by name: their pod templates."""
    return {doc["metadata"]["name"]: doc for doc in docs if doc.get("kind") in ("Deployment", "Job")}


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return workload["spec"]["template"]["metadata"]["labels"]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _peer_matches(entry: dict[str, Any], peer: tuple[str, Any], pods: dict[str, dict[str, Any]]) -> bool:
    import ipaddress

    kind, value = peer
    if "ipBlock" in entry:
        if kind != "ip":
            return False
        block = entry["ipBlock"]
        address = ipaddress.ip_address(value)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except") or []
        )
    if "namespaceSelector" in entry:
        names = (entry["namespaceSelector"].get("matchLabels") or {}).get("kubernetes.io/metadata.name")
        assert names, f"namespaceSelector without kubernetes.io/metadata.name: {entry}"
        return kind == "namespace" and value == names
    if "podSelector" in entry:
        return kind == "pod" and selects(entry["podSelector"], pod_labels(pods[value]))
    return False


def _port_matches(rule: dict[str, Any], port: int, protocol: str) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(
        p.get("protocol", "TCP") == protocol
        and (p.get("port") is None or p["port"] <= port <= p.get("endPort", p["port"]))
        for p in ports
    )


def allowed(
    docs: list[dict[str, Any]], direction: str, pod: str, peer: tuple[str, Any], port: int, protocol: str = "TCP"
) -> bool:
    """Does some NetworkPolicy let `pod` receive from (Ingress) / send to (Egress) `peer` on `port`?
    Pods no policy of that direction selects would be open: the default-deny policy must select them all."""
    pods = workloads(docs)
    labels = pod_labels(pods[pod])
    policies = [
        p
        for p in of_kind(docs, "NetworkPolicy").values()
        if direction in p["spec"].get("policyTypes", []) and selects(p["spec"]["podSelector"], labels)
    ]
    assert policies, f"{pod}: no {direction} NetworkPolicy selects it (default deny missing)"
    key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in policies:
        for rule in policy["spec"].get(key) or []:
            peers = rule.get(peers_key)
            if _port_matches(rule, port, protocol) and (not peers or any(_peer_matches(e, peer, pods) for e in peers)):
                return True
    return False


def http_port(workload: dict[str, Any]) -> int | None:
    ports = [p["containerPort"] for c in pod_spec(workload)["containers"] for p in c.get("ports", [])]
    return ports[0] if ports else None


def secret_examples() -> dict[str, dict[str, str]]:
    docs = yaml.safe_load_all((K8S_TARGETS["base"] / "secret.example.yaml").read_text())
    return {doc["metadata"]["name"]: doc["stringData"] for doc in docs if doc and doc.get("kind") == "Secret"}


def config_data(docs: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [c for name, c in of_kind(docs, "ConfigMap").items() if name.startswith("clinic-config")]
    return config["data"]


def test_k8s_http_call_table_matches_the_code() -> None:
    found: set[tuple[str, str]] = set()
    for path in sorted((ROOT / "services").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        targets = set(re.findall(r"upstream\(\s*[\"'](\w+)[\"']\s*\)", text))
        if rel == "services/gateway/routing.py":
            targets |= set(re.findall(r"Route\(\s*\"[^\"]*\",\s*\"(\w+)\"", text))
        if rel == "services/gateway/openapi.py":
            (spec,) = re.findall(r"SPEC_SERVICES\s*=\s*\(([^)]*)\)", text)
            targets |= set(re.findall(r"\"(\w+)\"", spec))
        if not targets:
            continue
        callers = [
            caller for prefix, caller in UPSTREAM_CALLERS.items() if rel == prefix or rel.startswith(prefix + "/")
        ]
        assert callers, f"{rel} calls {sorted(targets)}: say in UPSTREAM_CALLERS which process runs it"
        found |= {(callers[-1], target) for target in targets}
    assert found == CALLS, (
        f"the code calls {sorted(found - CALLS)} beyond CALLS; CALLS lists {sorted(CALLS - found)} it does not make"
    )


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_network_policies_allow_exactly_the_calls_the_code_makes(target: str, rendered) -> None:
    _, docs = rendered[target]
    pods = workloads(docs)
    default_deny = [
        p
        for p in of_kind(docs, "NetworkPolicy").values()
        if p["spec"]["podSelector"] == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert default_deny, "a default-deny NetworkPolicy (podSelector {}, Ingress and Egress, no rules) is missing"
    problems = []
    for src in pods:
        for dst, workload in pods.items():
            port = http_port(workload)
            if src == dst or port is None:
                continue
            both = allowed(docs, "Egress", src, ("pod", dst), port) and allowed(
                docs, "Ingress", dst, ("pod", src), port
            )
            if both != ((src, dst) in CALLS):
                problems.append(
                    f"{src} -> {dst}:{port}: {'allowed' if both else 'blocked'}, "
                    f"the code {'does not call' if both else 'calls'} it"
                )
            if (src, dst) in CALLS and dst not in HTTP_PORTS:
                problems.append(f"{dst} is called but is not an HTTP service")
    for name in pods:
        if not allowed(docs, "Egress", name, ("namespace", "kube-system"), 53, "UDP"):
            problems.append(f"{name}: DNS (kube-system, UDP 53) is blocked")
        for namespace in (INGRESS_NAMESPACE, MONITORING_NAMESPACE, "default"):
            port = http_port(pods[name])
            if port is None:
                continue
            expected = (namespace == INGRESS_NAMESPACE and name == "gateway") or (
                namespace == MONITORING_NAMESPACE and name in HTTP_PORTS
            )
            if allowed(docs, "Ingress", name, ("namespace", namespace), port) != expected:
                problems.append(
                    f"{name}:{port} from namespace {namespace}: should be {'allowed' if expected else 'blocked'}"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_network_policies_let_out_only_what_each_process_uses(target: str, rendered) -> None:
    from urllib.parse import urlsplit

    _, docs = rendered[target]
    secrets = secret_examples()
    database = urlsplit(secrets["migrations-secrets"]["DATABASE_URL"])
    redis = urlsplit(secrets["clinic-secrets"]["REDIS_URL"])
    smtp_port = int(config_data(docs)["SMTP_PORT"])
    destinations = {  # name: (peer, port, the processes that may reach it)
        "PostgreSQL": (("ip", database.hostname), database.port or 5432, USES_POSTGRES),
        "Redis": (("ip", redis.hostname), redis.port or 6379, USES_REDIS),
        # The worker reaches any public address (clinics' webhooks), Stripe's included.
        "Stripe": (("ip", PUBLIC_SAMPLE), 443, CALLS_STRIPE | CALLS_CLINICS),
        "SMTP": (("ip", PUBLIC_SAMPLE), smtp_port, SENDS_MAIL | CALLS_CLINICS),
        "the internet on another port": (("ip", PUBLIC_SAMPLE), 8443, CALLS_CLINICS),
        "a private address": (("ip", "192.168.1.10"), 443, set()),
        "the cloud metadata service": (("ip", "169.254.169.254"), 80, set()),
    }
    problems = []
    for name in workloads(docs):
        for what, (peer, port, users) in destinations.items():
            if allowed(docs, "Egress", name, peer, port) != (name in users):
                problems.append(
                    f"{name} -> {what} ({peer[1]}:{port}): should be {'allowed' if name in users else 'blocked'}"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_every_replicated_deployment_has_a_disruption_budget(target: str, rendered) -> None:
    _, docs = rendered[target]
    deployments = of_kind(docs, "Deployment")
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler").values()}
    budgets = of_kind(docs, "PodDisruptionBudget")
    problems = []
    for name, deployment in deployments.items():
        labels = pod_labels(deployment)
        covering = [b for b in budgets.values() if selects(b["spec"]["selector"], labels)]
        replicas = hpas[name]["spec"]["minReplicas"] if name in hpas else deployment["spec"].get("replicas", 1)
        if name in SINGLETONS:
            if covering:
                problems.append(f"{name}: runs alone by design; no PodDisruptionBudget")
            continue
        if name not in STATELESS:
            problems.append(f"{name}: neither stateless nor a singleton: add it to a table")
        if len(covering) != 1:
            problems.append(f"{name} ({replicas} replicas): {len(covering)} PodDisruptionBudgets select it, want 1")
            continue
        spec = covering[0]["spec"]
        if spec.get("maxUnavailable") != 1 and not ("minAvailable" in spec and int(spec["minAvailable"]) < replicas):
            problems.append(f"{name}: its PodDisruptionBudget must let one pod go at a time")
    for budget in budgets.values():
        if not any(selects(budget["spec"]["selector"], pod_labels(d)) for d in deployments.values()):
            problems.append(f"PodDisruptionBudget {budget['metadata']['name']} selects no Deployment")
    if target == "production":
        for name in STATELESS:
            replicas = (
                hpas[name]["spec"]["minReplicas"] if name in hpas else deployments[name]["spec"].get("replicas", 1)
            )
            if replicas < 2:
                problems.append(f"{name}: production runs at least 2 (got {replicas})")
    assert not problems, "\n".join(problems)


def test_k8s_production_autoscalers(rendered) -> None:
    _, docs = rendered["production"]
    deployments = of_kind(docs, "Deployment")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    problems = []
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    if targets != AUTOSCALED:
        problems.append(f"autoscaled: {sorted(targets)}, want {sorted(AUTOSCALED)}")
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        ref = spec["scaleTargetRef"]
        if (ref.get("apiVersion"), ref.get("kind")) != ("apps/v1", "Deployment") or ref["name"] not in deployments:
            problems.append(f"HPA {name}: targets no existing Deployment: {ref}")
            continue
        if not 2 <= spec.get("minReplicas", 1) <= spec["maxReplicas"] <= 20:
            problems.append(
                f"HPA {name}: want 2 <= minReplicas <= maxReplicas <= 20, "
                f"got {spec.get('minReplicas')}..{spec['maxReplicas']}"
            )
        cpu = [m for m in spec.get("metrics", []) if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        if not cpu or not 50 <= cpu[0]["resource"]["target"].get("averageUtilization", 0) <= 90:
            problems.append(f"HPA {name}: needs a CPU utilisation target between 50 and 90 %")
        deployment = deployments[ref["name"]]
        if "replicas" in deployment["spec"]:
            problems.append(
                f"{ref['name']}: autoscaled, so its Deployment must not fix replicas (each apply would reset them)"
            )
        if not all(
            (c.get("resources") or {}).get("requests", {}).get("cpu") for c in pod_spec(deployment)["containers"]
        ):
            problems.append(f"{ref['name']}: CPU utilisation needs CPU requests")
    assert "celery-beat" not in targets
    assert not problems, "\n".join(problems)


def test_k8s_production_ingress_has_tls_and_the_gateway_trusts_only_it(rendered) -> None:
    import ipaddress
    from urllib.parse import urlsplit

    _, docs = rendered["production"]
    ingresses = of_kind(docs, "Ingress")
    assert len(ingresses) == 1, f"one Ingress in production, got {sorted(ingresses)}"
    (ingress,) = ingresses.values()
    spec = ingress["spec"]
    public = urlsplit(config_data(docs)["PUBLIC_URL"])
    assert public.scheme == "https", "PUBLIC_URL must be https in production"
    hosts = {rule["host"] for rule in spec["rules"]}
    tls_hosts = {host for tls in spec.get("tls", []) if tls.get("secretName") for host in tls.get("hosts", [])}
    assert hosts == {public.hostname} and hosts <= tls_hosts, (
        f"the Ingress must serve PUBLIC_URL's host {public.hostname} with TLS: rules {hosts}, tls {tls_hosts}"
    )
    assert spec.get("ingressClassName") == "nginx", f"ingress-nginx assumed (namespace {INGRESS_NAMESPACE})"
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"].get("annotations", {}), "the cert-manager option"
    gateway_service = of_kind(docs, "Service")["gateway"]
    for rule in spec["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == "gateway" and (
                backend["port"].get("name") == "http" or backend["port"].get("number") == 8080
            )
            assert backend["port"].get("name", "http") in {p["name"] for p in gateway_service["spec"]["ports"]}
    # TRUSTED_PROXIES: only our ingress controller may name the client. Its pods have pod-CIDR addresses and the
    # NetworkPolicies let nothing else but Prometheus reach the gateway (test above), so a private pod CIDR it is.
    container = pod_spec(of_kind(docs, "Deployment")["gateway"])["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    proxies = [ipaddress.ip_network(n.strip()) for n in (env.get("TRUSTED_PROXIES") or "").split(",") if n.strip()]
    assert proxies, "the gateway needs TRUSTED_PROXIES behind the Ingress"
    assert all(net.is_private and net.prefixlen >= 8 for net in proxies), (
        f"TRUSTED_PROXIES must be private pod networks: {proxies}"
    )
    assert not allowed(docs, "Ingress", "gateway", ("ip", PUBLIC_SAMPLE), 8080), (
        "the internet must not reach the gateway's pods"
    )


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_migrations_job_runs_the_migrations_before_a_rollout(target: str, rendered) -> None:
    _, docs = rendered[target]
    jobs = of_kind(docs, "Job")
    assert "migrations" in jobs, "a migrations Job is missing"
    job = jobs["migrations"]
    pod = pod_spec(job)
    (container,) = pod["containers"]
    assert as_argv([*container.get("command", []), *container.get("args", [])]) == shlex.split(MIGRATIONS_COMMAND)
    makefile = (ROOT / "Makefile").read_text()
    assert f"$(BIN)/{MIGRATIONS_COMMAND}" in makefile, "the Job runs what `make db` runs"
    # The runner is given service folders: the image keeps its source tree at /src (deploy/Dockerfile).
    assert container.get("workingDir") == "/src"
    dockerfile = (ROOT / DOCKERFILE).read_text()
    assert "COPY services ./services" in dockerfile and "rm -rf /src/services" not in dockerfile
    assert pod["restartPolicy"] == "Never" and job["spec"].get("backoffLimit", 6) <= 3
    assert job["spec"].get("activeDeadlineSeconds"), "a stuck migration must fail the rollout, not hang it"
    assert job["metadata"].get("annotations", {}).get("argocd.argoproj.io/hook") == "PreSync"
    sc = container.get("securityContext") or {}
    assert sc.get("readOnlyRootFilesystem") is True and (
        sc.get("runAsNonRoot") or pod["securityContext"].get("runAsNonRoot")
    )
    assert pod.get("serviceAccountName") == "migrations" and pod.get("automountServiceAccountToken") is False
    rollout = (ROOT / "deploy" / "rollout.sh").read_text()
    assert re.search(r"wait --for=condition=complete job/migrations", rollout), "rollout.sh waits for the Job"
    assert rollout.index("job/migrations") < rollout.index('apply -f "$RENDERED"\n'), "the Job before the workloads"
    # rollout.sh applies the Job and the NetworkPolicies first, by label: they must carry it.
    first = [
        d["metadata"]["name"]
        for d in docs
        if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") in ("migrations", "network-policy")
    ]
    assert "migrations" in first and set(of_kind(docs, "NetworkPolicy")) <= set(first)
    assert not any(e.get("configMapRef") for e in container.get("envFrom", [])), (
        "the Job must not need the new ConfigMap"
    )


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_topology_spread_and_grace_periods(target: str, rendered) -> None:
    _, docs = rendered[target]
    web_py = (ROOT / "shared" / "web.py").read_text()
    (shutdown,) = map(int, re.findall(r"shutdown_timeout=(\d+)", web_py))
    runtime = (ROOT / "services" / "notifications" / "worker" / "runtime.py").read_text()
    (task_limit,) = map(float, re.findall(r"^TASK_TIME_LIMIT = ([\d.]+)", runtime, re.M))
    problems = []
    deployments = of_kind(docs, "Deployment")
    assert set(GRACE_SECONDS) == set(deployments), "GRACE_SECONDS must name every Deployment"
    for name, deployment in deployments.items():
        pod = pod_spec(deployment)
        grace = pod.get("terminationGracePeriodSeconds")
        if grace != GRACE_SECONDS[name]:
            problems.append(f"{name}: terminationGracePeriodSeconds {grace}, want {GRACE_SECONDS[name]}")
        spread = pod.get("topologySpreadConstraints") or []
        zones = [
            c
            for c in spread
            if c["topologyKey"] == "topology.kubernetes.io/zone" and selects(c["labelSelector"], pod_labels(deployment))
        ]
        if (name in STATELESS) != bool(zones):
            problems.append(
                f"{name}: {'needs' if name in STATELESS else 'must not have'} a zone spread selecting its pods"
            )
        if name in HTTP_PORTS:
            pre_stop = pod["containers"][0].get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
            if pre_stop != ["sleep", str(PRE_STOP_SECONDS)]:
                problems.append(f"{name}: preStop must sleep {PRE_STOP_SECONDS} s (endpoints removed before SIGTERM)")
            if GRACE_SECONDS[name] < PRE_STOP_SECONDS + shutdown + 5:
                problems.append(f"{name}: grace below preStop + shutdown_timeout {shutdown} + 5")
    if GRACE_SECONDS["celery-worker"] < task_limit + 15:
        problems.append("celery-worker: grace below TASK_TIME_LIMIT + the runtime's close")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("target", sorted(K8S_TARGETS))
def test_k8s_each_process_gets_only_the_secrets_it_reads(target: str, rendered) -> None:
    _, docs = rendered[target]
    examples = secret_examples()
    settings_files = [ROOT / "shared" / "config.py", *sorted((ROOT / "services").glob("*/settings.py"))]
    settings_text = "\n".join(p.read_text() for p in settings_files)
    for key in set().union(*NEEDS_SECRETS.values()):
        assert re.search(rf"\b{key.lower()}\s*:", settings_text), f"{key}: no such setting (renamed?)"
    assert examples.get(SECRET_NAME, {}).keys() == COMMON_SECRET_KEYS
    problems = []
    for name, workload in workloads(docs).items():
        for container in pod_spec(workload)["containers"]:
            refs = [s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s]
            refs += [
                e["valueFrom"]["secretKeyRef"]["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {})
            ]
            missing = [ref for ref in refs if ref not in examples]
            if missing:
                problems.append(f"{name}: mounts {missing}, not in secret.example.yaml")
                continue
            keys = set().union(*(examples[ref].keys() for ref in refs)) if refs else set()
            own = f"{name}-secrets"
            if name not in NEEDS_SECRETS:
                problems.append(f"{name}: not in NEEDS_SECRETS")
                continue
            if NEEDS_SECRETS[name] - COMMON_SECRET_KEYS and own not in refs:
                problems.append(f"{name}: its own keys come from the Secret {own!r}")
            if set(refs) - {SECRET_NAME, own}:
                problems.append(f"{name}: mounts another process's Secret: {sorted(set(refs) - {SECRET_NAME, own})}")
            extra = keys - NEEDS_SECRETS[name] - UNREAD_COMMON.get(name, set())
            lacking = NEEDS_SECRETS[name] - keys
            if extra or lacking:
                problems.append(f"{name}: gets {sorted(extra)} it does not read, lacks {sorted(lacking)}")
    stripe_holders = {name for name, keys in NEEDS_SECRETS.items() if "STRIPE_SECRET_KEY" in keys}
    assert stripe_holders == CALLS_STRIPE, f"the Stripe secret key only where Stripe is called: {stripe_holders}"
    assert not problems, "\n".join(problems)


def test_compose_migrations_one_shot_profiles_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    problems = []
    migrations = services.get("migrations")
    assert migrations, "compose needs a `migrations` one-shot"
    if (
        as_argv(compose_command(migrations)) != shlex.split(MIGRATIONS_COMMAND)
        or migrations.get("working_dir") != "/src"
    ):
        problems.append("migrations: must run the migrations runner from /src")
    if str(migrations.get("restart", "no")) != "no":
        problems.append("migrations: a one-shot (restart: no)")
    dev = {name for name, s in services.items() if "dev" in (s.get("profiles") or [])}
    if dev != DEV_ONLY | {"seed"}:
        problems.append(f"the dev profile must hold exactly {sorted(DEV_ONLY | {'seed'})}, got {sorted(dev)}")
    app_services = [name for name in procfile() if name not in DEV_ONLY] + ["seed"]
    for name in app_services:
        service = services[name]
        deps = service.get("depends_on") or {}
        if (deps.get("migrations") or {}).get("condition") != "service_completed_successfully":
            problems.append(f"{name}: must wait for migrations (service_completed_successfully)")
        if name not in dev and set(deps) & dev:
            problems.append(f"{name}: depends on {sorted(set(deps) & dev)}, which only the dev profile starts")
    for name in [*HTTP_PORTS, *DEV_ONLY, "postgres", "redis"]:
        if not (services[name].get("healthcheck") or {}).get("test"):
            problems.append(f"{name}: needs a healthcheck")
    for name, service in services.items():
        env = service.get("environment") or {}
        if "STRIPE_SECRET_KEY" in env and name not in CALLS_STRIPE:
            problems.append(f"{name}: gets STRIPE_SECRET_KEY without calling Stripe")
        if ("SMTP_PASSWORD" in env or "SMTP_USER" in env) and name not in SENDS_MAIL:
            problems.append(f"{name}: gets the SMTP login without sending mail")
        if name in GRACE_SECONDS:
            grace = str(service.get("stop_grace_period", ""))
            if grace != f"{GRACE_SECONDS[name]}s":
                problems.append(f"{name}: stop_grace_period {grace!r}, want {GRACE_SECONDS[name]}s as in Kubernetes")
    assert not problems, "\n".join(problems)
