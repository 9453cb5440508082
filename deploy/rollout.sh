#!/usr/bin/env bash
# Roll out a kustomize target with plain kubectl: the schema migrations first, then the workloads.
#   bash deploy/rollout.sh [deploy/k8s/overlays/production]      (kubectl's current context and namespace)
# 1. the NetworkPolicies and the migrations Job (a fresh one: a Job's pod template cannot be changed), then
#    wait until it completed; a failed or late migration stops here, the running release untouched;
# 2. everything (the Job again, unchanged), then wait for each Deployment's rollout.
# Argo CD does step 1 by itself (the Job's PreSync hook annotation). The Secrets must exist beforehand
# (deploy/k8s/base/secret.example.yaml).
set -euo pipefail

TARGET="${1:-deploy/k8s/overlays/production}"
KUBECTL="${KUBECTL:-kubectl}"
TIMEOUT="${ROLLOUT_TIMEOUT:-600s}"

RENDERED="$(mktemp)"
trap 'rm -f "$RENDERED"' EXIT
"$KUBECTL" kustomize "$TARGET" >"$RENDERED"

"$KUBECTL" delete job migrations --ignore-not-found --wait=true
"$KUBECTL" apply -f "$RENDERED" --selector 'app.kubernetes.io/component in (migrations,network-policy)'
if ! "$KUBECTL" wait --for=condition=complete job/migrations --timeout="$TIMEOUT"; then
    echo "rollout.sh: the migrations Job did not complete; nothing else was applied" >&2
    "$KUBECTL" logs job/migrations --tail=50 >&2 || true
    exit 1
fi

"$KUBECTL" apply -f "$RENDERED"
for deployment in $("$KUBECTL" get -f "$RENDERED" -o name | grep '^deployment'); do
    "$KUBECTL" rollout status "$deployment" --timeout="$TIMEOUT"
done
