// The values the client returns. Times are Dates (the gateway's clock); durations are
// milliseconds.

export interface Country {
  code: string; // ISO 3166-1 alpha-2, e.g. "US"
  name: string;
  dialPrefix: string; // e.g. "+1"
}

export interface PhoneNumber {
  id: string; // the number id AwaitCode takes
  phone: string; // E.164, e.g. "+12025550123"
  country: string; // the country it came from (may be a fallback)
  service: string;
  expiresAt: Date; // the end of its reservation
  attempts: number; // upstream purchase requests the call made (0 when replayed)
  replayed: boolean; // an earlier call with the same request id bought it
  requestId: string; // repeat with it after UpstreamTimeoutError: nothing is bought twice
}

export interface Sms {
  from: string;
  text: string;
  receivedAt: Date;
}

/** A code found in an SMS. */
export interface Code {
  type: "code";
  code: string; // normalised: "583-920" becomes "583920"
  rawMatch: string; // as it appears in the text
  sms: Sms;
}

/** The gateway's progress report while it waits (every few seconds). */
export interface Heartbeat {
  type: "heartbeat";
  polls: number; // upstream polls for this number so far
  nextPollAt: Date;
  expiresAt: Date; // the number's reservation end
  lastUpstreamError: string; // empty when the last poll succeeded
  waitingForBudget: boolean; // the key's rate budget is holding the next poll back
}

/** One event of an AwaitCode stream. */
export type AwaitEvent = Heartbeat | Code;
