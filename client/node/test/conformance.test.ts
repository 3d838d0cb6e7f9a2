// Every case under tests/conformance/cases, through the Node client's public API, against
// the launcher's mock and gateways. The reference runner is the C++ one
// (tests/conformance/cpp/conformance_test.cc); the format is tests/conformance/README.md.
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { createInterface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { Client, HarnessError, type Code, type PhoneNumber } from "ismscode-harness";

// build-test/ -> client/node -> client -> the checkout
const CONFORMANCE = path.resolve(__dirname, "..", "..", "..", "tests", "conformance");
const CASES = readdirSync(path.join(CONFORMANCE, "cases")).filter((f) => f.endsWith(".json")).sort();
const STEP_KINDS = ["list_countries", "list_services", "acquire", "await", "mock"];
const STEP_FIELDS = new Set([...STEP_KINDS, "during", "client", "save", "expect"]);
const START_TIMEOUT_MS = 60_000;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Launched {
  grpc: string;
  token: string;
  grpc_no_caller_keys: string;
  grpc_drain: string;
  grpc_state_down: string;
  mock: string;
  gateway_key: string;
}

let launcher: ChildProcessByStdio<Writable, Readable, null>;
let harness: Launched;

before(async () => {
  const args = ["--frozen-clock"];
  if (process.env.ISMSCODE_BIN_DIR) args.push("--bin-dir", process.env.ISMSCODE_BIN_DIR);
  launcher = spawn(path.join(CONFORMANCE, "harness"), args, { stdio: ["pipe", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve) => {
    const timer = setTimeout(() => resolve(""), START_TIMEOUT_MS);
    createInterface({ input: launcher.stdout }).once("line", (l) => {
      clearTimeout(timer);
      resolve(l);
    });
    launcher.once("exit", () => resolve(""));
  });
  try {
    harness = JSON.parse(line);
  } catch {
    launcher.stdin.end();
    throw new Error(`the launcher did not start within ${START_TIMEOUT_MS / 1000} s: ${line}`);
  }
});

after(async () => {
  if (!launcher) return;
  const exited = new Promise((resolve) => launcher.once("exit", resolve));
  launcher.stdin.end(); // stops the mock and gateways
  if (launcher.exitCode === null) await exited;
});

class Vars {
  values: { [name: string]: Json } = {};

  lookup(ref: string): Json {
    const [name, ...parts] = ref.split(".");
    assert.ok(name in this.values, `unknown variable \${${ref}}`);
    let value: Json = this.values[name];
    for (const part of parts) {
      value = Array.isArray(value) ? value[Number(part)] : (value as JsonObject)[part];
    }
    return value;
  }

  sub(value: Json): Json {
    if (Array.isArray(value)) return value.map((v) => this.sub(v));
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.sub(v)]));
    }
    if (typeof value !== "string") return value;
    const refs = [...value.matchAll(/\$\{([^}]*)\}/g)];
    assert.equal(value.split("${").length - 1, refs.length, `unterminated \${ in ${value}`);
    const whole = /^\$\{([^}]*)\}$/.exec(value);
    if (whole) return this.lookup(whole[1]); // keeps the value's type
    return value.replace(/\$\{([^}]*)\}/g, (_, ref: string) => {
      const v = this.lookup(ref);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
}

