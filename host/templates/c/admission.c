/* `{{name}}`: a Spore admission module in C (freestanding: no libc, no WASI).
 *
 * Admits a candidate with at least `criteria.min-sponsors` distinct sponsors (at least
 * one); otherwise refuses with the reason. The export owns its arguments and frees them;
 * the reasons are heap blocks that the generated post-return function frees. */

#include <stdlib.h>
#include <string.h>

#include "admission.h"
#include "logic.h"

#define MAX_SPONSORS 64u

void exports_admission_evaluate(admission_node_admission_t *request,
                                admission_call_context_t *ctx, admission_verdict_t *ret) {
    size_t count = request->sponsors.len;
    size_t distinct;
    if (count > MAX_SPONSORS) {
        distinct = 0; /* refuse absurd requests rather than spend quadratic fuel */
    } else {
        const uint8_t *ids[MAX_SPONSORS];
        size_t lens[MAX_SPONSORS];
        for (size_t i = 0; i < count; i++) {
            ids[i] = request->sponsors.ptr[i].ptr;
            lens[i] = request->sponsors.ptr[i].len;
        }
        distinct = logic_distinct(ids, lens, count);
    }
    uint32_t required = request->criteria.min_sponsors;
    if (required == 0u) {
        required = 1u;
    }
    ret->admit = distinct >= required;
    ret->reasons.ptr = NULL;
    ret->reasons.len = 0;
    if (!ret->admit) {
        static const char reason[] = "not enough distinct sponsors";
        admission_string_t *reasons = malloc(sizeof(admission_string_t));
        uint8_t *text = malloc(sizeof(reason) - 1u);
        if (reasons == NULL || text == NULL) {
            abort();
        }
        memcpy(text, reason, sizeof(reason) - 1u);
        reasons[0].ptr = text;
        reasons[0].len = sizeof(reason) - 1u;
        ret->reasons.ptr = reasons;
        ret->reasons.len = 1;
    }
    admission_node_admission_free(request);
    admission_call_context_free(ctx);
}
