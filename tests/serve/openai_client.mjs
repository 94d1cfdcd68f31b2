// openai_client.mjs — drives a running `snug serve` with the official openai npm client (tests/serve/package.json).
//
//   node tests/serve/openai_client.mjs BASE_URL API_KEY      (BASE_URL like http://127.0.0.1:PORT/v1)
//
// Runs the checks below in order and prints one line each, "ok NAME" or "FAIL NAME: details"; exits 1 if any failed,
// 0 otherwise. tests/test_serve_openai.c starts the server (with the demo model) and runs this script.
//
// The client is used the way applications use it; where it is lenient (it ignores a missing `data: [DONE]` and does
// not look at a stream's Content-Type), the last check reads one stream raw.
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
if (!baseURL || !apiKey) {
    console.error("usage: node openai_client.mjs BASE_URL API_KEY");
    process.exit(2);
}

// maxRetries 0: a failing request fails the check at once instead of being retried with back-off.
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });

let failed = 0;
const results = {}; // what later checks compare against: results.a is check a's response, …

class CheckFailure extends Error {}
function expect(condition, details) {
    if (!condition) throw new CheckFailure(typeof details === "function" ? details() : details);
}
// A short JSON rendering of a value for failure messages.
function show(value, max = 600) {
    let text;
    try {
        text = JSON.stringify(value);
    } catch {
        text = String(value);
    }
    if (text === undefined) text = String(value);
    return text.length > max ? text.slice(0, max) + "…" : text;
}
function describeError(e) {
    if (e instanceof OpenAI.APIError) {
        return `${e.constructor.name} status=${e.status} type=${show(e.type)} param=${show(e.param)} code=${show(e.code)}: ${e.message}`;
    }
    return e && e.stack ? e.stack : String(e);
}
function needs(...names) {
    for (const name of names) expect(results[name] !== undefined, `depends on check ${name}, which failed`);
}

async function check(name, body) {
    try {
        results[name.split(" ")[0]] = await body();
        console.log(`ok ${name}`);
    } catch (e) {
        failed++;
        console.log(`FAIL ${name}: ${e instanceof CheckFailure ? e.message : describeError(e)}`);
    }
}

// Runs `call`, which must reject with an APIError of class `cls` and `status`; returns the error.
async function expectApiError(call, cls, status) {
    let response;
    try {
        response = await call();
    } catch (e) {
        expect(e instanceof OpenAI.APIError, () => `rejected with a non-APIError: ${describeError(e)}`);
        expect(e instanceof cls, () => `expected ${cls.name}, got ${describeError(e)}`);
        expect(e.status === status, () => `expected status ${status}, got ${describeError(e)}`);
        return e;
    }
    throw new CheckFailure(`expected ${cls.name} (${status}), but the call succeeded: ${show(response)}`);
}

function checkUsage(usage, maxCompletion) {
    expect(usage && typeof usage === "object", () => `no usage: ${show(usage)}`);
    const { prompt_tokens: p, completion_tokens: c, total_tokens: t } = usage;
    expect(Number.isInteger(p) && p > 0, () => `usage.prompt_tokens should be > 0: ${show(usage)}`);
    expect(Number.isInteger(c) && c >= 1 && c <= maxCompletion,
        () => `usage.completion_tokens should be in 1..${maxCompletion}: ${show(usage)}`);
    expect(t === p + c, () => `usage.total_tokens should be prompt + completion: ${show(usage)}`);
}

const STORY = [
    { role: "system", content: "You tell short stories." },
    { role: "user", content: "Tell me a story" },
];
const chatRequest = { model: "demo", messages: STORY, max_tokens: 16, temperature: 0 };
const completionRequest = { model: "demo", prompt: "Once upon a time", max_tokens: 12, temperature: 0 };

function checkChatCompletion(r) {
    expect(r && typeof r === "object", () => `response is not a JSON object (is Content-Type application/json?): ${show(r)}`);
    expect(r.object === "chat.completion", () => `object should be "chat.completion": ${show(r)}`);
    expect(Array.isArray(r.choices) && r.choices.length === 1, () => `expected one choice: ${show(r)}`);
    const choice = r.choices[0];
    expect(choice.message && choice.message.role === "assistant", () => `message.role should be "assistant": ${show(r)}`);
    expect(typeof choice.message.content === "string" && choice.message.content.length > 0,
        () => `message.content should be a non-empty string: ${show(r)}`);
    expect(choice.finish_reason === "length" || choice.finish_reason === "stop",
        () => `finish_reason should be "length" or "stop": ${show(r)}`);
    checkUsage(r.usage, 16);
    return r;
}

