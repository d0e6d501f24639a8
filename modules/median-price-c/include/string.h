/* Freestanding stand-in for <string.h>: only what the wit-bindgen C bindings and the
 * module use. The definitions live in src/runtime.c; there is no libc in this module. */
#ifndef SPORE_FREESTANDING_STRING_H
#define SPORE_FREESTANDING_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int byte, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
