/* The median-price computation, independent of the component bindings.
 *
 * Input: N reports of 16 bytes, each the reporter index (u64 LE) then the price (i64 LE).
 * Output: the median of the reports that survive outlier removal (i64 LE), then how many
 * were kept (u32 LE), then how many were dropped (u32 LE): MEDIAN_RESULT_LEN bytes. */
#ifndef SPORE_MEDIAN_PRICE_MEDIAN_H
#define SPORE_MEDIAN_PRICE_MEDIAN_H

#include <stddef.h>
#include <stdint.h>

/* Size of one encoded report. */
#define MEDIAN_REPORT_LEN 16u
/* Size of the encoded result. */
#define MEDIAN_RESULT_LEN 16u

/* Outcome of median_price(). */
typedef enum {
    /* The result was written. */
    MEDIAN_OK = 0,
    /* The input length is not a multiple of MEDIAN_REPORT_LEN. */
    MEDIAN_ERR_LENGTH,
    /* The input holds no report. */
    MEDIAN_ERR_EMPTY,
    /* Two reports carry the same reporter index (stored in *duplicate). */
    MEDIAN_ERR_DUPLICATE,
    /* The heap could not hold the working arrays. */
    MEDIAN_ERR_MEMORY,
} median_status_t;

/* Compute the median price of `input` into `out` (MEDIAN_RESULT_LEN bytes).
 *
 * Rules: the median is the lower median for even counts; MAD is the lower median of
 * |price - median|; reports with |price - median| > 3 * MAD are dropped (none when MAD is
 * 0); the result is the lower median of the kept prices. Differences are computed
 * exactly over the whole i64 range. On MEDIAN_ERR_DUPLICATE, *duplicate receives the
 * smallest duplicated reporter index. */
median_status_t median_price(const uint8_t *input, size_t len, uint8_t out[MEDIAN_RESULT_LEN],
                             uint64_t *duplicate);

#endif
