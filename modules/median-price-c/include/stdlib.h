/* Freestanding stand-in for <stdlib.h>: only what the wit-bindgen C bindings and the
 * module use. The definitions live in src/runtime.c; there is no libc in this module. */
#ifndef SPORE_FREESTANDING_STDLIB_H
#define SPORE_FREESTANDING_STDLIB_H

#include <stddef.h>

void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t new_size);
void free(void *ptr);
_Noreturn void abort(void);

#endif