// a. chat, not streamed
await check("a chat non-streamed", async () => checkChatCompletion(await client.chat.completions.create(chatRequest)));

// b. greedy decoding is deterministic
await check("b chat repeat is identical", async () => {
    needs("a");
    const r = checkChatCompletion(await client.chat.completions.create(chatRequest));
    const want = results.a.choices[0].message.content, got = r.choices[0].message.content;
    expect(got === want, () => `content differs: first ${show(want)}, then ${show(got)}`);
    return r;
});

// c. chat, streamed, with the usage chunk
await check("c chat streamed", async () => {
    needs("a");
    const stream = await client.chat.completions.create({
        ...chatRequest,
        stream: true,
        stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length > 0, "the stream had no chunks");
    for (const chunk of chunks) {
        expect(chunk.object === "chat.completion.chunk", () => `chunk object should be "chat.completion.chunk": ${show(chunk)}`);
        expect(Array.isArray(chunk.choices), () => `chunk without a choices array: ${show(chunk)}`);
    }
    const content = chunks.map((c) => c.choices.map((ch) => (ch.delta && ch.delta.content) || "").join("")).join("");
    const want = results.a.choices[0].message.content;
    expect(content === want, () => `streamed content ${show(content)} differs from the non-streamed ${show(want)}`);
    const finishing = chunks.filter((c) => c.choices.some((ch) => ch.finish_reason != null));
    expect(finishing.length === 1, () => `expected exactly one chunk with a finish_reason, got ${finishing.length}: ${show(finishing)}`);
    expect(finishing[0].choices[0].finish_reason === results.a.choices[0].finish_reason,
        () => `streamed finish_reason ${show(finishing[0].choices[0].finish_reason)} differs from the non-streamed ${show(results.a.choices[0].finish_reason)}`);
    const last = chunks[chunks.length - 1];
    expect(last.choices.length === 0, () => `the last chunk (usage) should have "choices": []: ${show(last)}`);
    expect(last.usage && ["prompt_tokens", "completion_tokens", "total_tokens"].every((k) => last.usage[k] === results.a.usage[k]),
        () => `last chunk usage ${show(last.usage)} differs from the non-streamed ${show(results.a.usage)}`);
    return chunks;
});

function checkTextCompletion(r, maxTokens) {
    expect(r && typeof r === "object", () => `response is not a JSON object (is Content-Type application/json?): ${show(r)}`);
    expect(r.object === "text_completion", () => `object should be "text_completion": ${show(r)}`);
    expect(Array.isArray(r.choices) && r.choices.length === 1, () => `expected one choice: ${show(r)}`);
    expect(typeof r.choices[0].text === "string", () => `choices[0].text should be a string: ${show(r)}`);
    checkUsage(r.usage, maxTokens);
    return r;
}

// d. completions, not streamed
await check("d completions non-streamed", async () => {
    const r = checkTextCompletion(await client.completions.create(completionRequest), 12);
    expect(r.choices[0].text.length > 0, () => `choices[0].text should not be empty: ${show(r)}`);
    return r;
});

// e. completions, streamed
await check("e completions streamed", async () => {
    needs("d");
    const stream = await client.completions.create({ ...completionRequest, stream: true });
    let text = "";
    let chunks = 0;
    for await (const chunk of stream) {
        chunks++;
        expect(chunk.object === "text_completion", () => `chunk object should be "text_completion": ${show(chunk)}`);
        expect(Array.isArray(chunk.choices), () => `chunk without a choices array: ${show(chunk)}`);
        if (chunk.choices.length > 0) text += chunk.choices[0].text ?? "";
    }
    expect(chunks > 0, "the stream had no chunks");
    const want = results.d.choices[0].text;
    expect(text === want, () => `streamed text ${show(text)} differs from the non-streamed ${show(want)}`);
    return text;
});

// f. a stop string: (d)'s text cut before the stop string's first occurrence
await check("f completions stop string", async () => {
    needs("d");
    const full = results.d.choices[0].text;
    const chars = [...full]; // code points, so a stop string never splits a character
    // The characters at positions 3..5 (fewer at the end of a short text; at least 2).
    const stop = chars.slice(3, 6).join("");
    expect([...stop].length >= 2, () => `(d)'s text ${show(full)} is too short to pick a stop string after position 3`);
    const want = full.slice(0, full.indexOf(stop));
    const r = checkTextCompletion(await client.completions.create({ ...completionRequest, stop: [stop] }), 12);
    const got = r.choices[0].text;
    expect(got === want, () => `with stop ${show(stop)} the text should be ${show(want)} (from ${show(full)}), got ${show(got)}`);
    expect(r.choices[0].finish_reason === "stop", () => `finish_reason should be "stop": ${show(r)}`);
    return r;
});

// g. a bad field: n = 2 is refused with param "n"
await check("g n=2 is a 400 naming param n", async () => {
    const e = await expectApiError(() => client.chat.completions.create({ ...chatRequest, n: 2 }), OpenAI.BadRequestError, 400);
    expect(e.param === "n", () => `error param should be "n": ${describeError(e)} body=${show(e.error)}`);
    expect(e.type === "invalid_request_error", () => `error type should be "invalid_request_error": ${describeError(e)}`);
    return e;
});

// h. a prompt longer than the context
await check("h prompt longer than the context", async () => {
    const long = "hello ".repeat(6667); // ~40,000 characters
    const e = await expectApiError(() => client.chat.completions.create({
        ...chatRequest,
        messages: [{ role: "user", content: long }],
    }), OpenAI.BadRequestError, 400);
    expect(e.code === "context_length_exceeded", () => `error code should be "context_length_exceeded": ${describeError(e)}`);
    return e;
});

// i. a wrong API key
await check("i wrong API key is a 401", async () => {
    const wrong = new OpenAI({ baseURL, apiKey: "wrong-key", maxRetries: 0, timeout: 60_000 });
    const e = await expectApiError(() => wrong.models.list(), OpenAI.AuthenticationError, 401);
    expect(e.code === "invalid_api_key", () => `error code should be "invalid_api_key": ${describeError(e)}`);
    return e;
});

// j. the model list
await check("j models.list", async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models.length >= 1, "no models listed");
    for (const m of models) {
        expect(typeof m.id === "string" && m.id.length > 0, () => `model without a string id: ${show(m)}`);
        expect(m.object === "model", () => `model object should be "model": ${show(m)}`);
    }
    return models;
});

