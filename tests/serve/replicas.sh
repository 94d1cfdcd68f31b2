#!/usr/bin/env bash
# replicas.sh — two `snug serve` replicas behind nginx on loopback, as docs/serve.md shows, and requests through it.
#
#   tests/serve/replicas.sh [SNUG_BIN]       (from the repository root; needs nginx and curl: apt-get install nginx curl)
#
# Starts two replicas of the demo model (each 2 sequences, a queue of 1, so that they fill up), writes the nginx
# configuration of docs/serve.md into a temporary folder with its ports filled in, starts nginx as this user on a free
# port, then checks:
#   1. chat and streamed completions through nginx answer 200, the stream ends with [DONE];
#   2. least-connections: 12 concurrent requests through nginx are answered by both replicas (each logs its own);
#   3. a full replica's 503 + Retry-After comes back through nginx as it is, and the client honours it until it gets
#      200 (no request fails, and nginx never marks a busy replica as dead: no 502);
#   4. a replica that dies is taken out (max_fails): requests keep succeeding on the other.
# Everything it started is stopped on exit. Exit 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
snug=${1:-build/snug}
model=models/snug-demo-stories.gguf
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "replicas: FAIL $*" >&2; for f in "$work"/replica*.log "$work"/error.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done >&2; exit 1; }
command -v nginx >/dev/null || fail "nginx is not installed (apt-get install nginx)"
command -v curl >/dev/null || fail "curl is not installed (apt-get install curl)"

# A replica on a free port (started here, so that its pid is this shell's to stop).
start_replica() {
    "$snug" serve "$model" --port 0 --parallel 2 --queue 1 --ctx 512 >/dev/null 2>"$work/$1.log" &
    pids+=($!)
}
# Prints a replica's port once it is ready.
replica_port() {
    local name=$1 port=""
    for _ in $(seq 600); do
        port=$(sed -n 's#^snug serve: listening on http://127.0.0.1:\([0-9]*\)$#\1#p' "$work/$name.log")
        if [ -n "$port" ] && curl -sf "http://127.0.0.1:$port/health" >/dev/null; then echo "$port"; return; fi
        sleep 0.1
    done
    fail "$name did not become ready"
}
start_replica replica_a
start_replica replica_b
pid_a=${pids[0]}
port_a=$(replica_port replica_a)
port_b=$(replica_port replica_b)

# A free port for nginx: ask the kernel for one.
nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/@PORT_A@/$port_a/" -e "s/@PORT_B@/$port_b/" -e "s/@LISTEN@/$nginx_port/" -e "s#@WORK@#$work#g" \
    docs/serve-nginx.conf >"$work/nginx.conf"
nginx -c "$work/nginx.conf" -p "$work" -e "$work/error.log" || fail "nginx did not start"
base="http://127.0.0.1:$nginx_port"
for _ in $(seq 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done

# 1. Requests through nginx.
out=$(curl -sf "$base/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":16,"temperature":0}') ||
    fail "a chat completion through nginx failed"
grep -q '"object":"chat.completion"' <<<"$out" || fail "unexpected chat reply: $out"
out=$(curl -sfN "$base/v1/completions" -H 'Content-Type: application/json' \
    -d '{"prompt":"Once upon a time","max_tokens":16,"stream":true}') || fail "a streamed completion through nginx failed"
[ "$(tail -n 1 <<<"$out")" = "data: [DONE]" ] || fail "the stream through nginx did not end with [DONE]"

# 2 and 3. Concurrent requests: both replicas answer; every client ends with 200, honouring Retry-After on a 503.
client() {
    local i=$1 code retry
    for _ in $(seq 100); do
        code=$(curl -s -o "$work/out.$i" -D "$work/head.$i" -w '%{http_code}' "$base/v1/completions" \
            -H 'Content-Type: application/json' -d "{\"prompt\":\"Story $i\",\"max_tokens\":64,\"temperature\":0}")
        [ "$code" = 200 ] && { echo ok >"$work/result.$i"; return; }
        [ "$code" = 503 ] || { echo "status $code" >"$work/result.$i"; return; }
        retry=$(sed -n 's/^[Rr]etry-[Aa]fter: *\([0-9]*\).*/\1/p' "$work/head.$i")
        [ -n "$retry" ] || { echo "503 without Retry-After" >"$work/result.$i"; return; }
        echo "$retry" >>"$work/retries"
        sleep "$retry"
    done
    echo "never 200" >"$work/result.$i"
}
clients=()
for i in $(seq 12); do
    client "$i" &
    clients+=($!)
done
wait "${clients[@]}" || true
for i in $(seq 12); do
    [ "$(cat "$work/result.$i" 2>/dev/null)" = ok ] || fail "client $i: $(cat "$work/result.$i" 2>/dev/null || echo 'no result')"
done
served_a=$(grep -c '^snug serve: cmpl-.* 200 ' "$work/replica_a.log" || true)
served_b=$(grep -c '^snug serve: cmpl-.* 200 ' "$work/replica_b.log" || true)
[ "$served_a" -gt 0 ] && [ "$served_b" -gt 0 ] || fail "least_conn did not spread the load: replica a $served_a, b $served_b"
busy_a=$(grep -c 'server_busy' "$work/replica_a.log" || true)
client_retries=$(wc -l <"$work/retries" 2>/dev/null || echo 0)

# 4. Replica a dies: nginx takes it out and replica b answers.
kill "$pid_a"
wait "$pid_a" 2>/dev/null || true
for i in $(seq 6); do
    curl -sf "$base/v1/completions" -H 'Content-Type: application/json' -d '{"prompt":"After","max_tokens":4}' \
        >/dev/null || fail "request $i after replica a died failed"
done
echo "replicas: ok — nginx on $nginx_port over replicas $port_a and $port_b: chat and stream through nginx; 12 concurrent" \
    "clients all answered 200 (replica a served $served_a, replica b $served_b; clients honoured Retry-After" \
    "$client_retries times); after replica a died, 6 requests succeeded on b"
