#!/usr/bin/env bash
# One command for the live demo (fresh Debian 12 machine, as root): installs what the build
# needs, builds, then runs scripts/demo.py: sample services on loopback, load, a latency
# regression and then a noisy neighbour, homeostat detecting both and healing the second,
# everything cleaned up afterwards. About 2 minutes. Skip the set-up with HOMEOSTAT_SKIP_DEPS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-and-build.sh demo.sh "the demo loads eBPF programs and makes cgroups"
exec python3 scripts/demo.py --daemon ./build/agent/homeostatd "$@"
