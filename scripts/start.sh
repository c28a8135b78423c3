#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a running daemon: installs the build
# dependencies, builds, and runs homeostatd in the foreground on built-in defaults.
# Stop it with Ctrl-C. Extra arguments go to homeostatd (e.g. --listen 127.0.0.1:9500).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-and-build.sh start.sh "homeostatd loads eBPF programs"
cat <<MSG

homeostatd is starting in the foreground (Ctrl-C stops it). Where to look:
  curl -s http://127.0.0.1:9464/metrics      Prometheus metrics per service and endpoint
  ./build/cli/homeostat status               the daemon's status
  curl -s http://127.0.0.1:9464/healthz      liveness

MSG
exec ./build/agent/homeostatd "$@"
