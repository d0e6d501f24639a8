// Native tests of src/module.js: `spore module test` runs them with `node --test`.
import { test } from "node:test";
import assert from "node:assert/strict";

import { validate } from "../src/module.js";

const compute = (kind, bytes) => ({ tag: "compute", val: { kind, input: Uint8Array.from(bytes) } });

test("sums wrapping", () => {
  const input = [255, 255, 255, 255, 255, 255, 255, 255, 2, 0, 0, 0, 0, 0, 0, 0];
  assert.deepEqual(Array.from(validate(compute("sum", input))), [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0]);
});

test("rejects what it cannot sum", () => {
  assert.throws(() => validate(compute("sum", [1, 2, 3])), { code: "malformed" });
  assert.throws(() => validate(compute("other", [])), { code: "unsupported" });
  assert.throws(() => validate({ tag: "maintenance-task", val: {} }), { code: "unsupported" });
});
