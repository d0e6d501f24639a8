"""median-price, the Python twin of modules/median-price (Rust): the logic, free of the
bindings so that `spore module test` runs it natively.

Integer-only (Python ints are arbitrary precision, so |price - median| cannot overflow).
Input: N x 16 bytes (u64 LE reporter, i64 LE price). Output: 16 bytes (i64 LE result,
u32 LE kept, u32 LE dropped). Rejections and reason strings are byte-identical to Rust.
"""


class Malformed(Exception):
    """The input cannot be computed; the message is the rejection's reason."""


KIND = "median-price"
REPORT_LEN = 16
MAD_FACTOR = 3


def _malformed(reason: str) -> Malformed:
    return Malformed(reason)


def _lower_median(sorted_values):
    return sorted_values[(len(sorted_values) - 1) // 2]


def compute(data: bytes) -> bytes:
    n_bytes = len(data)
    if n_bytes % REPORT_LEN != 0:
        raise _malformed(f"input length {n_bytes} is not a multiple of {REPORT_LEN}")
    n = n_bytes // REPORT_LEN
    if n == 0:
        raise _malformed("no price reports")
    if n > 0xFFFFFFFF:
        raise _malformed(f"too many reports: {n}")
    reporters = []
    prices = []
    for i in range(n):
        off = i * REPORT_LEN
        reporters.append(int.from_bytes(data[off:off + 8], "little", signed=False))
        prices.append(int.from_bytes(data[off + 8:off + 16], "little", signed=True))
    reporters.sort()
    for a, b in zip(reporters, reporters[1:]):
        if a == b:
            raise _malformed(f"reporter {a} reported more than once")

    prices.sort()
    median = _lower_median(prices)
    mad = _lower_median(sorted(abs(p - median) for p in prices))
    if mad == 0:
        kept = prices
    else:
        limit = mad * MAD_FACTOR
        kept = [p for p in prices if abs(p - median) <= limit]
    result = _lower_median(kept)
    return (
        result.to_bytes(8, "little", signed=True)
        + len(kept).to_bytes(4, "little")
        + (n - len(kept)).to_bytes(4, "little")
    )
