// The Node client of the ismscode-harness gateway: promises for the unary calls, an
// async iterator for AwaitCode, cancellation through AbortSignal, typed errors.
import { randomBytes } from "crypto";
import { readFileSync } from "fs";
import * as grpc from "@grpc/grpc-js";
import { services } from "./proto";
import type { VerificationServiceClient } from "./gen/ismscode/harness/v1/VerificationService";
import type { AwaitCodeEvent__Output } from "./gen/ismscode/harness/v1/AwaitCodeEvent";
import type { AwaitCodeRequest } from "./gen/ismscode/harness/v1/AwaitCodeRequest";
import type { Timestamp__Output } from "./gen/google/protobuf/Timestamp";
import {
  CancelledError,
  GatewayUnavailableError,
  HarnessError,
  InvalidArgumentError,
  fromCallFailure,
  type CallFailure,
} from "./errors";
import type { AwaitEvent, Code, Country, Heartbeat, PhoneNumber } from "./types";

export const DEFAULT_ADDRESS = "127.0.0.1:50051";
const DEFAULT_AWAIT_MS = 120_000;
const STREAM_MARGIN_MS = 15_000; // the gateway's own timeout answers first
const ACQUIRE_MARGIN_MS = 30_000;
const LONGEST_WAIT_MS = 365 * 24 * 3600 * 1000; // longer waits are taken as a year

export interface ClientOptions {
  /** HOST:PORT; default $ISMSCODE_HARNESS_ADDR, else 127.0.0.1:50051. */
  address?: string;
  /** The gateway's caller token; default $ISMSCODE_HARNESS_TOKEN. */
  token?: string;
  /** A PEM CA to trust: TLS; default $ISMSCODE_HARNESS_CA. */
  tlsCaFile?: string;
  /** TLS with the system's roots. */
  tls?: boolean;
  /** Your own upstream key (x-ismscode-api-key); default $ISMSCODE_HARNESS_CALLER_KEY. */
  callerKey?: string;
  /** false: ignore the ISMSCODE_HARNESS_* variables. Default true. */
  useEnvironment?: boolean;
  /** Deadline of ListCountries and ListServices. Default 30 s. */
  listTimeoutMs?: number;
}

export interface ConnectOptions extends ClientOptions {
  /** How long connect() waits for the gateway. Default 5 s. */
  connectTimeoutMs?: number;
}

export interface CallOptions {
  /** Aborting it cancels the call: it rejects with CancelledError. */
  signal?: AbortSignal;
}

export interface AcquireOptions extends CallOptions {
  fallbackCountries?: string[];
  /** The idempotency key; generated when absent and returned in PhoneNumber.requestId. */
  requestId?: string;
  /** How long the gateway retries stock-outs and upstream failures. Default 0: once. */
  maxWaitMs?: number;
  /** The call's own deadline. Default maxWaitMs + 30 s. */
  deadlineMs?: number;
}

export interface AwaitOptions extends CallOptions {
  /** Default: the gateway's (120 s). */
  timeoutMs?: number;
  /** A regular expression (RE2) the code must match; its first group is the code. */
  codePattern?: string;
  /** A regular expression the sender must match. */
  senderPattern?: string;
  minCodeLength?: number;
  maxCodeLength?: number;
  /** Only SMS received after this time (e.g. a resend). */
  receivedAfter?: Date;
  /**
   * When your app sent the SMS, if you know: a busy key's polls are planned from it
   * (default: from when the wait began).
   */
  smsSentAt?: Date;
  /** Every code until the timeout, not only the first. */
  follow?: boolean;
}

export interface AwaitCodeOptions extends Omit<AwaitOptions, "follow"> {
  onHeartbeat?: (heartbeat: Heartbeat) => void;
}

export interface AwaitCodesOptions extends AwaitCodeOptions {
  onCode?: (code: Code) => void;
}

/** A fresh idempotency key: "req-" and 32 random hex digits. */
export function newRequestId(): string {
  return "req-" + randomBytes(16).toString("hex");
}

// `option` is the name the caller used; the bad field is the request's own (the proto
// field, as the gateway names it), so errors read the same in every language.
function invalid(option: string, description: string, field = option): InvalidArgumentError {
  return new InvalidArgumentError(`${option} ${description}`, {
    code: grpc.status.INVALID_ARGUMENT,
    badFields: [{ field, description }],
  });
}

function checkString(value: unknown, option: string, field = option): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw invalid(option, "must be a string", field);
  return value;
}

function checkMs(value: unknown, option: string, field = option): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw invalid(option, "must be a number of milliseconds", field);
  }
  if (value < 0) throw invalid(option, "must not be negative", field);
  return Math.min(value, LONGEST_WAIT_MS);
}

