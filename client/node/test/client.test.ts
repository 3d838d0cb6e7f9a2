// The Node client at its edges, and the node:test helpers, against the run's gateway:
// ISMSCODE_HARNESS_ADDR (with ISMSCODE_MOCK_URL) or one that useHarness() starts.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import * as path from "node:path";
import { test } from "node:test";
import { inspect } from "node:util";
import { Metadata } from "@grpc/grpc-js";
import * as protobuf from "protobufjs";
import {
  CancelledError,
  Client,
  CodeWaitTimeoutError,
  GatewayUnavailableError,
  HarnessError,
  InvalidArgumentError,
  InvalidServiceError,
  NoNumbersAvailableError,
  NumberNotFoundError,
  RateLimitExceededError,
  UpstreamTimeoutError,
  createMockAccount,
  errorClass,
  fromCallFailure,
  newRequestId,
  type Heartbeat,
} from "ismscode-harness";
import { useHarness } from "ismscode-harness/node-test";

const harness = useHarness();
const NEVER = String.raw`never (\d{12})`; // a pattern no SMS matches: the wait goes on

async function portNobodyListensOn(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function addFault(mockUrl: string, fault: object): Promise<void> {
  const r = await fetch(`${mockUrl}/_mock/v1/faults`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(fault),
  });
  assert.equal(r.status, 201, await r.text());
}

test("an unreachable gateway names the address it tried", async () => {
  const address = `127.0.0.1:${await portNobodyListensOn()}`;
  await assert.rejects(Client.connect({ address, connectTimeoutMs: 300, useEnvironment: false }),
    (e: unknown) => e instanceof GatewayUnavailableError && e.message.includes(address) &&
                    e.message.includes("ISMSCODE_HARNESS_ADDR") && e.reason === "GATEWAY_UNAVAILABLE");
  const lazy = new Client({ address, useEnvironment: false });
  await assert.rejects(lazy.listCountries(),
    (e: unknown) => e instanceof GatewayUnavailableError && e.message.includes(address));
  lazy.close();
});

test("bad input at the edge is an InvalidArgumentError naming the request's field", async () => {
  const client = new Client({ address: "127.0.0.1:1", useEnvironment: false });
  const cases: [() => unknown, string][] = [
    [() => client.acquire("US", "whatsapp", { maxWaitMs: -1 }), "max_wait"],
    [() => client.acquire("US", "whatsapp", { maxWaitMs: Number.NaN }), "max_wait"],
    [() => client.acquire(7 as unknown as string, "whatsapp"), "country"],
    [() => client.acquire("US", "whatsapp", { fallbackCountries: "CA" as unknown as string[] }),
     "fallback_countries"],
    [() => client.stream("num_1", { timeoutMs: -5 }), "timeout"],
    [() => client.stream("num_1", { minCodeLength: 2.5 }), "min_code_length"],
    [() => client.stream("num_1", { receivedAfter: new Date("not a date") }), "received_after"],
    [() => client.stream("num_1", { smsSentAt: "yesterday" as unknown as Date }), "sms_sent_at"],
  ];
  for (const [call, field] of cases) {
    await assert.rejects(async () => call(), (e: unknown) =>
      e instanceof InvalidArgumentError && e.code === 3 && e.badFields[0]?.field === field);
  }
  assert.throws(() => new Client({ tlsCaFile: "/nonexistent/ca.pem", useEnvironment: false }),
    (e: unknown) => e instanceof InvalidArgumentError && e.message.includes("/nonexistent/ca.pem"));
  client.close();
});

test("the address comes from the environment unless given", () => {
  const saved = process.env.ISMSCODE_HARNESS_ADDR;
  process.env.ISMSCODE_HARNESS_ADDR = "127.0.0.1:1";
  try {
    const fromEnv = new Client();
    const given = new Client({ address: "127.0.0.1:2" });
    const ignoring = new Client({ useEnvironment: false });
    assert.equal(fromEnv.address, "127.0.0.1:1");
    assert.equal(given.address, "127.0.0.1:2");
    assert.equal(ignoring.address, "127.0.0.1:50051");
    for (const c of [fromEnv, given, ignoring]) c.close();
  } finally {
    if (saved === undefined) delete process.env.ISMSCODE_HARNESS_ADDR;
    else process.env.ISMSCODE_HARNESS_ADDR = saved;
  }
});

test("request ids are fresh", () => {
  const ids = new Set(Array.from({ length: 1000 }, newRequestId));
  assert.equal(ids.size, 1000);
  for (const id of ids) assert.match(id, /^req-[0-9a-f]{32}$/);
});

test("every reason has its class", () => {
  for (const reason of ["INVALID_ARGUMENT", "NO_NUMBERS_AVAILABLE", "UPSTREAM_TIMEOUT",
                        "CALLER_KEY_NOT_ALLOWED", "GATEWAY_UNAVAILABLE", "CANCELLED"]) {
    const cls = errorClass(reason);
    assert.notEqual(cls, HarnessError);
    assert.equal(cls.reason, reason);
    assert.ok(new cls("x") instanceof HarnessError);
  }
  assert.equal(errorClass("SOMETHING_NEW"), HarnessError);
});

