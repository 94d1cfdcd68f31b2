#!/usr/bin/env python3
"""malformed.py — bad HTTP and bad JSON against a running `snug serve`: each gets a 4xx with a message, the server
never crashes or hangs, and it still answers afterwards.

usage: malformed.py BASE_URL API_KEY
Raw sockets, so that what is sent is exactly what the case says. Exits 1 on the first broken expectation.
"""
import json
import socket
import sys
from urllib.parse import urlparse

TIMEOUT_S = 30


def fail(message):
    print(f"malformed: FAIL {message}", flush=True)
    sys.exit(1)


def exchange(host, port, raw, shutdown=False, answer_required=True):
    """Sends raw bytes; returns (status, headers text, body bytes), or (None, …) when the server closed at once or,
    where no answer is required, did not answer within a few seconds (it drops a silent connection after its own
    timeout)."""
    s = socket.create_connection((host, port), timeout=TIMEOUT_S if answer_required else 3)
    try:
        s.sendall(raw)
    except (BrokenPipeError, ConnectionResetError):
        pass
    if shutdown:
        s.shutdown(socket.SHUT_WR)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
    except socket.timeout:
        if answer_required:
            fail(f"no answer within {TIMEOUT_S} s to {raw[:80]!r}")
    except ConnectionResetError:
        pass
    s.close()
    if not data:
        return None, "", b""
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, head.decode(errors="replace"), body


