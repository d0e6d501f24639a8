// Native tests of src/module.js (`spore module test`); the twin suite
// (host/tests/it/twins.rs) checks the built component against the Rust module.
import { test } from "node:test";
import assert from "node:assert/strict";

import { validate } from "../src/module.js";

const report = (reporter, price) => {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, BigInt(reporter), true);
  v.setBigInt64(8, BigInt(price), true);
  return Array.from(b);
};
const op = (bytes) => ({ tag: "compute", val: { kind: "median-price", input: Uint8Array.from(bytes) } });

test("drops an outlier", () => {
  const input = [100, 101, 102, 99, 10000].flatMap((p, i) => report(i, p));
  const out = new DataView(validate(op(input)).buffer);
  assert.equal(out.getBigInt64(0, true), 100n);
  assert.deepEqual([out.getUint32(8, true), out.getUint32(12, true)], [4, 1]);
});

test("rejects with the Rust twin's reasons", () => {
  assert.throws(() => validate(op([1])), { code: "malformed", reason: "input length 1 is not a multiple of 16" });
  assert.throws(() => validate(op([])), { code: "malformed", reason: "no price reports" });
  assert.throws(() => validate(op([...report(7, 1), ...report(7, 2)])), {
    reason: "reporter 7 reported more than once",
  });
  assert.throws(() => validate({ tag: "maintenance-task", val: {} }), { code: "unsupported" });
});
