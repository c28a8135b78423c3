#!/usr/bin/env bash
# ns per run and runs per request of each hs_* program under nginx + wrk on loopback,
# from kernel.bpf_stats_enabled. For comparing variants of bpf/http.bpf.c quickly; the
# acceptance figures come from nginx_overhead.py.
#   sudo bash bench/bpf_cost_per_run.sh [DAEMON [extra daemon args...]]
set -euo pipefail
daemon=${1:-"$(dirname "$0")/../build/agent/homeostatd"}
shift || true
tmp=$(mktemp -d /tmp/hs-bpfcost.XXXXXX)
ngx_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
api_port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
pids=()
cleanup() {
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$tmp/www" "$tmp/t"
head -c 600 /dev/zero | tr '\0' a > "$tmp/www/small.html"
cat > "$tmp/nginx.conf" <<CONF
daemon off; master_process on; worker_processes 1; user root;
error_log $tmp/error.log; pid $tmp/nginx.pid;
events { worker_connections 1024; }
http { access_log off; sendfile on; client_body_temp_path $tmp/t; proxy_temp_path $tmp/t;
  fastcgi_temp_path $tmp/t; uwsgi_temp_path $tmp/t; scgi_temp_path $tmp/t;
  server { listen 127.0.0.1:$ngx_port; root $tmp/www; } }
CONF
nginx -c "$tmp/nginx.conf" -p "$tmp" & pids+=($!)
"$daemon" --listen "127.0.0.1:$api_port" "$@" > "$tmp/daemon.log" 2>&1 & dpid=$!; pids+=($dpid)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.1; done

# The daemon's own programs: the prog ids behind its fds.
ids=$(grep -h '^prog_id:' /proc/$dpid/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
snap() { bpftool prog show -j | python3 -c "
import json,sys; ids=set(map(int,'$ids'.split()))
print(json.dumps({p['name']:(p.get('run_time_ns',0),p.get('run_cnt',0)) for p in json.load(sys.stdin) if p['id'] in ids}))"; }
sysctl -qw kernel.bpf_stats_enabled=1
a=$(snap)
reqs=$(timeout 20 wrk -t1 -c64 -d3s "http://127.0.0.1:$ngx_port/small.html" | awk '/requests in/{print $1}')
b=$(snap)
python3 -c "
import json; a=json.loads('$a'); b=json.loads('$b'); r=$reqs; tot=0
for k in sorted(b):
    t=b[k][0]-a[k][0]; c=b[k][1]-a[k][1]; tot+=t
    print(f'{k:14s} {t/max(c,1):7.0f} ns/run  {c/r:5.2f} runs/request')
print(f'requests {r}   BPF ns per request (all programs) {tot/r:.0f}')"
