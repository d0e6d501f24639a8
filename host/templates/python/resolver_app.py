"""`{{name}}`: a Spore resolver module in Python (built by componentize-py).

The `resolver` world's export is the method `resolve` of the class `WitWorld` in this
module (`app`); the decision comes from `logic.py`, tested natively.
"""

import wit_world

import logic


class WitWorld(wit_world.WitWorld):
    def resolve(self, primary, seed, latent, ctx) -> wit_world.Resolution:
        layers = [primary, seed, latent]
        index, reason = logic.resolve([(l.result is not None, l.confidence) for l in layers])
        if index is None:
            return wit_world.Resolution_Escalate(value=reason)
        return wit_world.Resolution_Accept(value=layers[index].layer)