test("lists, a number and its code", async (t) => {
  const { client } = await harness.forTest(t);
  const countries = await client.listCountries();
  assert.ok(countries.some((c) => c.code === "US" && c.dialPrefix === "+1"));
  assert.ok((await client.listServices()).includes("whatsapp"));
  const number = await client.acquire("US", "whatsapp");
  assert.match(number.phone, /^\+1\d{10}$/);
  assert.match(number.requestId, /^req-/);
  assert.ok(number.expiresAt.getTime() > Date.now());
  const beats: Heartbeat[] = [];
  const code = await client.awaitCode(number.id, { timeoutMs: 60_000, onHeartbeat: (h) => beats.push(h) });
  assert.match(code.code, /^[0-9A-Za-z]{4,8}$/);
  assert.ok(code.sms.text.includes(code.rawMatch));
  assert.ok(code.sms.receivedAt instanceof Date);
});

test("a generated request id replays the purchase", async (t) => {
  const { client } = await harness.forTest(t);
  const first = await client.acquire("US", "telegram");
  const again = await client.acquire("US", "telegram", { requestId: first.requestId });
  assert.deepEqual([again.replayed, again.id, again.attempts], [true, first.id, 0]);
});

test("gateway errors are typed, with metadata and retry delay", async (t) => {
  const h = await harness.forTest(t);
  await assert.rejects(h.client.acquire("US", "no-such-service"), InvalidServiceError);
  await assert.rejects(h.client.acquire("", "whatsapp"), (e: unknown) =>
    e instanceof InvalidArgumentError && e.badFields.map((f) => f.field).join() === "country");
  await assert.rejects(h.client.awaitCode("num_nope"), (e: unknown) =>
    e instanceof NumberNotFoundError && e.codeName === "NOT_FOUND");
  if (!h.mockUrl) return t.skip("no mock behind this gateway");
  await addFault(h.mockUrl, { kind: "no_numbers_available", key: h.account, count: 1 });
  await assert.rejects(h.client.acquire("US", "whatsapp"), (e: unknown) =>
    e instanceof NoNumbersAvailableError && e.metadata.country === "US" &&
    e.metadata.service === "whatsapp" && e.codeName === "RESOURCE_EXHAUSTED");
  await addFault(h.mockUrl, { kind: "rate_limit_exceeded", endpoint: "numbers.request",
                              key: h.account, count: 1, retry_after_seconds: 2 });
  await assert.rejects(h.client.acquire("US", "whatsapp"), (e: unknown) =>
    e instanceof RateLimitExceededError && e.retryDelayMs !== undefined && e.retryDelayMs > 0);
});

test("a timeout carries the last heartbeat", async (t) => {
  const { client } = await harness.forTest(t);
  const number = await client.acquire("US", "whatsapp");
  const beats: Heartbeat[] = [];
  await assert.rejects(
    client.awaitCode(number.id, { timeoutMs: 600, codePattern: NEVER, onHeartbeat: (b) => beats.push(b) }),
    (e: unknown) => e instanceof CodeWaitTimeoutError && e.lastHeartbeat !== undefined &&
                    e.message.includes("CODE_WAIT_TIMEOUT (DEADLINE_EXCEEDED)") &&
                    e.message.includes("last heartbeat"));
  assert.ok(beats.length > 0 && beats[0].type === "heartbeat");
});

test("the stream is an async iterator; cancel() and leaving the loop end it", async (t) => {
  const { client } = await harness.forTest(t);
  const number = await client.acquire("US", "whatsapp");
  const stream = client.stream(number.id, { timeoutMs: 60_000, codePattern: NEVER });
  await assert.rejects(async () => {
    for await (const event of stream) {
      assert.equal(event.type, "heartbeat");
      stream.cancel();
    }
  }, (e: unknown) => e instanceof CancelledError && e.lastHeartbeat !== undefined);
  // break: the stream ends quietly, and the number can be awaited again.
  for await (const event of client.stream(number.id, { timeoutMs: 60_000, codePattern: NEVER })) {
    assert.equal(event.type, "heartbeat");
    break;
  }
  const code = await client.awaitCode(number.id, { timeoutMs: 60_000 });
  assert.ok(code.code.length >= 4);
});

test("an AbortSignal cancels a wait and a purchase", async (t) => {
  const { client } = await harness.forTest(t);
  const number = await client.acquire("US", "whatsapp");
  const controller = new AbortController();
  await assert.rejects(
    client.awaitCode(number.id, { timeoutMs: 60_000, codePattern: NEVER,
                                  signal: controller.signal, onHeartbeat: () => controller.abort() }),
    (e: unknown) => e instanceof CancelledError && e.code === 1 && e.lastHeartbeat !== undefined);
  const aborted = AbortSignal.abort();
  await assert.rejects(client.acquire("US", "whatsapp", { signal: aborted }), CancelledError);
  await assert.rejects(client.awaitCode(number.id, { signal: aborted }), CancelledError);
  await assert.rejects(client.listServices({ signal: aborted }), CancelledError);
});

