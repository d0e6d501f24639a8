// `{{name}}`: a Spore resolver module in JavaScript (built by componentize-js).
//
// Accepts the layer whose revealed result carries the most eligible trust
// (`confidence`, ties to the earlier of primary, seed, latent) if it holds more than
// half of the trust; otherwise escalates, with the reason.
//
// One self-contained ES module (no relative imports). Shapes (componentize-js): a layer
// result is `{ layer: "primary", result: Uint8Array | undefined, confidence, agreement }`;
// return `{ tag: "accept", val: "seed" }` or `{ tag: "escalate", val: "reason" }`.

export const MAJORITY_BPS = 5000;

// export resolve: func(primary, seed, latent: layer-result, ctx: call-context) -> resolution
export function resolve(primary, seed, latent, _ctx) {
  let best;
  for (const layer of [primary, seed, latent]) {
    if (layer.result !== undefined && (best === undefined || layer.confidence > best.confidence)) {
      best = layer;
    }
  }
  if (best === undefined) {
    return { tag: "escalate", val: "no layer revealed a result" };
  }
  if (best.confidence > MAJORITY_BPS) {
    return { tag: "accept", val: best.layer };
  }
  return {
    tag: "escalate",
    val: `the strongest result holds ${best.confidence} bps of trust, more than ${MAJORITY_BPS} needed`,
  };
}
