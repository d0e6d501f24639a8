/* `{{name}}`: a Spore resolver module in C (freestanding: no libc, no WASI).
 *
 * Accepts the layer whose revealed result holds the most trust (ties to the earlier of
 * primary, seed, latent) if it holds more than 5000 bps; otherwise escalates. The export
 * owns its arguments and frees them; the escalation reason is a heap block that the
 * generated post-return function frees. */

#include <stdlib.h>
#include <string.h>

#include "logic.h"
#include "resolver.h"

void exports_resolver_resolve(resolver_layer_result_t *primary, resolver_layer_result_t *seed,
                              resolver_layer_result_t *latent, resolver_call_context_t *ctx,
                              resolver_resolution_t *ret) {
    resolver_layer_result_t *layers[3] = {primary, seed, latent};
    int revealed[3];
    uint32_t confidence[3];
    for (int i = 0; i < 3; i++) {
        revealed[i] = layers[i]->result.is_some;
        confidence[i] = layers[i]->confidence;
    }
    int best;
    int accept = logic_resolve(revealed, confidence, &best);
    if (accept >= 0) {
        ret->tag = RESOLVER_RESOLUTION_ACCEPT;
        ret->val.accept = layers[accept]->layer;
    } else {
        static const char reason[] = "no revealed result holds more than 5000 bps of trust";
        uint8_t *text = malloc(sizeof(reason) - 1u);
        if (text == NULL) {
            abort();
        }
        memcpy(text, reason, sizeof(reason) - 1u);
        ret->tag = RESOLVER_RESOLUTION_ESCALATE;
        ret->val.escalate.ptr = text;
        ret->val.escalate.len = sizeof(reason) - 1u;
    }
    for (int i = 0; i < 3; i++) {
        resolver_layer_result_free(layers[i]);
    }
    resolver_call_context_free(ctx);
}