function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal === null) return undefined;
  // Duck-typed: a test environment (Jest's) may have its own AbortSignal class.
  const s = signal as AbortSignal;
  if (typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function" ||
      typeof s.removeEventListener !== "function") {
    throw invalid("signal", "must be an AbortSignal");
  }
  return s;
}

// Metadata values must be printable ASCII; the error names the field, never the value.
function checkSecret(value: string, option: string): string {
  if (!/^[\x20-\x7e]*$/.test(value)) {
    throw invalid(option, "must be printable ASCII (no line breaks)");
  }
  return value;
}

function checkCount(value: unknown, option: string, field: string): number {
  if (value === undefined || value === null) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > 2 ** 31 - 1) {
    throw invalid(option, "must be a non-negative integer", field);
  }
  return value as number;
}

// Whole seconds and 0 <= nanos < 1e9, from milliseconds that may have a fraction.
function secondsAndNanos(ms: number) {
  const total = Math.round(ms * 1e6);
  const seconds = Math.floor(total / 1e9);
  return { seconds, nanos: total - seconds * 1e9 };
}

function duration(ms: number) {
  return secondsAndNanos(ms);
}

// google.protobuf.Timestamp's range: years 1 to 9999.
const EARLIEST_TIMESTAMP_MS = new Date(0).setUTCFullYear(1, 0, 1); // Date.UTC(1, ...) is 1901
const LATEST_TIMESTAMP_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function timestamp(date: Date) {
  return secondsAndNanos(date.getTime());
}

// A Date option as a Timestamp, or INVALID_ARGUMENT naming the option and its field.
function checkDate(value: unknown, option: string, field: string) {
  const at = value instanceof Date ? value.getTime() : NaN;
  if (Number.isNaN(at) || at < EARLIEST_TIMESTAMP_MS || at > LATEST_TIMESTAMP_MS) {
    throw invalid(option, "must be a valid Date between the years 1 and 9999", field);
  }
  return timestamp(value as Date);
}

function toDate(ts: Timestamp__Output | null | undefined): Date {
  return new Date((ts?.seconds ?? 0) * 1000 + Math.floor((ts?.nanos ?? 0) / 1e6));
}

function cancelledError(lastHeartbeat?: Heartbeat): CancelledError {
  return new CancelledError("the call was cancelled", {
    code: grpc.status.CANCELLED,
    lastHeartbeat,
  });
}

/** One AwaitCode stream: iterate it (`for await`) for Heartbeat and Code events; a
 * failure is thrown by the iteration as a HarnessError. Leaving the loop, cancel() or
 * the AbortSignal ends the stream, and the gateway stops polling for it. */
export class CodeStream implements AsyncIterable<AwaitEvent> {
  /** The latest progress report. */
  lastHeartbeat?: Heartbeat;
  private readonly events: AwaitEvent[] = [];
  private ended = false;
  private failure?: HarnessError;
  private cancelled = false;
  private iterated = false;
  private wake?: () => void;

  constructor(
    private readonly call: grpc.ClientReadableStream<AwaitCodeEvent__Output>,
    private readonly address: string,
    private readonly signal?: AbortSignal,
  ) {
    // Listening from the start: a failure before the first read is kept, never unhandled.
    call.on("data", (event: AwaitCodeEvent__Output) => this.onEvent(event));
    call.on("error", (err: CallFailure) => {
      this.failure = this.cancelled && err.code === grpc.status.CANCELLED
        ? cancelledError(this.lastHeartbeat)
        : fromCallFailure(err, this.address, this.lastHeartbeat);
      this.finish();
    });
    call.on("end", () => this.finish());
    // The stream's own end (or error) releases the listener on a long-lived signal.
    call.on("status", () => signal?.removeEventListener("abort", this.onAbort));
    signal?.addEventListener("abort", this.onAbort, { once: true });
  }

