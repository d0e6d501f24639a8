"""The logic of `{{name}}`, independent of the bindings (tested natively).

For `compute` operations of kind "sum" the input is a sequence of u64 little-endian
numbers; the result is their wrapping sum (u64 LE) then their count (u32 LE). Any other
length is rejected `malformed`, every other operation `unsupported`. Integers only.
"""

from dataclasses import dataclass

KIND = "sum"


@dataclass
class Reject:
    """A rejection: `code` is "malformed" or "unsupported"."""

    code: str
    reason: str


def unsupported() -> Reject:
    return Reject("unsupported", "{{name}} only computes `sum` tasks")


def validate_compute(kind: str, data: bytes):
    """The result bytes of a compute task, or a Reject."""
    if kind != KIND:
        return unsupported()
    if len(data) % 8 != 0:
        return Reject("malformed", f"input length {len(data)} is not a multiple of 8")
    total = 0
    for at in range(0, len(data), 8):
        total = (total + int.from_bytes(data[at : at + 8], "little")) % (1 << 64)
    return total.to_bytes(8, "little") + (len(data) // 8).to_bytes(4, "little")
