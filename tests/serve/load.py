#!/usr/bin/env python3
"""load.py — many clients at once against a running `snug serve`, bounded in count and time.

usage: load.py BASE_URL API_KEY SERVER_PID CLIENTS

  1. CLIENTS clients (threads) each send one chat completion at the same moment (half of them streamed), against a
     server whose sequences and queue hold fewer. Every request must end in 200, or in 503 with a Retry-After header
     that the client honours before trying again; every request completes within the time bound.
  2. /metrics must agree with what the clients saw: the 503s counted, the tokens generated (the sum of the usage
     numbers), and nothing left running, waiting or holding KV pages.
  3. Clients that hang up mid-stream: their generations are cancelled and their pages given back (pages used 0).
  4. The server's peak resident memory (VmHWM) stays within the plan (/v1/plan: total_bytes, plus the server's own
     bound, server.bytes).
Prints one summary line of figures ("load: …") and exits 1 on the first broken expectation.
"""
import http.client
import json
import socket
import sys
import threading
import time
from urllib.parse import urlparse

TIME_BOUND_S = 240
MAX_ATTEMPTS = 500


def fail(message):
    print(f"load: FAIL {message}", flush=True)
    sys.exit(1)


def main():
    base, key, pid, clients = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    url = urlparse(base)
    host, port = url.hostname, url.port
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(method, path, body=None, timeout=120):
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        retry = resp.getheader("Retry-After")
        conn.close()
        return resp.status, data, retry

    def metrics():
        status, data, _ = request("GET", "/metrics")
        if status != 200:
            fail(f"/metrics answered {status}")
        values = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    before = metrics()
    results = [None] * clients
    start = threading.Barrier(clients)

    def client(i):
        body = {
            "messages": [{"role": "user", "content": f"Tell me story number {i}"}],
            "max_tokens": 24,
            "temperature": 0,
        }
        stream = i % 2 == 1
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        busy = 0
        start.wait()
        for _ in range(MAX_ATTEMPTS):
            status, data, retry = request("POST", "/v1/chat/completions", body)
            if status == 503:
                if retry is None or not retry.isdigit():
                    results[i] = ("error", f"503 without a Retry-After: {data[:200]!r}")
                    return
                busy += 1
                time.sleep(int(retry))
                continue
            if status != 200:
                results[i] = ("error", f"status {status}: {data[:300]!r}")
                return
            if stream:
                events = [e for e in data.decode().split("\n\n") if e.startswith("data: ")]
                if events[-1] != "data: [DONE]":
                    results[i] = ("error", f"stream did not end with [DONE]: {events[-1]!r}")
                    return
                usage = json.loads(events[-2][6:])["usage"]
            else:
                usage = json.loads(data)["usage"]
            results[i] = ("ok", busy, usage["completion_tokens"])
            return
        results[i] = ("error", f"still busy after {MAX_ATTEMPTS} attempts")

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, TIME_BOUND_S - (time.time() - t0)))
        if t.is_alive():
            fail(f"a client did not finish within {TIME_BOUND_S} s")
    elapsed = time.time() - t0
    for i, r in enumerate(results):
        if r is None or r[0] != "ok":
            fail(f"client {i}: {r}")
    busy_total = sum(r[1] for r in results)
    tokens_total = sum(r[2] for r in results)

    after = metrics()
    seen_503 = after['snug_http_requests_total{status="503"}'] - before['snug_http_requests_total{status="503"}']
    generated = after["snug_generated_tokens_total"] - before["snug_generated_tokens_total"]
    if seen_503 != busy_total:
        fail(f"/metrics counted {seen_503:.0f} answers 503, the clients saw {busy_total}")
    if generated != tokens_total:
        fail(f"/metrics counted {generated:.0f} generated tokens, the clients' usage adds up to {tokens_total}")
    for gauge in ("snug_requests_running", "snug_requests_waiting", "snug_kv_pages_used", "snug_kv_pages_reserved"):
        if after[gauge] != 0:
            fail(f"after the load {gauge} is {after[gauge]:.0f}")

    # Clients that hang up mid-stream: their pages go back to the pool (not kept for caching): no page is in use by a
    # request, and no more are kept for caching than before (a hung-up request may have taken over a kept prefix).
    cached = metrics()["snug_kv_pages_cached"]
    hangups = 8
    for i in range(hangups):
        body = json.dumps({"prompt": f"Once upon a time {i}", "max_tokens": 200, "stream": True, "temperature": 0})
        s = socket.create_connection((host, port), timeout=30)
        s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        got = b""
        while got.count(b"data: ") < 2:
            chunk = s.recv(4096)
            if not chunk:
                fail("a streamed reply ended before two events")
            got += chunk
        s.close()
    deadline = time.time() + 10
    while True:
        m = metrics()
        if m["snug_kv_pages_used"] == 0 and m["snug_requests_running"] == 0 and m["snug_kv_pages_cached"] <= cached:
            break
        if time.time() > deadline:
            fail(f"10 s after {hangups} clients hung up mid-stream, {m['snug_kv_pages_used']:.0f} KV pages are still "
                 f"used, {m['snug_kv_pages_cached']:.0f} cached (before: {cached:.0f}) and "
                 f"{m['snug_requests_running']:.0f} requests run")
        time.sleep(0.1)

    status, data, _ = request("GET", "/v1/plan")
    plan = json.loads(data)
    with open(f"/proc/{pid}/status") as f:
        hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    bound = plan["total_bytes"] + plan["server"]["bytes"]
    if hwm > bound:
        fail(f"peak RSS {hwm} bytes is above the plan's {plan['total_bytes']} + the server's {plan['server']['bytes']}")
    print(f"load: {clients} clients, {clients} requests completed (200) after {busy_total} answers 503 + Retry-After, "
          f"0 errors, {tokens_total} tokens generated, {elapsed:.1f} s; {hangups} hung-up streams freed their pages; "
          f"peak RSS {hwm / 1048576:.1f} MiB, plan {plan['total_bytes'] / 1048576:.1f} MiB + server bound "
          f"{plan['server']['bytes'] / 1048576:.1f} MiB; pool {plan['kv_pool']['pages_total']} pages, "
          f"{plan['parallel']} sequences", flush=True)


if __name__ == "__main__":
    main()
