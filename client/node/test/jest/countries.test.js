// A second file, so that Jest's workers share the one gateway of the global set-up.
const { useHarness } = require("ismscode-harness/jest");

const harness = useHarness();

test("the client lists countries and services", async () => {
  const countries = await harness.client.listCountries();
  expect(countries).toEqual(expect.arrayContaining([{ code: "GB", name: "United Kingdom", dialPrefix: "+44" }]));
  expect(await harness.client.listServices()).toContain("telegram");
});

test("a number from a fallback country", async () => {
  const number = await harness.acquire("GB", "telegram", { fallbackCountries: ["US"] });
  expect(["GB", "US"]).toContain(number.country);
  expect(number.service).toBe("telegram");
});
