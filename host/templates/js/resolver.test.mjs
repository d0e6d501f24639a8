// Native tests of src/module.js: `spore module test` runs them with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { resolve } from "../src/module.js";

const layer = (name, result, confidence) => ({
  layer: name,
  result: result === undefined ? undefined : Uint8Array.of(result),
  confidence,
  agreement: 10000,
});

test("accepts a trusted majority, else escalates", () => {
  const primary = layer("primary", 1, 4000);
  const latent = layer("latent", undefined, 9000);
  assert.deepEqual(resolve(primary, layer("seed", 2, 6000), latent), { tag: "accept", val: "seed" });
  assert.equal(resolve(primary, layer("seed", 2, 5000), latent).tag, "escalate");
});
