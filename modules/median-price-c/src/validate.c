/* The `validate` export of the validator world: accepts only `compute` operations of kind
 * "median-price" and answers with the median-price result or a typed rejection.
 *
 * Every rejection reason is the Rust twin's (modules/median-price/src/lib.rs) byte for
 * byte, since the agreed outcome of a call includes it.
 *
 * Ownership follows the wit-bindgen C conventions: the export owns its arguments and
 * frees them; the result bytes and the rejection reason are heap blocks that the
 * generated post-return function frees. */

#include <stdlib.h>
#include <string.h>

#include "median.h"
#include "validator.h"

static const char KIND[] = "median-price";

/* Fill `err` with `code` and a heap copy of the concatenation of `parts` (byte strings of
 * the given lengths); trap if the heap is exhausted. */
static void reject_parts(validator_rejection_t *err, spore_policy_types_rejection_code_t code,
                         const uint8_t *const parts[], const size_t lens[], size_t count) {
    size_t len = 0;
    for (size_t i = 0; i < count; i++) {
        len += lens[i];
    }
    uint8_t *reason = malloc(len == 0u ? 1u : len);
    if (reason == NULL) {
        abort();
    }
    size_t at = 0;
    for (size_t i = 0; i < count; i++) {
        memcpy(reason + at, parts[i], lens[i]);
        at += lens[i];
    }
    err->code = code;
    err->reason.ptr = reason;
    err->reason.len = len;
}

/* Fill `err` with `code` and a heap copy of the NUL-terminated `reason`. */
static void reject(validator_rejection_t *err, spore_policy_types_rejection_code_t code,
                   const char *reason) {
    const uint8_t *parts[] = {(const uint8_t *)reason};
    size_t lens[] = {strlen(reason)};
    reject_parts(err, code, parts, lens, 1u);
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
        /* The same words as the Rust twin: "compute kind `<kind>` is not `median-price`". */
        static const char before[] = "compute kind `";
        static const char after[] = "` is not `median-price`";
        const uint8_t *parts[] = {(const uint8_t *)before, task->kind.ptr, (const uint8_t *)after};
        size_t lens[] = {sizeof(before) - 1u, task->kind.len, sizeof(after) - 1u};
        reject_parts(err, SPORE_POLICY_TYPES_REJECTION_CODE_UNSUPPORTED, parts, lens, 3u);
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
        end = put_str(end, "reporter ");
        end = put_u64(end, duplicate);
        end = put_str(end, " reported more than once");
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
               "median-price only computes `compute` operations");
        accepted = false;
    }
    validator_operation_free(op);
    validator_call_context_free(ctx);
    return accepted;
}
