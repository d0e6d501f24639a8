// Native tests of src/module.js: `spore module test` runs them with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { evaluate } from "../src/module.js";

const id = (n) => new Uint8Array(32).fill(n);
const request = (sponsors, name) => ({
  candidate: { id: id(9), level: "hyphae", name, address: "10.0.0.9:7000" },
  criteria: { minSponsors: 2, minSponsorTrust: 5000, requiredSponsorLevel: undefined },
  sponsors: sponsors.map(id),
});

test("admits with enough distinct sponsors", () => {
  assert.deepEqual(evaluate(request([1, 2], "n9")), { admit: true, reasons: [] });
  assert.equal(evaluate(request([1, 1], "n9")).admit, false);
  assert.deepEqual(evaluate(request([1, 2], " ")).reasons, ["the candidate has no name"]);
});
