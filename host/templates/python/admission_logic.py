"""The logic of `{{name}}`, independent of the bindings (tested natively).

Admits a candidate with at least `min_sponsors` distinct sponsors (at least one) and a
non-empty name; otherwise refuses, with every reason.
"""


def reasons(sponsors, min_sponsors: int, name: str):
    """The reasons to refuse (empty: admit). `sponsors` are node ids (bytes)."""
    out = []
    distinct = len(set(bytes(s) for s in sponsors))
    required = max(min_sponsors, 1)
    if distinct < required:
        out.append(f"{distinct} distinct sponsors, {required} required")
    if not name.strip():
        out.append("the candidate has no name")
    return out