test("each test has its own mock account", async (t) => {
  const h = await harness.forTest(t);
  if (!h.mockUrl) return t.skip("no mock behind this gateway");
  assert.match(h.account ?? "", /^node-[0-9a-f]{12}$/);
  assert.notEqual(h.account, await createMockAccount(h.mockUrl));
  assert.equal(await harness.forTest(t), h); // one per test
});

test("a failing helper names the call and the reason, and keeps the typed error", async (t) => {
  const h = await harness.forTest(t);
  await assert.rejects(h.acquire("US", "no-such-service"), (e: unknown) =>
    e instanceof Error && e.message.startsWith("acquire(US, no-such-service) failed: INVALID_SERVICE") &&
    e.cause instanceof InvalidServiceError);
  const number = await h.acquire("US", "whatsapp");
  await assert.rejects(h.awaitCode(number, { timeoutMs: 500, codePattern: NEVER }), (e: unknown) =>
    e instanceof Error && e.message.includes(`awaitCode(${number.phone}) failed: CODE_WAIT_TIMEOUT`) &&
    e.message.includes("last heartbeat"));
});

test("close() ends the waits still running, and later calls reject", async (t) => {
  const h = await harness.forTest(t);
  const client = new Client({ address: h.client.address, callerKey: h.account,
                              useEnvironment: !harness.session.startedHere });
  const number = await client.acquire("US", "whatsapp");
  const wait = client.awaitCode(number.id, { timeoutMs: 60_000, codePattern: NEVER,
                                             onHeartbeat: () => client.close() });
  await assert.rejects(wait, CancelledError);
  await assert.rejects(client.listServices(), (e: unknown) =>
    e instanceof CancelledError && e.message.includes("the client is closed"));
});

test("secrets never reach an error message or util.inspect", async () => {
  for (const options of [{ token: "s3cret-token\r\n" }, { callerKey: "s3cret-kéy" }]) {
    assert.throws(() => new Client({ ...options, useEnvironment: false }), (e: unknown) =>
      e instanceof InvalidArgumentError && !e.message.includes("s3cret"));
  }
  const client = new Client({ address: "127.0.0.1:1", token: "s3cret-token", callerKey: "s3cret-key",
                              useEnvironment: false });
  assert.doesNotMatch(inspect(client, { depth: 10, showHidden: true }), /s3cret/);
  client.close();
});

test("a signal that is no AbortSignal and a date out of range are invalid arguments", async () => {
  const client = new Client({ address: "127.0.0.1:1", useEnvironment: false });
  const notASignal = {} as AbortSignal;
  await assert.rejects(client.acquire("US", "whatsapp", { signal: notASignal }), InvalidArgumentError);
  assert.throws(() => client.stream("num_1", { signal: notASignal }), InvalidArgumentError);
  assert.throws(() => client.stream("num_1", { receivedAfter: new Date(8.64e15) }), (e: unknown) =>
    e instanceof InvalidArgumentError && e.badFields[0].field === "received_after");
  client.close();
});

test("one unreadable error detail does not hide the others", () => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(__dirname, "..", "proto", target);
  root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], { keepCase: true });
  const info = root.lookupType("google.rpc.ErrorInfo").encode({
    reason: "NO_NUMBERS_AVAILABLE", domain: "ismscode.harness", metadata: { country: "US" } }).finish();
  const status = root.lookupType("google.rpc.Status").encode({ code: 8, message: "out", details: [
    { type_url: "type.googleapis.com/google.rpc.BadRequest", value: Buffer.from([0xff, 0xff, 0xff]) },
    { type_url: "type.googleapis.com/google.rpc.ErrorInfo", value: info },
  ] }).finish();
  const metadata = new Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(status));
  const e = fromCallFailure({ code: 8, details: "out", metadata }, "127.0.0.1:1");
  assert.ok(e instanceof NoNumbersAvailableError);
  assert.deepEqual(e.metadata, { country: "US" });
});

test("an upstream timeout carries the request id to repeat with", async (t) => {
  const h = await harness.forTest(t);
  if (!h.mockUrl) return t.skip("no mock behind this gateway");
  await addFault(h.mockUrl, { kind: "reset", endpoint: "numbers.request", key: h.account,
                              count: 1, phase: "after" });
  const lost = await h.client.acquire("US", "whatsapp").then(() => undefined, (e: unknown) => e);
  assert.ok(lost instanceof UpstreamTimeoutError, String(lost));
  assert.match(lost.requestId ?? "", /^req-/);
  // The repeat never buys again: the outcome stays unknown.
  await assert.rejects(h.client.acquire("US", "whatsapp", { requestId: lost.requestId }),
                       UpstreamTimeoutError);
});
