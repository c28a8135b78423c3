#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing homeostat needs.
# Safe to run again. Needs root (apt-get).
set -euo pipefail

if [ "$(id -u)" != 0 ]; then
  echo "install-deps.sh: run as root (apt-get needs it): sudo bash scripts/install-deps.sh" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive

build=(build-essential cmake ninja-build pkg-config git clang llvm libbpf-dev bpftool libelf-dev
       zlib1g-dev libboost-dev libspdlog-dev libfmt-dev libyaml-cpp-dev nlohmann-json3-dev
       libsqlite3-dev libssl-dev file)
# libFuzzer and the sanitizer runtimes for clang (scripts/fuzz.sh); g++ brings its own
# (libasan8, libubsan1, libtsan2: dependencies of build-essential's libgcc-12-dev).
hardening=(libclang-rt-14-dev)
tests=(libgtest-dev libgmock-dev libbenchmark-dev nginx-light wrk curl iproute2 procps prometheus
       prometheus-alertmanager python3 python3-yaml systemd chromium tmux)
command -v node >/dev/null 2>&1 || tests+=(nodejs)

# Installing nginx and prometheus must not start them as services on this host: a
# policy-rc.d that says "no" keeps their maintainer scripts from doing so.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod +x "$policy"
  own_policy=1
fi
trap 'if [ $own_policy = 1 ]; then rm -f "$policy"; fi' EXIT

apt-get update -q
apt-get install -y -q --no-install-recommends "${build[@]}" "${hardening[@]}" "${tests[@]}"
