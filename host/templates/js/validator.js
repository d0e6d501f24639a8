// `{{name}}`: a Spore validator module in JavaScript (built by componentize-js).
//
// For `compute` operations of kind "sum" the input is a sequence of u64 little-endian
// numbers; the result is their wrapping sum (u64 LE) then their count (u32 LE). Any
// other length is rejected `malformed`, every other operation `unsupported`.
//
// One self-contained ES module: the build embeds this file alone (no relative imports).
// Integers only: u64 arithmetic in BigInt, never floats in a result. Host imports, when
// needed: `import { write } from "spore:policy/log@0.1.0"` and
// `import { members, member, params, param } from "spore:policy/snapshot@0.1.0"`.
//
// The shapes (componentize-js): an operation is `{ tag: "compute", val: { kind, input } }`
// with `input` a Uint8Array; returning a Uint8Array is `ok`; throwing `{ code, reason }`
// (code: a rejection-code such as "malformed") is `err`.

export const KIND = "sum";

class Rejection {
  constructor(code, reason) {
    this.code = code;
    this.reason = reason;
  }
}

/** The result for `input` (a Uint8Array); throws a Rejection if it is malformed. */
export function sum(input) {
  if (input.length % 8 !== 0) {
    throw new Rejection("malformed", `input length ${input.length} is not a multiple of 8`);
  }
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  let total = 0n;
  for (let at = 0; at < input.length; at += 8) {
    total = (total + view.getBigUint64(at, true)) & 0xffffffffffffffffn;
  }
  const out = new Uint8Array(12);
  const outView = new DataView(out.buffer);
  outView.setBigUint64(0, total, true);
  outView.setUint32(8, input.length / 8, true);
  return out;
}

// export validate: func(op: operation, ctx: call-context) -> result<list<u8>, rejection>
export function validate(op, _ctx) {
  if (op.tag === "compute" && op.val.kind === KIND) {
    return sum(op.val.input);
  }
  throw new Rejection("unsupported", "{{name}} only computes `sum` tasks");
}
