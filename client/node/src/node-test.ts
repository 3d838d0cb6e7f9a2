// node:test helpers.
//
//   const harness = useHarness();   // at the top of a test file
//   test("signup", async (t) => {
//     const h = await harness.forTest(t);
//     const number = await h.acquire("US", "whatsapp");
//     ...
//     const code = await h.awaitCode(number);
//   });
import { after, before, type TestContext } from "node:test";
import { openSession, TestHarness, type HarnessSession, type SessionOptions } from "./session";

export { TestHarness, type HarnessSession } from "./session";

export interface NodeTestHarness {
  /** The run's gateway (available once the file's `before` hooks ran). */
  readonly session: HarnessSession;
  /** This test's own account and client; closed when the test ends. */
  forTest(t: TestContext): Promise<TestHarness>;
}

/** Opens the session in a `before` hook of the calling file (or suite) and closes it
 * in an `after` hook. */
export function useHarness(options: SessionOptions = {}): NodeTestHarness {
  let session: HarnessSession | undefined;
  const perTest = new WeakMap<TestContext, Promise<TestHarness>>();
  before(async () => {
    session = await openSession(options);
  });
  after(async () => {
    await session?.close();
  });
  return {
    get session(): HarnessSession {
      if (!session) throw new Error("useHarness(): the session opens in a before() hook");
      return session;
    },
    forTest(t: TestContext): Promise<TestHarness> {
      let h = perTest.get(t);
      if (!h) {
        h = TestHarness.open(this.session);
        perTest.set(t, h);
        t.after(async () => (await h!).close());
      }
      return h;
    },
  };
}
