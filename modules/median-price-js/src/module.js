// median-price, JavaScript twin of modules/median-price (Rust) for the Spore validator world.
// Integer-only: BigInt for u64 reporter indices, i64 prices and |price - median| (no overflow).
// Input: N x 16 bytes (u64 LE reporter, i64 LE price). Output: 16 bytes (i64 LE result,
// u32 LE kept, u32 LE dropped). Rejections and reason strings are byte-identical to Rust.

const KIND = "median-price";
const REPORT_LEN = 16;
const MAD_FACTOR = 3n;

// componentize-js: a WIT error of result<T, E> is returned by throwing; the thrown value
// becomes the `err` payload (a rejection record { code, reason }). Returning a value is `ok`.
class Reject {
  constructor(code, reason) {
    this.code = code;    // rejection-code enum: string, e.g. "malformed", "unsupported"
    this.reason = reason;
  }
}

function lowerMedian(sorted) {
  return sorted[(sorted.length - 1) >> 1];
}


function compute(input) {
  const len = input.length;
  if (len % REPORT_LEN !== 0) {
    throw new Reject("malformed", `input length ${len} is not a multiple of ${REPORT_LEN}`);
  }
  const n = len / REPORT_LEN;
  if (n === 0) throw new Reject("malformed", "no price reports");
  if (n > 0xffffffff) throw new Reject("malformed", `too many reports: ${n}`);

  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const reporters = new BigUint64Array(n);
  const prices = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * REPORT_LEN;
    reporters[i] = view.getBigUint64(off, true);
    prices[i] = view.getBigInt64(off + 8, true);
  }
  reporters.sort(); // typed arrays sort numerically
  for (let i = 1; i < n; i++) {
    if (reporters[i - 1] === reporters[i]) {
      throw new Reject("malformed", `reporter ${reporters[i]} reported more than once`);
    }
  }

  prices.sort();
  const median = lowerMedian(prices);
  // |p - median| is computed exactly in BigInt; it is at most 2^64 - 1, so it fits a u64.
  const dev = (p) => (p >= median ? p - median : median - p);
  const deviations = new BigUint64Array(n);
  for (let i = 0; i < n; i++) deviations[i] = dev(prices[i]);
  deviations.sort();
  const mad = lowerMedian(deviations);

  const kept = mad === 0n ? prices : prices.filter((p) => dev(p) <= mad * MAD_FACTOR);
  const result = lowerMedian(kept);

  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  ov.setBigInt64(0, result, true);
  ov.setUint32(8, kept.length, true);
  ov.setUint32(12, n - kept.length, true);
  return out;
}

// export validate: func(op: operation, ctx: call-context) -> result<list<u8>, rejection>;
// `op` is a variant: { tag: "compute", val: { kind: string, input: Uint8Array } }, ...
export function validate(op, _ctx) {
  if (op.tag !== "compute") {
    throw new Reject("unsupported", "median-price only computes `compute` operations");
  }
  const task = op.val;
  if (task.kind !== KIND) {
    throw new Reject("unsupported", `compute kind \`${task.kind}\` is not \`${KIND}\``);
  }
  return compute(task.input);
}
