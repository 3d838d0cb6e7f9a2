// The Jest helpers: a number and its code per test, each test on its own mock account.
const { useHarness } = require("ismscode-harness/jest");
const { InvalidServiceError } = require("ismscode-harness");

const harness = useHarness();
const accounts = new Set();

test("a number and its code", async () => {
  const number = await harness.acquire("US", "whatsapp");
  expect(number.phone).toMatch(/^\+1\d{10}$/);
  const code = await harness.awaitCode(number, { timeoutMs: 60_000 });
  expect(code.code).toMatch(/^[0-9A-Za-z]{4,8}$/);
  expect(code.sms.text).toContain(code.rawMatch);
});

test.each(["first", "second"])("each test has its own account (%s)", (which) => {
  if (!harness.session.mockUrl) return; // a given gateway without a mock: one shared key
  expect(harness.current.account).toMatch(/^node-/);
  expect(accounts.has(harness.current.account)).toBe(false);
  accounts.add(harness.current.account);
});

test("a failing helper names the call and the reason", async () => {
  const failure = harness.acquire("GB", "no-such-service");
  await expect(failure).rejects.toThrow(/^acquire\(GB, no-such-service\) failed: INVALID_SERVICE/);
  await expect(failure).rejects.toHaveProperty("cause", expect.any(InvalidServiceError));
});
