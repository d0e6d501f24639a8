"""`{{name}}`: a Spore validator module in Python (built by componentize-py).

The `validator` world's export is the method `validate` of the class `WitWorld` in this
module (`app`). Results and rejections come from `logic.py`, which imports nothing from
the bindings, so `spore module test` can test it natively. Host imports, when needed:
`from wit_world.imports import snapshot, log`, then `log.write(log.Level.INFO, "...")`.
"""

import wit_world
from componentize_py_types import Err
from wit_world.imports.types import Operation_Compute, Rejection, RejectionCode

import logic

CODES = {"malformed": RejectionCode.MALFORMED, "unsupported": RejectionCode.UNSUPPORTED}


class WitWorld(wit_world.WitWorld):
    def validate(self, op, ctx) -> bytes:
        if isinstance(op, Operation_Compute):
            outcome = logic.validate_compute(op.value.kind, op.value.input)
        else:
            outcome = logic.unsupported()
        if isinstance(outcome, logic.Reject):
            raise Err(Rejection(code=CODES[outcome.code], reason=outcome.reason))
        return outcome
