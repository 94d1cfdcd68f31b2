#!/usr/bin/env python3
"""cache.py — prompt caching in a running `snug serve` (started with --parallel 2): a conversation's earlier turns
are not computed again, and the reply is the same as when they are.

usage: cache.py BASE_URL API_KEY

  1. B, a second turn (system, user, the assistant's first reply, a new user message), on a fresh server: nothing is
     cached; greedy reply RB.
  2. A, the first turn alone (a prefix of B's prompt): it continues the sequence B left, and at least the shared
     system prompt and first user message come from the cache.
  3. B again: now most of its prompt is cached (usage.prompt_tokens_details.cached_tokens, and /metrics
     snug_prompt_tokens_cached_total agrees), and the reply is RB again, token for token.
Exits 1 on the first broken expectation.
"""
import http.client
import json
import sys
from urllib.parse import urlparse


def fail(message):
    print(f"cache: FAIL {message}", flush=True)
    sys.exit(1)


def main():
    base, key = sys.argv[1], sys.argv[2]
    url = urlparse(base)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def request(method, path, body=None):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if resp.status != 200:
            fail(f"{method} {path}: status {resp.status}: {data[:300]!r}")
        return data

    def chat(messages):
        reply = json.loads(request("POST", "/v1/chat/completions",
                                   {"messages": messages, "max_tokens": 24, "temperature": 0}))
        return reply["choices"][0]["message"]["content"], reply["usage"]

    def cached_total():
        for line in request("GET", "/metrics").decode().splitlines():
            if line.startswith("snug_prompt_tokens_cached_total "):
                return int(float(line.split()[1]))
        fail("/metrics has no snug_prompt_tokens_cached_total")

    system = {"role": "system", "content": "You tell short stories about animals who live in a big green forest."}
    first = [system, {"role": "user", "content": "Tell me a story about a fox."}]
    first_reply = "Once upon a time, a little fox lived in the forest."
    second = first + [{"role": "assistant", "content": first_reply},
                      {"role": "user", "content": "And what did the fox find?"}]

    rb, usage_b = chat(second)
    if usage_b["prompt_tokens_details"]["cached_tokens"] != 0:
        fail(f"a fresh server reported cached tokens: {usage_b}")
    ra, usage_a = chat(first)
    cached_a = usage_a["prompt_tokens_details"]["cached_tokens"]
    if cached_a < 10:
        fail(f"the first turn, a prefix of what the server just computed, reused only {cached_a} tokens: {usage_a}")
    before = cached_total()
    rb_again, usage_b2 = chat(second)
    cached_b = usage_b2["prompt_tokens_details"]["cached_tokens"]
    if cached_b < usage_a["prompt_tokens"] - 1:
        fail(f"the second turn reused {cached_b} tokens; its first turn's prompt alone is {usage_a['prompt_tokens']}")
    if cached_total() - before != cached_b:
        fail(f"/metrics counted {cached_total() - before} cached tokens for a request that reported {cached_b}")
    if usage_b2["prompt_tokens"] != usage_b["prompt_tokens"]:
        fail(f"the same prompt counted {usage_b['prompt_tokens']} and then {usage_b2['prompt_tokens']} tokens")
    if rb_again != rb:
        fail(f"the reply changed when its prefix came from the cache:\n fresh:  {rb!r}\n cached: {rb_again!r}")
    print(f"cache: a second turn of {usage_b['prompt_tokens']} prompt tokens reused {cached_b} from the cache and "
          f"replied exactly as when computed whole; its first turn reused {cached_a} of {usage_a['prompt_tokens']}",
          flush=True)


if __name__ == "__main__":
    main()
