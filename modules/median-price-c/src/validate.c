/* The `validate` export of the validator world: accepts only `compute` operations of kind
 * "median-price" and answers with the median-price result or a typed rejection.
 *
 * Ownership follows the wit-bindgen C conventions: the export owns its arguments and
 * frees them; the result bytes and the rejection reason are heap blocks that the
 * generated post-return function frees. */

#include <stdlib.h>
#include <string.h>

#include "median.h"
#include "validator.h"

static const char KIND[] = "median-price";

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

/* Append the decimal form of `v` at `p`; return the position after it. */
static char *put_u64(char *p, uint64_t v) {
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + (int)(v % 10u));
        v /= 10u;
    } while (v != 0u);
    while (n > 0u) {
        *p++ = digits[--n];
    }
    return p;
}

/* Append the NUL-terminated `s` at `p`; return the position after it. */
static char *put_str(char *p, const char *s) {
    while (*s != '\0') {
        *p++ = *s++;
    }
    return p;
}

static int is_median_kind(const validator_string_t *kind) {
    return kind->len == sizeof(KIND) - 1u && memcmp(kind->ptr, KIND, kind->len) == 0;
}

/* Run the computation on a compute task; return true with `ok` filled on success. */
static bool compute(const spore_policy_types_compute_task_t *task, validator_list_u8_t *ok,
                    validator_rejection_t *err) {
    if (!is_median_kind(&task->kind)) {
        reject(err, SPORE_POLICY_TYPES_REJECTION_CODE_UNSUPPORTED,
               "unsupported compute kind");
        return false;
    }
    uint8_t *out = malloc(MEDIAN_RESULT_LEN);
    if (out == NULL) {
        abort();
    }
    uint64_t duplicate = 0;
    char reason[96];
    char *end = reason;
    switch (median_price(task->input.ptr, task->input.len, out, &duplicate)) {
    case MEDIAN_OK:
        ok->ptr = out;
        ok->len = MEDIAN_RESULT_LEN;
        return true;
    case MEDIAN_ERR_LENGTH:
        end = put_str(end, "input length ");
        end = put_u64(end, task->input.len);
        end = put_str(end, " is not a multiple of 16");
        break;
    case MEDIAN_ERR_EMPTY:
        end = put_str(end, "no price reports");
        break;
    case MEDIAN_ERR_DUPLICATE:
        end = put_str(end, "duplicate reporter ");
        end = put_u64(end, duplicate);
        break;
    case MEDIAN_ERR_MEMORY:
        /* Out of memory is the host's limit at work: trap, as the Rust twin does. */
        abort();
    }
    *end = '\0';
    reject(err, SPORE_POLICY_TYPES_REJECTION_CODE_MALFORMED, reason);
    return false;
}

bool exports_validator_validate(validator_operation_t *op, validator_call_context_t *ctx,
                                validator_list_u8_t *ok, validator_rejection_t *err) {
    bool accepted;
    if (op->tag == SPORE_POLICY_TYPES_OPERATION_COMPUTE) {
        accepted = compute(&op->val.compute, ok, err);
    } else {
        reject(err, SPORE_POLICY_TYPES_REJECTION_CODE_UNSUPPORTED,
               "median-price only accepts compute operations");
        accepted = false;
    }
    validator_operation_free(op);
    validator_call_context_free(ctx);
    return accepted;
}
