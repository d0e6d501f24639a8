/* `{{name}}`: a Spore validator module in C (freestanding: no libc, no WASI).
 *
 * For `compute` operations of kind "sum" the input is a sequence of u64 little-endian
 * numbers; the result is their wrapping sum (u64 LE) then their count (u32 LE). Any other
 * length is rejected `malformed`, every other operation `unsupported`.
 *
 * Ownership follows the wit-bindgen C conventions: the export owns its arguments and
 * frees them; the result bytes and the rejection reason are heap blocks that the
 * generated post-return function frees (never hand back a string literal). */

#include <stdlib.h>
#include <string.h>

#include "logic.h"
#include "validator.h"

static const char KIND[] = "sum";

/* Fill `err` with `code` and a heap copy of `reason`; trap if the heap is exhausted. */
static void reject(validator_rejection_t *err, spore_policy_types_rejection_code_t code,
                   const char *reason) {
    size_t len = strlen(reason);
    uint8_t *copy = malloc(len == 0u ? 1u : len);
    if (copy == NULL) {
        abort();
    }
    memcpy(copy, reason, len);
    err->code = code;
    err->reason.ptr = copy;
    err->reason.len = len;
}

bool exports_validator_validate(validator_operation_t *op, validator_call_context_t *ctx,
                                validator_list_u8_t *ret, validator_rejection_t *err) {
    bool ok = false;
    if (op->tag == SPORE_POLICY_TYPES_OPERATION_COMPUTE &&
        op->val.compute.kind.len == sizeof(KIND) - 1u &&
        memcmp(op->val.compute.kind.ptr, KIND, sizeof(KIND) - 1u) == 0) {
        uint8_t *out = malloc(12u);
        if (out == NULL) {
            abort();
        }
        if (logic_sum(op->val.compute.input.ptr, op->val.compute.input.len, out) == 0) {
            ret->ptr = out;
            ret->len = 12u;
            ok = true;
        } else {
            free(out);
            reject(err, SPORE_POLICY_TYPES_REJECTION_CODE_MALFORMED,
                   "input length is not a multiple of 8");
        }
    } else {
        reject(err, SPORE_POLICY_TYPES_REJECTION_CODE_UNSUPPORTED,
               "{{name}} only computes `sum` tasks");
    }
    validator_operation_free(op);
    validator_call_context_free(ctx);
    return ok;
}
