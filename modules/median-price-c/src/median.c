/* The median-price computation: decoding, duplicate detection, median, MAD filter.
 *
 * Determinism: integer arithmetic only; prices are sorted as u64 keys whose order equals
 * the signed order (sign bit flipped), and |price - median| is computed in u64, where it
 * always fits, so no step can overflow. */

#include "median.h"

#include <stdlib.h>

#define SIGN_BIT 0x8000000000000000ull

static uint64_t load_u64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (unsigned i = 0; i < 8u; i++) {
        v |= (uint64_t)p[i] << (8u * i);
    }
    return v;
}

static void store_u64_le(uint8_t *p, uint64_t v) {
    for (unsigned i = 0; i < 8u; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static void store_u32_le(uint8_t *p, uint32_t v) {
    for (unsigned i = 0; i < 4u; i++) {
        p[i] = (uint8_t)(v >> (8u * i));
    }
}

static void sift_down(uint64_t *a, size_t root, size_t n) {
    for (;;) {
        size_t child = 2u * root + 1u;
        if (child >= n) {
            return;
        }
        if (child + 1u < n && a[child + 1u] > a[child]) {
            child++;
        }
        if (a[root] >= a[child]) {
            return;
        }
        uint64_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

/* In-place ascending heapsort: O(n log n) worst case, no recursion, no allocation. */
static void sort_u64(uint64_t *a, size_t n) {
    for (size_t i = n / 2u; i > 0u; i--) {
        sift_down(a, i - 1u, n);
    }
    for (size_t end = n; end > 1u; end--) {
        uint64_t t = a[0];
        a[0] = a[end - 1u];
        a[end - 1u] = t;
        sift_down(a, 0u, end - 1u);
    }
}

/* Order-preserving map between i64 and u64 keys (its own inverse). */
static uint64_t flip(uint64_t v) {
    return v ^ SIGN_BIT;
}

/* |a - b| for two prices given as sorted keys: exact, at most 2^64 - 1. */
static uint64_t distance(uint64_t key_a, uint64_t key_b) {
    return key_a >= key_b ? key_a - key_b : key_b - key_a;
}

/* d > 3 * mad, without overflowing when 3 * mad exceeds u64. */
static int beyond_three_mad(uint64_t d, uint64_t mad) {
    if (mad > UINT64_MAX / 3u) {
        return 0;
    }
    return d > 3u * mad;
}

median_status_t median_price(const uint8_t *input, size_t len, uint8_t out[MEDIAN_RESULT_LEN],
                             uint64_t *duplicate) {
    if (len % MEDIAN_REPORT_LEN != 0u) {
        return MEDIAN_ERR_LENGTH;
    }
    size_t n = len / MEDIAN_REPORT_LEN;
    if (n == 0u) {
        return MEDIAN_ERR_EMPTY;
    }
    /* n <= len / 16, so these products cannot overflow. */
    uint64_t *keys = malloc(n * sizeof(uint64_t));
    uint64_t *scratch = malloc(n * sizeof(uint64_t));
    if (keys == NULL || scratch == NULL) {
        return MEDIAN_ERR_MEMORY;
    }

    /* Duplicate reporters: sort the indices and compare neighbours. */
    for (size_t i = 0; i < n; i++) {
        scratch[i] = load_u64_le(input + i * MEDIAN_REPORT_LEN);
        keys[i] = flip(load_u64_le(input + i * MEDIAN_REPORT_LEN + 8u));
    }
    sort_u64(scratch, n);
    for (size_t i = 1; i < n; i++) {
        if (scratch[i] == scratch[i - 1u]) {
            *duplicate = scratch[i];
            return MEDIAN_ERR_DUPLICATE;
        }
    }

    sort_u64(keys, n);
    uint64_t median = keys[(n - 1u) / 2u];

    for (size_t i = 0; i < n; i++) {
        scratch[i] = distance(keys[i], median);
    }
    sort_u64(scratch, n);
    uint64_t mad = scratch[(n - 1u) / 2u];

    /* Keep the reports within 3 * MAD; `keys` stays sorted while compacting. */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (mad == 0u || !beyond_three_mad(distance(keys[i], median), mad)) {
            keys[kept++] = keys[i];
        }
    }
    /* kept >= 1: the median itself is at distance 0. */
    uint64_t result = flip(keys[(kept - 1u) / 2u]);

    store_u64_le(out, result);
    store_u32_le(out + 8u, (uint32_t)kept);
    store_u32_le(out + 12u, (uint32_t)(n - kept));
    free(scratch);
    free(keys);
    return MEDIAN_OK;
}
