"""`{{name}}`: a Spore admission module in Python (built by componentize-py).

The `admission` world's export is the method `evaluate` of the class `WitWorld` in this
module (`app`); the reasons come from `logic.py`, tested natively.
"""

import wit_world

import logic


class WitWorld(wit_world.WitWorld):
    def evaluate(self, request, ctx) -> wit_world.Verdict:
        reasons = logic.reasons(
            request.sponsors, request.criteria.min_sponsors, request.candidate.name
        )
        return wit_world.Verdict(admit=not reasons, reasons=reasons)
