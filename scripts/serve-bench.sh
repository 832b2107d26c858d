#!/usr/bin/env bash
# Dynamic batching of `textgan serve`, measured: 64 concurrent clients against the same server
# with batching (the default) and served one request at a time (--max-batch 1); throughput,
# p50/p99 latency and the server's peak memory. Then the load check: 10,000 requests at 64
# concurrency against the batching server, with its resident memory before, midway and after.
#
#   scripts/serve-bench.sh [RUN_DIR] [OUT_DIR]
#
# RUN_DIR defaults to a fresh oracle-size LSTM (the SeqGAN oracle benchmark's generator: 5,000
# tokens, 32/32, length 20; 50 MLE steps: the weights do not change the cost). Needs the data
# set `oracle` (textgan data get oracle, or TEXTGAN_DATA pointing at a copy).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/target/release/textgan"
[ -x "$bin" ] || (cd "$root" && cargo build --release)
out="${2:-$root/target/serve-bench}"
mkdir -p "$out"
run="${1:-$out/oracle-run}"
if [ ! -f "$run/checkpoint.safetensors" ]; then
  rm -rf "$run"
  "$bin" train --preset oracle-mle --out "$run" --max-steps 50 --device cpu >/dev/null
fi
requests="${REQUESTS:-2000}"
body='{"n": 1}'

serve() { # serve ARGS...: starts a server, sets $url and $pid
  "$bin" serve --run "$run" --addr 127.0.0.1:0 --device cpu "$@" >"$out/serve.out" 2>"$out/serve.err" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$out/serve.out" ] && break
    sleep 0.1
  done
  url="$(head -1 "$out/serve.out" | sed 's/^listening on //; s#/$##')"
}

stop() { kill -TERM "$pid"; wait "$pid"; }

echo "serve-bench: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
serve --max-batch 1
"$bin" loadtest --url "$url" --clients 64 --requests "$requests" --body "$body" --out "$out/serial.json" >/dev/null
stop
serve
"$bin" loadtest --url "$url" --clients 64 --requests "$requests" --body "$body" --out "$out/batched.json" >/dev/null
"$bin" loadtest --url "$url" --clients 64 --requests 10000 --body "$body" --out "$out/load-10000.json" >/dev/null
stop
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
rows = [(name, json.load(open(f"{out}/{name}.json"))) for name in ["serial", "batched", "load-10000"]]
print(f"{'mode':<12}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'peak MiB':>10}{'RSS before/mid/after MiB':>28}")
for name, r in rows:
    m = r["server_rss_mib"]
    mem = "/".join(f"{m[k]:.0f}" if m[k] is not None else "-" for k in ["before", "middle", "after"])
    print(f"{name:<12}{r['requests']:>9}{r['errors']:>8}{r['requests_per_s']:>9.1f}{r['latency_ms']['p50']:>9.1f}{r['latency_ms']['p99']:>9.1f}{r['server_peak_rss_mib']:>10.0f}{mem:>28}")
s, b = rows[0][1], rows[1][1]
print(f"batching: {b['requests_per_s'] / s['requests_per_s']:.1f}x the serial throughput")
PY