// As strict as the C++ runner (nlohmann): true is not 1, "1" is not 1.
function expectSubset(expected: Json, actual: Json | undefined, where: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual) && actual.length === expected.length,
              `${where}: expected ${expected.length} elements, got ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => expectSubset(e, (actual as Json[])[i], `${where}[${i}]`));
  } else if (expected !== null && typeof expected === "object") {
    assert.ok(actual !== null && typeof actual === "object" && !Array.isArray(actual),
              `${where}: expected an object, got ${JSON.stringify(actual)}`);
    for (const [k, v] of Object.entries(expected)) {
      assert.ok(k in actual, `${where}.${k}: missing in ${JSON.stringify(actual)}`);
      expectSubset(v, actual[k], `${where}.${k}`);
    }
  } else {
    assert.strictEqual(actual, expected, `${where}: expected ${JSON.stringify(expected)}, ` +
                       `got ${JSON.stringify(actual)}`);
  }
}

function rfc3339(t: Date): string {
  return t.toISOString(); // milliseconds and Z, as the other runners write it
}

function numberJson(n: PhoneNumber): JsonObject {
  return { id: n.id, phone: n.phone, country: n.country, service: n.service,
           expires_at: rfc3339(n.expiresAt), attempts: n.attempts, replayed: n.replayed,
           request_id: n.requestId };
}

function codeJson(c: Code): JsonObject {
  return { code: c.code, raw_match: c.rawMatch, from: c.sms.from, text: c.sms.text,
           received_at: rfc3339(c.sms.receivedAt) };
}

function errorJson(e: HarnessError): JsonObject {
  return { grpc_code: e.codeName, reason: e.reason, message: e.detail,
           retry_info: e.retryDelayMs !== undefined, bad_fields: e.badFields.map((f) => f.field),
           metadata: e.metadata };
}

class CaseRunner {
  private readonly key: string;
  private readonly vars = new Vars();
  private heartbeats = 0;

  constructor(private readonly testCase: JsonObject) {
    this.key = `case-${testCase.name}-${randomBytes(4).toString("hex")}`;
    Object.assign(this.vars.values, { key: this.key, run: this.key.slice(5),
                                      gateway_key: harness.gateway_key });
  }

  async mock(raw: Json, where: string): Promise<Json> {
    const call = this.vars.sub(raw) as JsonObject;
    const method = (call.method as string) ?? "POST";
    let body: string | undefined; // GET and DELETE carry no body, as in the C++ runner
    if (["POST", "PUT", "PATCH"].includes(method)) {
      body = "body" in call ? JSON.stringify(call.body) : "";
    }
    const response = await fetch(`${harness.mock}/_mock/v1/${call.path}`, {
      method, body, headers: { "Content-Type": "application/json" },
      signal: AbortSignal.timeout(30_000),
    });
    const text = await response.text();
    if ("status" in call) {
      assert.equal(response.status, call.status, `${where}: ${call.path} gave ${response.status}: ${text}`);
    } else {
      assert.equal(Math.floor(response.status / 100), 2,
                   `${where}: ${call.path} gave ${response.status}: ${text}`);
    }
    try {
      return text ? JSON.parse(text) : null;
    } catch {
      return null;
    }
  }

  clientFor(step: JsonObject): Client {
    let address = harness.grpc;
    let token = harness.token;
    let callerKey = this.key;
    const c = this.vars.sub(step.client ?? {}) as JsonObject;
    if (c.gateway === "no_caller_keys") [address, token, callerKey] = [harness.grpc_no_caller_keys, "", ""];
    if (c.gateway === "drain") [address, token] = [harness.grpc_drain, ""];
    if (c.gateway === "state_down") [address, token] = [harness.grpc_state_down, ""];
    if ("token" in c) token = (c.token as string | null) ?? "";
    if ("caller_key" in c) callerKey = (c.caller_key as string | null) ?? "";
    return new Client({ address, token, callerKey, useEnvironment: false });
  }

  async run(): Promise<void> {
    const account = { key: this.key, balance: 100, rate_limit: "off",
                      ...((this.testCase.account as JsonObject) ?? {}) };
    await this.mock({ method: "POST", path: "accounts", body: account, status: 201 }, "account");
    for (const call of (this.testCase.setup as Json[]) ?? []) await this.mock(call, "setup");
    const steps = this.testCase.steps as JsonObject[];
    for (let i = 0; i < steps.length; i++) await this.step(steps[i], `step ${i}`);
  }

  async step(step: JsonObject, where: string): Promise<void> {
    const unknown = Object.keys(step).filter((k) => !STEP_FIELDS.has(k));
    assert.deepEqual(unknown, [], `${where}: unknown step fields ${unknown}`);
    assert.ok(!("during" in step) || "await" in step, `${where}: 'during' needs an await`);
    if ("mock" in step) {
      const body = await this.mock(step.mock, where);
      if ("expect" in step) expectSubset(this.vars.sub(step.expect), body, where);
      if ("save" in step) this.vars.values[step.save as string] = body;
      return;
    }
    const client = this.clientFor(step);
    let result: Json | undefined;
    let error: HarnessError | undefined;
    this.heartbeats = 0;
    try {
      if ("list_countries" in step) {
        result = { countries: (await client.listCountries()).map((c) => c.code) };
      } else if ("list_services" in step) {
        result = { services: await client.listServices() };
      } else if ("acquire" in step) {
        const a = this.vars.sub(step.acquire) as JsonObject;
        result = numberJson(await client.acquire((a.country as string) ?? "", (a.service as string) ?? "", {
          fallbackCountries: (a.fallback_countries as string[]) ?? [],
          requestId: (a.request_id as string) ?? "",
          maxWaitMs: a.max_wait_ms as number | undefined,
          deadlineMs: a.deadline_ms as number | undefined,
        }));
      } else if ("await" in step) {
        result = await this.awaitStep(client, step, where);
      } else {
        assert.fail(`${where}: no step kind`);
      }
    } catch (e) {
      if (!(e instanceof HarnessError)) throw e;
      error = e;
    } finally {
      client.close();
    }
    const expect = this.vars.sub(step.expect ?? {}) as JsonObject;
    if ("error" in expect) {
      assert.ok(error, `${where}: expected an error, got ${JSON.stringify(result)}`);
      const actual = errorJson(error);
      for (const [k, v] of Object.entries(expect.error as JsonObject)) {
        if (k === "message_contains") {
          assert.ok((actual.message as string).includes(v as string),
                    `${where}: ${JSON.stringify(actual.message)} lacks ${JSON.stringify(v)}`);
        } else if (k === "bad_fields") {
          assert.deepEqual(new Set(actual.bad_fields as string[]), new Set(v as string[]),
                           `${where}: bad fields ${actual.bad_fields}`);
        } else if (k === "metadata") {
          expectSubset(v, actual.metadata, `${where}.metadata`);
        } else {
          assert.deepEqual(actual[k], v, `${where}.${k}: expected ${JSON.stringify(v)}, ` +
                           `error was ${JSON.stringify(actual)}`);
        }
      }
    } else {
      assert.ok(!error, `${where}: ${error?.message}`);
      if ("ok" in expect) expectSubset(expect.ok, result, where);
      if ("save" in step) this.vars.values[step.save as string] = result ?? null;
    }
    if ("min_heartbeats" in expect) {
      assert.ok(this.heartbeats >= (expect.min_heartbeats as number),
                `${where}: ${this.heartbeats} heartbeats`);
    }
  }

  async awaitStep(client: Client, step: JsonObject, where: string): Promise<Json> {
    const a = this.vars.sub(step.await) as JsonObject;
    const during = (step.during as JsonObject[]) ?? [];
    const cancelAfter = (a.cancel_after_heartbeats as number) ?? 0;
    const follow = (a.follow as boolean) ?? false;
    const stream = client.stream((a.number_id as string) ?? "", {
      codePattern: a.code_pattern as string | undefined,
      senderPattern: a.sender_pattern as string | undefined,
      minCodeLength: a.min_code_length as number | undefined,
      maxCodeLength: a.max_code_length as number | undefined,
      follow,
      timeoutMs: a.timeout_ms as number | undefined,
      receivedAfter: "received_after" in a ? new Date(a.received_after as string) : undefined,
      smsSentAt: "sms_sent_at" in a ? new Date(a.sms_sent_at as string) : undefined,
    });
    let fired = 0;
    let cancelled = false;
    const codes: JsonObject[] = [];
    try {
      for await (const event of stream) {
        if (event.type === "heartbeat") {
          const n = ++this.heartbeats;
          for (const d of during) {
            if (d.after_heartbeats !== n) continue;
            if ("harness" in d) launcher.stdin.write(`${d.harness}\n`);
            else await this.mock(d.mock, `${where} during`);
            fired++;
          }
          if (cancelAfter && n === cancelAfter) {
            stream.cancel();
            cancelled = true;
          }
        } else {
          codes.push(codeJson(event)); // read on to the stream's end, as C++
        }
      }
    } finally {
      // A hook that never ran means the case checked less than it says.
      assert.equal(fired, during.length, `${where}: ${fired} of ${during.length} 'during' calls ran`);
      assert.equal(cancelled, cancelAfter > 0, `${where}: cancel never reached`);
    }
    if (follow) return { codes };
    if (codes.length === 0) throw new HarnessError("the stream ended without a code");
    return codes[0];
  }
}

test("there are cases", () => {
  assert.ok(CASES.length > 0, "no case files under tests/conformance/cases");
});

for (const file of CASES) {
  test(file.replace(/\.json$/, ""), async () => {
    const testCase = JSON.parse(readFileSync(path.join(CONFORMANCE, "cases", file), "utf8"));
    await new CaseRunner(testCase).run();
  });
}
