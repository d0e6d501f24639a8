// `{{name}}`: a Spore admission module in JavaScript (built by componentize-js).
//
// Admits a candidate with at least `criteria.minSponsors` distinct sponsors (at least
// one) and a non-empty name; otherwise refuses, with every reason.
//
// One self-contained ES module (no relative imports). Shapes (componentize-js): record
// fields are camelCase; node ids are Uint8Arrays; return `{ admit, reasons }`.

/** The reasons to refuse `request` (empty: admit). */
export function reasons(request) {
  const distinct = new Set(request.sponsors.map((id) => Array.from(id).join(",")));
  const required = Math.max(request.criteria.minSponsors, 1);
  const out = [];
  if (distinct.size < required) {
    out.push(`${distinct.size} distinct sponsors, ${required} required`);
  }
  if (request.candidate.name.trim() === "") {
    out.push("the candidate has no name");
  }
  return out;
}

// export evaluate: func(request: node-admission, ctx: call-context) -> verdict
export function evaluate(request, _ctx) {
  const why = reasons(request);
  return { admit: why.length === 0, reasons: why };
}
