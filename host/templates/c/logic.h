/* The logic of `{{name}}`, independent of the bindings: plain C on integers and byte
 * buffers, no libc, so that tests/test.c can run it natively. */

#ifndef MODULE_LOGIC_H
#define MODULE_LOGIC_H

#include <stddef.h>
#include <stdint.h>

/* validator: the wrapping sum of `len / 8` u64 little-endian numbers, written as the sum
 * (u64 LE) then the count (u32 LE) into out[12]. Returns 0 on success, -1 if `len` is not
 * a multiple of 8. */
static inline int logic_sum(const uint8_t *input, size_t len, uint8_t out[12]) {
    if (len % 8u != 0u) {
        return -1;
    }
    uint64_t total = 0;
    for (size_t at = 0; at < len; at += 8u) {
        uint64_t word = 0;
        for (unsigned i = 0; i < 8u; i++) {
            word |= (uint64_t)input[at + i] << (8u * i);
        }
        total += word; /* unsigned: wraps */
    }
    uint32_t count = (uint32_t)(len / 8u);
    for (unsigned i = 0; i < 8u; i++) {
        out[i] = (uint8_t)(total >> (8u * i));
    }
    for (unsigned i = 0; i < 4u; i++) {
        out[8u + i] = (uint8_t)(count >> (8u * i));
    }
    return 0;
}

/* admission: how many distinct ids among `count` ids of `id_len` bytes each. */
static inline size_t logic_distinct(const uint8_t *const ids[], const size_t lens[], size_t count) {
    size_t distinct = 0;
    for (size_t i = 0; i < count; i++) {
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) {
            if (lens[i] == lens[j]) {
                size_t k = 0;
                while (k < lens[i] && ids[i][k] == ids[j][k]) {
                    k++;
                }
                seen = k == lens[i];
            }
        }
        distinct += !seen;
    }
    return distinct;
}

/* resolver: the index (0 primary, 1 seed, 2 latent) of the layer to accept, or -1 to
 * escalate: the revealed result with the most confidence (ties to the earlier layer), if
 * it holds more than 5000 bps. `best` receives the index of the strongest revealed
 * result (-1 if none). */
static inline int logic_resolve(const int revealed[3], const uint32_t confidence[3], int *best) {
    *best = -1;
    for (int i = 0; i < 3; i++) {
        if (revealed[i] && (*best < 0 || confidence[i] > confidence[*best])) {
            *best = i;
        }
    }
    return (*best >= 0 && confidence[*best] > 5000u) ? *best : -1;
}

#endif
