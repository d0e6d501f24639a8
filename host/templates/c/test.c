/* Native tests of src/logic.h: `spore module test` compiles this file for the machine
 * it runs on and runs it. Exit status 0 = every check passed. */

#include <stdio.h>
#include <string.h>

#include "../src/logic.h"

static int failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                      \
        }                                                                    \
    } while (0)

int main(void) {
    /* sum: u64::MAX + 2 wraps to 1, count 2. */
    uint8_t input[16];
    memset(input, 0xff, 8);
    memset(input + 8, 0, 8);
    input[8] = 2;
    uint8_t out[12];
    CHECK(logic_sum(input, 16, out) == 0);
    CHECK(out[0] == 1 && out[1] == 0 && out[8] == 2 && out[9] == 0);
    CHECK(logic_sum(input, 3, out) == -1);

    /* distinct sponsors */
    const uint8_t a[] = {1, 2}, b[] = {1, 3};
    const uint8_t *ids[] = {a, b, a};
    const size_t lens[] = {2, 2, 2};
    CHECK(logic_distinct(ids, lens, 3) == 2);
    CHECK(logic_distinct(ids, lens, 0) == 0);

    /* resolve */
    int best;
    const int revealed[3] = {1, 1, 0};
    const uint32_t strong[3] = {4000, 6000, 9000};
    CHECK(logic_resolve(revealed, strong, &best) == 1 && best == 1);
    const uint32_t weak[3] = {4000, 5000, 9000};
    CHECK(logic_resolve(revealed, weak, &best) == -1 && best == 1);

    if (failures != 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
