// What the test-framework fixtures share: the gateway for a run (given, or started with
// its bundled mock) and, per test, a client on the test's own mock account whose helpers
// fail the test with the reason, the message and the last heartbeat.
import { Client, type AcquireOptions, type AwaitCodeOptions } from "./client";
import { HarnessError } from "./errors";
import { createMockAccount, startGateway } from "./gateway";
import type { Code, PhoneNumber } from "./types";

// Set by the Jest global set-up for its workers: the gateway is the fixture's own.
export const OWN_GATEWAY_ENV = "ISMSCODE_HARNESS_OWN_GATEWAY";

export interface SessionOptions {
  /** The gateway's HOST:PORT. Default $ISMSCODE_HARNESS_ADDR, else one started here. */
  address?: string;
  /** The scenario of the bundled mock of a gateway started here. Default
   * $ISMSCODE_HARNESS_SCENARIO, else ci-fast. */
  scenario?: string;
}

export interface HarnessSession {
  address: string;
  /** The mock behind the gateway (undefined: none known, e.g. the real API). */
  mockUrl?: string;
  /** The gateway was started here: plaintext and open, so the environment's token and
   * TLS settings (meant for a given gateway) do not apply. */
  startedHere: boolean;
  close(): Promise<void>;
}

/** The gateway of a test run: the given one, or `ismscode-gateway` with its bundled mock
 * started now (found on PATH, in $ISMSCODE_BIN_DIR or in the checkout's build/). */
export async function openSession(options: SessionOptions = {}): Promise<HarnessSession> {
  const address = options.address ?? process.env.ISMSCODE_HARNESS_ADDR;
  if (address) {
    return {
      address,
      mockUrl: process.env.ISMSCODE_MOCK_URL || undefined,
      startedHere: process.env[OWN_GATEWAY_ENV] === "1",
      close: async () => {},
    };
  }
  const gateway = await startGateway({
    scenario: options.scenario ?? process.env.ISMSCODE_HARNESS_SCENARIO ?? "ci-fast",
  });
  return { address: gateway.address, mockUrl: gateway.mockUrl, startedHere: true, close: gateway.stop };
}

/** One test's view of the harness: its own mock account (where there is a mock) and a
 * client using it as its caller key. acquire() and awaitCode() throw an Error whose
 * message is the whole story (reason, message, last heartbeat); the typed error is its
 * `cause`. The rest of the client is `client`. */
export class TestHarness {
  private constructor(
    readonly client: Client,
    /** This test's mock account key (undefined without a mock). */
    readonly account: string | undefined,
    readonly mockUrl: string | undefined,
  ) {}

  static async open(session: HarnessSession): Promise<TestHarness> {
    const account = session.mockUrl ? await createMockAccount(session.mockUrl) : undefined;
    const client = new Client({
      address: session.address,
      callerKey: account,
      useEnvironment: !session.startedHere,
    });
    return new TestHarness(client, account, session.mockUrl);
  }

  async acquire(country = "US", service = "whatsapp",
                options: AcquireOptions = {}): Promise<PhoneNumber> {
    try {
      return await this.client.acquire(country, service, options);
    } catch (e) {
      throw failure(`acquire(${country}, ${service})`, e);
    }
  }

  async awaitCode(number: PhoneNumber, options: AwaitCodeOptions = {}): Promise<Code> {
    try {
      return await this.client.awaitCode(number.id, options);
    } catch (e) {
      throw failure(`awaitCode(${number.phone})`, e);
    }
  }

  close(): void {
    this.client.close();
  }
}

function failure(call: string, e: unknown): unknown {
  if (!(e instanceof HarnessError)) return e;
  return new Error(`${call} failed: ${e.message}`, { cause: e });
}
