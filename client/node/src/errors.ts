// Typed errors: one class per reason of the README's error table, plus the client's own
// (GatewayUnavailableError, CancelledError, DeadlineExceededError). Each is a
// HarnessError carrying the gRPC code, the message, the retry delay, the bad fields, the
// ErrorInfo metadata and the last heartbeat of a wait.
import { Metadata, status as Status } from "@grpc/grpc-js";
import { rpcType } from "./proto";
import type { Heartbeat } from "./types";

export const ERROR_DOMAIN = "ismscode.harness";

export interface BadField {
  field: string;
  description: string;
}

export interface HarnessErrorDetails {
  code?: Status;
  reason?: string;
  retryDelayMs?: number;
  badFields?: BadField[];
  metadata?: Record<string, string>;
  lastHeartbeat?: Heartbeat;
}

/** A failed call. `reason` is the ErrorInfo reason ("NO_NUMBERS_AVAILABLE"). */
export class HarnessError extends Error {
  static readonly reason: string = "UNKNOWN";
  /** The error table's reason, or the client's own (GATEWAY_UNAVAILABLE, ...). */
  readonly reason: string;
  /** The gRPC status code (a number of @grpc/grpc-js's `status`). */
  readonly code: Status;
  /** Its name, e.g. "RESOURCE_EXHAUSTED". */
  readonly codeName: string;
  /** The gateway's message, without the decorations of `message`. */
  readonly detail: string;
  /** When to try again (RetryInfo), in milliseconds. */
  readonly retryDelayMs?: number;
  readonly badFields: BadField[];
  readonly metadata: Record<string, string>;
  /** The last progress report of the wait that failed. */
  readonly lastHeartbeat?: Heartbeat;
  /** acquire(): the request id it sent (generated when none was given). After
   * UpstreamTimeoutError, repeat with it: nothing is bought twice. */
  requestId?: string;

  constructor(detail: string, details: HarnessErrorDetails = {}) {
    const code = details.code ?? Status.UNKNOWN;
    const reason = details.reason ?? (new.target as typeof HarnessError).reason;
    super(describe(detail, reason, code, details));
    this.name = new.target.name;
    this.reason = reason;
    this.code = code;
    this.codeName = Status[code] ?? String(code);
    this.detail = detail;
    this.retryDelayMs = details.retryDelayMs;
    this.badFields = details.badFields ?? [];
    this.metadata = details.metadata ?? {};
    this.lastHeartbeat = details.lastHeartbeat;
  }
}

// "NO_NUMBERS_AVAILABLE (RESOURCE_EXHAUSTED): ... [country=US] [last heartbeat: ...]":
// what a failed test should print.
function describe(detail: string, reason: string, code: Status,
                  d: HarnessErrorDetails): string {
  let text = `${reason} (${Status[code] ?? code}): ${detail}`;
  for (const key of Object.keys(d.metadata ?? {}).sort()) {
    text += ` [${key}=${d.metadata![key]}]`;
  }
  for (const f of d.badFields ?? []) text += ` [field ${f.field}: ${f.description}]`;
  if (d.retryDelayMs !== undefined) text += ` [retry after ${d.retryDelayMs / 1000} s]`;
  const h = d.lastHeartbeat;
  if (h) {
    text += ` [last heartbeat: ${h.polls} polls, next poll ${h.nextPollAt.toISOString()}` +
            `, expires ${h.expiresAt.toISOString()}`;
    if (h.lastUpstreamError) text += `, last upstream error: ${h.lastUpstreamError}`;
    if (h.waitingForBudget) text += ", waiting for the rate budget";
    text += "]";
  }
  return text;
}

/** A request field is invalid (see badFields). */
export class InvalidArgumentError extends HarnessError {
  static readonly reason: string = "INVALID_ARGUMENT";
}

/** The upstream does not know the country. */
export class InvalidCountryError extends HarnessError {
  static readonly reason: string = "INVALID_COUNTRY";
}

/** The upstream does not know the service. */
export class InvalidServiceError extends HarnessError {
  static readonly reason: string = "INVALID_SERVICE";
}

/** The upstream refused the key. */
export class UnauthorizedError extends HarnessError {
  static readonly reason: string = "UNAUTHORIZED";
}

/** The account's balance is too low. */
export class InsufficientBalanceError extends HarnessError {
  static readonly reason: string = "INSUFFICIENT_BALANCE";
}

/** Out of stock (metadata: country, service). */
export class NoNumbersAvailableError extends HarnessError {
  static readonly reason: string = "NO_NUMBERS_AVAILABLE";
}

/** The key's rate limit; see retryDelayMs. */
export class RateLimitExceededError extends HarnessError {
  static readonly reason: string = "RATE_LIMIT_EXCEEDED";
}

/** The upstream failed or cannot be reached. */
export class UpstreamUnavailableError extends HarnessError {
  static readonly reason: string = "UPSTREAM_UNAVAILABLE";
}

/** A purchase's answer was lost: repeat with the same requestId. */
export class UpstreamTimeoutError extends HarnessError {
  static readonly reason: string = "UPSTREAM_TIMEOUT";
}

/** The upstream answered off its document. */
export class UpstreamBadResponseError extends HarnessError {
  static readonly reason: string = "UPSTREAM_BAD_RESPONSE";
}

/** No such number id (or another key's). */
export class NumberNotFoundError extends HarnessError {
  static readonly reason: string = "NUMBER_NOT_FOUND";
}

