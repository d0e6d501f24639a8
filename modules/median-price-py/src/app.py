"""median-price, the Python twin of modules/median-price (Rust), for the validator world.

The export is `WitWorld.validate`; the computation is in logic.py. Rejection codes and
reason strings are byte-identical to the Rust twin's.
"""

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import CallContext, Operation, Operation_Compute, Rejection, RejectionCode

from logic import KIND, Malformed, compute


class WitWorld(wit_world.WitWorld):
    # result<list<u8>, rejection>: return bytes for ok; raise Err(Rejection(...)) for err.
    def validate(self, op: Operation, ctx: CallContext) -> bytes:
        if not isinstance(op, Operation_Compute):
            raise Err(Rejection(
                code=RejectionCode.UNSUPPORTED,
                reason="median-price only computes `compute` operations",
            ))
        task = op.value
        if task.kind != KIND:
            raise Err(Rejection(
                code=RejectionCode.UNSUPPORTED,
                reason=f"compute kind `{task.kind}` is not `{KIND}`",
            ))
        try:
            return compute(task.input)
        except Malformed as e:
            raise Err(Rejection(code=RejectionCode.MALFORMED, reason=str(e)))