def main():
    base, key = sys.argv[1], sys.argv[2]
    url = urlparse(base)
    host, port = url.hostname, url.port

    def post(path, body, extra=b"", content_type=b"application/json"):
        return (b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
                b"\r\nContent-Type: " + content_type + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" +
                extra + b"\r\n" + body)

    chat = b"/v1/chat/completions"
    comp = b"/v1/completions"
    deep = b"[" * 100000 + b"]" * 100000
    cases = [
        # (name, raw request, expected status, expected error.param or None, JSON error body expected)
        ("not JSON", post(chat, b"hello"), 400, None, True),
        ("empty body", post(chat, b""), 400, None, True),
        ("truncated JSON", post(chat, b'{"messages": [{"role": "user", "content": "hi"'), 400, None, True),
        ("a JSON array", post(chat, b"[1, 2, 3]"), 400, None, True),
        ("messages is a string", post(chat, b'{"messages": "hi"}'), 400, "messages", True),
        ("messages empty", post(chat, b'{"messages": []}'), 400, "messages", True),
        ("content is a number", post(chat, b'{"messages": [{"role": "user", "content": 5}]}'), 400, "messages", True),
        ("unknown role", post(chat, b'{"messages": [{"role": "tool", "content": "x"}]}'), 400, "messages", True),
        ("max_tokens is a string", post(comp, b'{"prompt": "a", "max_tokens": "10"}'), 400, "max_tokens", True),
        ("max_tokens negative", post(comp, b'{"prompt": "a", "max_tokens": -1}'), 400, "max_tokens", True),
        ("max_tokens huge", post(comp, b'{"prompt": "a", "max_tokens": 99999999999999999999999}'), 400, None, True),
        ("temperature huge", post(comp, b'{"prompt": "a", "temperature": 1e308}'), 400, "temperature", True),
        ("temperature overflow", post(comp, b'{"prompt": "a", "temperature": 1e999}'), 400, None, True),
        ("temperature is true", post(comp, b'{"prompt": "a", "temperature": true}'), 400, "temperature", True),
        ("top_p NaN-like", post(comp, b'{"prompt": "a", "top_p": NaN}'), 400, None, True),
        ("seed too large", post(comp, b'{"prompt": "a", "seed": 18446744073709551616}'), 400, None, True),
        ("deep nesting", post(comp, deep), 400, None, True),
        ("deep nesting in a field", post(comp, b'{"prompt": "a", "stop": ' + b"[" * 5000 + b"]" * 5000 + b"}"), 400,
         None, True),
        ("invalid UTF-8", post(comp, b'{"prompt": "\xff\xfe bad"}'), 400, None, True),
        ("NUL escape", post(comp, b'{"prompt": "a\\u0000b"}'), 400, None, True),
        ("duplicate key", post(comp, b'{"prompt": "a", "prompt": "b"}'), 400, None, True),
        ("unknown field", post(comp, b'{"prompt": "a", "tools": []}'), 400, "tools", True),
        ("n = 2", post(comp, b'{"prompt": "a", "n": 2}'), 400, "n", True),
        ("too many stops", post(comp, b'{"prompt": "a", "stop": ["a","b","c","d","e"]}'), 400, "stop", True),
        ("empty stop", post(comp, b'{"prompt": "a", "stop": [""]}'), 400, "stop", True),
        ("stream_options without stream", post(comp, b'{"prompt": "a", "stream_options": {"include_usage": true}}'),
         400, "stream_options", True),
        ("presence_penalty", post(comp, b'{"prompt": "a", "presence_penalty": 0.5}'), 400, "presence_penalty", True),
        ("logprobs", post(chat, b'{"messages": [{"role": "user", "content": "hi"}], "logprobs": true}'), 400,
         "logprobs", True),
        ("context_length_exceeded", post(comp, json.dumps({"prompt": "hello " * 20000}).encode()), 400, "prompt", True),
        ("oversized body", post(comp, b'{"prompt": "' + b"a" * (2 << 20) + b'"}'), 413, None, True),
        ("no API key", b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n", 401, None, True),
        ("wrong method", b"DELETE /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
         b"\r\n\r\n", 405, None, True),
        ("unknown path", b"GET /v1/nothing HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key.encode() +
         b"\r\n\r\n", 404, None, True),
        ("GET on a POST endpoint", b"GET /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
         key.encode() + b"\r\n\r\n", 405, None, True),
        ("huge header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n", None, None,
         False),
        ("garbage request line", b"\x00\x01\x02 nonsense\r\n\r\n", None, None, False),
    ]
    for name, raw, want_status, want_param, json_body in cases:
        status, head, body = exchange(host, port, raw, answer_required=want_status is not None)
        if want_status is None:
            if status is not None and not 400 <= status < 500:
                fail(f"{name}: status {status}, expected a 4xx or a closed connection")
            continue
        if status != want_status:
            fail(f"{name}: status {status}, expected {want_status}: {body[:300]!r}")
        if json_body:
            try:
                err = json.loads(body)["error"]
            except (ValueError, KeyError, TypeError):
                fail(f"{name}: the body is not an OpenAI error object: {body[:300]!r}")
            if not err.get("message"):
                fail(f"{name}: the error has no message: {err}")
            if want_param is not None and err.get("param") != want_param:
                fail(f"{name}: error.param is {err.get('param')!r}, expected {want_param!r}: {err}")
            if name == "context_length_exceeded" and err.get("code") != "context_length_exceeded":
                fail(f"{name}: code is {err.get('code')!r}: {err}")
        if want_status == 401 and "www-authenticate" not in head.lower():
            fail(f"{name}: 401 without WWW-Authenticate")

    # A body that never arrives: the client says 100 bytes, sends 10 and closes its side. The server must not wait
    # forever or crash: it closes (or answers 4xx).
    status, _, _ = exchange(host, port, post(comp, b"x" * 100)[:-90], shutdown=True)
    if status is not None and not 400 <= status < 500:
        fail(f"truncated body: status {status}")

    status, _, body = exchange(host, port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    if status != 200:
        fail(f"after the malformed requests /health answers {status}: {body!r}")
    print(f"malformed: {len(cases) + 1} malformed requests, each a 4xx with a message (or a closed connection "
          f"where HTTP allows no answer); the server still answers", flush=True)


if __name__ == "__main__":
    main()
