"""The logic of `{{name}}`, independent of the bindings (tested natively).

Accepts the layer whose revealed result carries the most eligible trust (ties to the
earlier of primary, seed, latent) if it holds more than half of the trust; otherwise
escalates, with the reason.
"""

MAJORITY_BPS = 5000


def resolve(layers):
    """`layers`: (revealed, confidence) for primary, seed, latent. Returns (index, None)
    to accept that layer, or (None, reason) to escalate."""
    best = None
    for i, (revealed, confidence) in enumerate(layers):
        if revealed and (best is None or confidence > layers[best][1]):
            best = i
    if best is None:
        return None, "no layer revealed a result"
    if layers[best][1] > MAJORITY_BPS:
        return best, None
    return None, (
        f"the strongest result holds {layers[best][1]} bps of trust, "
        f"more than {MAJORITY_BPS} needed"
    )