/** No code before the timeout. */
export class CodeWaitTimeoutError extends HarnessError {
  static readonly reason: string = "CODE_WAIT_TIMEOUT";
}

/** The number's reservation ended first. */
export class NumberExpiredError extends HarnessError {
  static readonly reason: string = "NUMBER_EXPIRED";
}

/** The gateway is shutting down. */
export class ShuttingDownError extends HarnessError {
  static readonly reason: string = "SHUTTING_DOWN";
}

/** The gateway refused the caller token. */
export class UnauthenticatedError extends HarnessError {
  static readonly reason: string = "UNAUTHENTICATED";
}

/** The gateway takes no caller keys. */
export class CallerKeyNotAllowedError extends HarnessError {
  static readonly reason: string = "CALLER_KEY_NOT_ALLOWED";
}

/** The gateway fleet's shared state (Redis) is unreachable: nothing was bought; retry. */
export class StateUnavailableError extends HarnessError {
  static readonly reason: string = "STATE_UNAVAILABLE";
}

/** The gateway cannot be reached. */
export class GatewayUnavailableError extends HarnessError {
  static readonly reason: string = "GATEWAY_UNAVAILABLE";
}

/** The caller cancelled (AbortSignal or cancel()). */
export class CancelledError extends HarnessError {
  static readonly reason: string = "CANCELLED";
}

/** The call's own deadline passed. */
export class DeadlineExceededError extends HarnessError {
  static readonly reason: string = "DEADLINE_EXCEEDED";
}

const CLASSES: (typeof HarnessError)[] = [
  InvalidArgumentError, InvalidCountryError, InvalidServiceError, UnauthorizedError,
  InsufficientBalanceError, NoNumbersAvailableError, RateLimitExceededError,
  UpstreamUnavailableError, UpstreamTimeoutError, UpstreamBadResponseError,
  NumberNotFoundError, CodeWaitTimeoutError, NumberExpiredError, ShuttingDownError,
  UnauthenticatedError, CallerKeyNotAllowedError, StateUnavailableError, GatewayUnavailableError,
  CancelledError, DeadlineExceededError,
];
const CLASS_OF_REASON = new Map(CLASSES.map((c) => [c.reason, c]));

/** The error class of a reason; HarnessError for reasons this client predates. */
export function errorClass(reason: string): typeof HarnessError {
  return CLASS_OF_REASON.get(reason) ?? HarnessError;
}

/** A gRPC call's failure as grpc-js reports it. */
export interface CallFailure {
  code?: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

/** The typed error of a failed call, from its google.rpc.Status trailer. */
export function fromCallFailure(failure: CallFailure, address: string,
                                lastHeartbeat?: Heartbeat): HarnessError {
  const code: Status = failure.code ?? Status.UNKNOWN;
  let detail = failure.details ?? failure.message ?? "unknown failure";
  let reason: string | undefined;
  let retryDelayMs: number | undefined;
  const badFields: BadField[] = [];
  const metadata: Record<string, string> = {};
  const raw = failure.metadata?.get("grpc-status-details-bin")[0];
  let details: AnyMessage[] = [];
  if (raw instanceof Buffer) {
    try {
      details = (rpcType("google.rpc.Status").decode(raw) as unknown as { details?: AnyMessage[] })
        .details ?? [];
    } catch {
      // Unreadable details: the status code decides, as without them.
    }
  }
  // Each detail on its own: one unreadable detail does not hide the others.
  for (const any of details) {
    try {
      const name = any.type_url.slice(any.type_url.lastIndexOf("/") + 1);
      if (name === "google.rpc.ErrorInfo") {
        const info = rpcType(name).decode(any.value) as unknown as {
          reason: string; domain: string; metadata: Record<string, string>;
        };
        if (info.domain !== ERROR_DOMAIN) continue;
        reason = info.reason;
        Object.assign(metadata, info.metadata ?? {});
      } else if (name === "google.rpc.RetryInfo") {
        const retry = rpcType(name).decode(any.value) as unknown as {
          retry_delay?: { seconds?: number | { toNumber(): number }; nanos?: number };
        };
        const s = retry.retry_delay?.seconds ?? 0;
        retryDelayMs = (typeof s === "number" ? s : s.toNumber()) * 1000 +
                       Math.round((retry.retry_delay?.nanos ?? 0) / 1e6);
      } else if (name === "google.rpc.BadRequest") {
        const bad = rpcType(name).decode(any.value) as unknown as {
          field_violations?: { field: string; description: string }[];
        };
        for (const v of bad.field_violations ?? []) {
          badFields.push({ field: v.field, description: v.description });
        }
      }
    } catch {
      // This detail is unreadable; the others still count.
    }
  }
  if (reason === undefined) {
    if (code === Status.UNAVAILABLE) {
      reason = "GATEWAY_UNAVAILABLE";
      detail = `cannot reach the gateway at ${address} (${detail}): start it ` +
               "(scripts/run) or set ISMSCODE_HARNESS_ADDR";
    } else if (code === Status.CANCELLED) {
      reason = "CANCELLED";
    } else if (code === Status.DEADLINE_EXCEEDED) {
      reason = "DEADLINE_EXCEEDED";
    } else {
      reason = "UNKNOWN";
    }
  }
  const cls = errorClass(reason);
  return new cls(detail, { code, reason, retryDelayMs, badFields, metadata, lastHeartbeat });
}