// k. sampling with a seed is reproducible
await check("k seeded sampling is reproducible", async () => {
    const request = { ...completionRequest, temperature: 0.8, seed: 7 };
    const first = checkTextCompletion(await client.completions.create(request), 12);
    const second = checkTextCompletion(await client.completions.create(request), 12);
    const a = first.choices[0].text, b = second.choices[0].text;
    expect(a === b, () => `seed 7 gave ${show(a)}, then ${show(b)}`);
    return a;
});

// l. the stream's framing, read raw (the client accepts a stream without `data: [DONE]` and any Content-Type):
//    `data: {json}` events separated by blank lines, the last one `data: [DONE]`.
await check("l raw stream framing", async () => {
    const response = await fetch(`${baseURL.replace(/\/+$/, "")}/chat/completions`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${apiKey}` },
        body: JSON.stringify({ ...chatRequest, stream: true }),
    });
    const body = await response.text();
    expect(response.status === 200, () => `status ${response.status}: ${show(body)}`);
    const type = response.headers.get("content-type") || "";
    expect(type.split(";")[0].trim() === "text/event-stream", () => `Content-Type should be text/event-stream, got ${show(type)}`);
    expect(body.endsWith("\n\n"), () => `the stream should end with a blank line: ${show(body.slice(-80))}`);
    const events = body.replace(/\r\n/g, "\n").split("\n\n").slice(0, -1);
    expect(events.length >= 2, () => `expected at least one chunk and [DONE]: ${show(body)}`);
    for (const [i, event] of events.entries()) {
        expect(event.startsWith("data: ") && !event.includes("\n"), () => `event ${i} is not one "data: " line: ${show(event)}`);
        const data = event.slice(6);
        if (i === events.length - 1) {
            expect(data === "[DONE]", () => `the last event should be "data: [DONE]", got ${show(event)}`);
        } else {
            let parsed;
            try {
                parsed = JSON.parse(data);
            } catch (e) {
                throw new CheckFailure(`event ${i} is not JSON: ${show(event)}`);
            }
            expect(parsed.object === "chat.completion.chunk", () => `event ${i}: ${show(parsed)}`);
        }
    }
    return events.length;
});

process.exit(failed > 0 ? 1 : 0);