  /** Ends the stream; the iteration then throws CancelledError. */
  cancel(): void {
    this.cancelled = true;
    this.call.cancel();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<AwaitEvent, void, undefined> {
    if (this.iterated) throw new Error("a CodeStream can be iterated only once");
    this.iterated = true;
    try {
      for (;;) {
        const event = this.events.shift();
        if (event) {
          yield event;
        } else if (this.ended) {
          if (this.failure) throw this.failure;
          return;
        } else {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
      }
    } finally {
      this.call.cancel(); // harmless on a finished call
      this.signal?.removeEventListener("abort", this.onAbort);
    }
  }

  private readonly onAbort = () => this.cancel();

  private onEvent(event: AwaitCodeEvent__Output): void {
    if (event.waiting) {
      const w = event.waiting;
      this.lastHeartbeat = {
        type: "heartbeat",
        polls: w.polls,
        nextPollAt: toDate(w.next_poll_at),
        expiresAt: toDate(w.expires_at),
        lastUpstreamError: w.last_upstream_error,
        waitingForBudget: w.waiting_for_budget,
      };
      this.events.push(this.lastHeartbeat);
    } else if (event.code_received) {
      const c = event.code_received;
      this.events.push({
        type: "code",
        code: c.code,
        rawMatch: c.raw_match,
        sms: { from: c.sms?.from ?? "", text: c.sms?.text ?? "", receivedAt: toDate(c.sms?.received_at) },
      });
    }
    this.notify();
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** A client of one gateway. Empty options come from the environment (see ClientOptions).
 * `new Client()` connects lazily; `await Client.connect()` waits for the gateway and
 * names its address when it cannot be reached. close() when done. */
export class Client {
  readonly address: string;
  readonly #stub: VerificationServiceClient;
  // #private: util.inspect(client) does not print the token or the caller key.
  readonly #metadata = new grpc.Metadata();
  readonly #listTimeoutMs: number;
  // The calls still running: close() cancels them (grpc-js would let them run on).
  readonly #active = new Set<grpc.Call>();
  #closed = false;

  constructor(options: ClientOptions = {}) {
    const env: Record<string, string | undefined> =
      options.useEnvironment === false ? {} : process.env;
    this.address = checkString(options.address, "address") ||
                   env.ISMSCODE_HARNESS_ADDR || DEFAULT_ADDRESS;
    const token = checkSecret(
      checkString(options.token, "token") || env.ISMSCODE_HARNESS_TOKEN || "", "token");
    const caFile = checkString(options.tlsCaFile, "tlsCaFile") || env.ISMSCODE_HARNESS_CA || "";
    const callerKey = checkSecret(
      checkString(options.callerKey, "callerKey") || env.ISMSCODE_HARNESS_CALLER_KEY || "",
      "callerKey");
    this.#listTimeoutMs = checkMs(options.listTimeoutMs, "listTimeoutMs") || 30_000;
    if (token) this.#metadata.set("authorization", "Bearer " + token);
    if (callerKey) this.#metadata.set("x-ismscode-api-key", callerKey);
    let credentials = grpc.credentials.createInsecure();
    if (caFile) {
      let roots: Buffer;
      try {
        roots = readFileSync(caFile);
      } catch (e) {
        throw invalid("tlsCaFile", `cannot be read: ${caFile}: ${(e as Error).message}`);
      }
      credentials = grpc.credentials.createSsl(roots);
    } else if (options.tls) {
      credentials = grpc.credentials.createSsl();
    }
    try {
      this.#stub = new services.ismscode.harness.v1.VerificationService(this.address, credentials);
    } catch (e) {
      throw invalid("address", `is not a gRPC target (${this.address}): ${(e as Error).message}`);
    }
  }

  /** A client whose gateway answered within connectTimeoutMs (default 5 s; 0: no wait,
   * the first call reports an unreachable gateway). */
  static async connect(options: ConnectOptions = {}): Promise<Client> {
    const timeoutMs = checkMs(options.connectTimeoutMs, "connectTimeoutMs") ?? 5_000;
    const client = new Client(options);
    if (timeoutMs === 0) return client;
    try {
      await new Promise<void>((resolve, reject) =>
        client.#stub.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
    } catch {
      client.close();
      throw new GatewayUnavailableError(
        `cannot reach the gateway at ${client.address} within ${timeoutMs / 1000} s: ` +
          "start it (scripts/run) or set ISMSCODE_HARNESS_ADDR",
        { code: grpc.status.UNAVAILABLE },
      );
    }
    return client;
  }

  /** Closes the connection; calls still running end with CancelledError. */
  close(): void {
    this.#closed = true;
    for (const call of this.#active) call.cancel();
    this.#stub.close();
  }

  // Tracks a call until it ends, for close().
  #track(call: grpc.Call): void {
    this.#active.add(call);
    call.on("status", () => this.#active.delete(call)); // every end, cancel included
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new CancelledError("the client is closed", { code: grpc.status.CANCELLED });
    }
  }

  async listCountries(options: CallOptions = {}): Promise<Country[]> {
    const r = await this.unary("ListCountries", {}, this.#listTimeoutMs, options.signal);
    return r.countries.map((c: { code: string; name: string; dial_prefix: string }) => ({
      code: c.code,
      name: c.name,
      dialPrefix: c.dial_prefix,
    }));
  }

  async listServices(options: CallOptions = {}): Promise<string[]> {
    const r = await this.unary("ListServices", {}, this.#listTimeoutMs, options.signal);
    return [...r.services];
  }

  /** A number. After UpstreamTimeoutError, repeat with the returned or given requestId:
   * nothing is bought twice. */
  async acquire(country: string, service: string,
                options: AcquireOptions = {}): Promise<PhoneNumber> {
    const fallbacks = options.fallbackCountries ?? [];
    if (!Array.isArray(fallbacks)) throw invalid("fallbackCountries", "must be an array", "fallback_countries");
    const maxWaitMs = checkMs(options.maxWaitMs, "maxWaitMs", "max_wait") ?? 0;
    // 0, like absent: the default.
    const deadlineMs = checkMs(options.deadlineMs, "deadlineMs", "deadline") || maxWaitMs + ACQUIRE_MARGIN_MS;
    const request = {
      country: checkString(country, "country"),
      service: checkString(service, "service"),
      fallback_countries: fallbacks.map((c, i) => checkString(c, `fallbackCountries[${i}]`, "fallback_countries")),
      request_id: checkString(options.requestId, "requestId", "request_id") || newRequestId(),
      max_wait: maxWaitMs > 0 ? duration(maxWaitMs) : null,
    };
    let r;
    try {
      r = await this.unary("AcquireNumber", request, deadlineMs, options.signal);
    } catch (e) {
      if (e instanceof HarnessError) e.requestId = request.request_id;
      throw e;
    }
    const n = r.number ?? {};
    return {
      id: n.id,
      phone: n.phone,
      country: n.country,
      service: n.service,
      expiresAt: toDate(n.expires_at),
      attempts: r.attempts,
      replayed: r.replayed,
      requestId: request.request_id,
    };
  }

  /** The AwaitCode stream itself: `for await (const event of client.stream(id))`. */
  stream(numberId: string, options: AwaitOptions = {}): CodeStream {
    const timeoutMs = checkMs(options.timeoutMs, "timeoutMs", "timeout");
    const request: AwaitCodeRequest = {
      number_id: checkString(numberId, "numberId", "number_id"),
      code_pattern: checkString(options.codePattern, "codePattern", "code_pattern"),
      sender_pattern: checkString(options.senderPattern, "senderPattern", "sender_pattern"),
      min_code_length: checkCount(options.minCodeLength, "minCodeLength", "min_code_length"),
      max_code_length: checkCount(options.maxCodeLength, "maxCodeLength", "max_code_length"),
      follow: options.follow === true,
    };
    if (timeoutMs) request.timeout = duration(timeoutMs);
    if (options.receivedAfter !== undefined) {
      request.received_after = checkDate(options.receivedAfter, "receivedAfter", "received_after");
    }
    if (options.smsSentAt !== undefined) {
      request.sms_sent_at = checkDate(options.smsSentAt, "smsSentAt", "sms_sent_at");
    }
    const signal = checkSignal(options.signal);
    this.#checkOpen();
    if (signal?.aborted) throw cancelledError();
    const deadline = Date.now() + (timeoutMs || DEFAULT_AWAIT_MS) + STREAM_MARGIN_MS;
    const call = this.#stub.AwaitCode(request, this.#metadata, { deadline });
    this.#track(call);
    return new CodeStream(call, this.address, signal);
  }

  /** The first code; rejects with the typed error (timeout, expiry, ...). */
  async awaitCode(numberId: string, options: AwaitCodeOptions = {}): Promise<Code> {
    const stream = this.stream(numberId, { ...options, follow: false });
    for await (const event of stream) {
      if (event.type === "heartbeat") options.onHeartbeat?.(event);
      else return event; // the gateway ends the stream after the first code
    }
    throw new HarnessError("the stream ended without a code", {
      lastHeartbeat: stream.lastHeartbeat,
    });
  }

  /** Every code until the timeout (follow), in arrival order. */
  async awaitCodes(numberId: string, options: AwaitCodesOptions = {}): Promise<Code[]> {
    const codes: Code[] = [];
    for await (const event of this.stream(numberId, { ...options, follow: true })) {
      if (event.type === "heartbeat") {
        options.onHeartbeat?.(event);
      } else {
        codes.push(event);
        options.onCode?.(event);
      }
    }
    return codes;
  }

  // Any: proto-loader's objects are untyped at this level; the public methods type them.
  private async unary(method: "ListCountries" | "ListServices" | "AcquireNumber",
                      request: object, timeoutMs: number, signalOption?: unknown): Promise<any> {
    const signal = checkSignal(signalOption);
    this.#checkOpen();
    if (signal?.aborted) throw cancelledError();
    return new Promise((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = (this.#stub[method] as Function).call(
        this.#stub, request, this.#metadata, { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, response: unknown) => {
          signal?.removeEventListener("abort", onAbort);
          if (!err) resolve(response);
          else if (err.code === grpc.status.CANCELLED && (signal?.aborted || this.#closed)) {
            reject(cancelledError());
          }
          else reject(fromCallFailure(err, this.address));
        },
      ) as grpc.ClientUnaryCall;
      this.#track(call);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
