#!/usr/bin/env bash
# Installs the Debian packages the test suite needs when they are missing:
#   chromium   — the browser test drives the web page in headless Chromium;
#   prometheus — its `promtool` checks and unit-tests the alert rules under deploy/;
#   prometheus-alertmanager — `amtool` checks deploy/alertmanager/alertmanager.yml;
#   kubectl    — `kubectl kustomize` cross-checks the test's own rendering of deploy/k8s;
#   nodejs     — runs the k6 script's logic (loadtest/k6/chat.js) under stub k6 modules.
# Run by `make test`; a no-op when everything is present.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v kubectl >/dev/null 2>&1 || need+=(kubectl)
command -v node >/dev/null 2>&1 || need+=(nodejs)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "installing Debian packages: ${need[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
