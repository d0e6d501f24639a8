/* The freestanding runtime of the module: a bump allocator over linear memory and the few
 * libc functions the wit-bindgen C bindings call (malloc, calloc, realloc, free, abort,
 * memcpy, memmove, memset, memcmp, strlen).
 *
 * Design: the host instantiates a fresh instance for every call and drops it afterwards,
 * so a heap that never returns memory to a free list is enough and keeps the module
 * small and deterministic. `free` and `realloc` of the most recent block are exact (the
 * block is rolled back or grown in place); any other `free` is a no-op whose memory is
 * reclaimed when the instance is dropped. Memory is grown with `memory.grow`; when the
 * host's memory limit refuses, malloc returns NULL and the callers reject or trap. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every block starts ALIGN-aligned: enough for every canonical-ABI type (max 8). */
#define ALIGN 16u
#define PAGE 65536u

/* Set by wasm-ld: the first byte after the stack and static data. */
extern unsigned char __heap_base;

/* Each block is preceded by a header holding its usable size. */
typedef struct {
    size_t size;
    size_t pad[(ALIGN - sizeof(size_t)) / sizeof(size_t)];
} header_t;

static uintptr_t heap_next; /* first free byte; 0 until the first allocation */
static uintptr_t last_block; /* payload address of the most recent block, or 0 */

static uintptr_t align_up(uintptr_t value) {
    return (value + (ALIGN - 1u)) & ~(uintptr_t)(ALIGN - 1u);
}

/* Make sure [0, end) is backed by linear memory; return 0 if the host refuses. */
static int ensure_memory(uintptr_t end) {
    uintptr_t have = (uintptr_t)__builtin_wasm_memory_size(0) * PAGE;
    if (end <= have) {
        return 1;
    }
    uintptr_t missing = end - have;
    uintptr_t pages = missing / PAGE + (missing % PAGE != 0u);
    return __builtin_wasm_memory_grow(0, pages) != (size_t)-1;
}

void *malloc(size_t size) {
    if (heap_next == 0u) {
        heap_next = align_up((uintptr_t)&__heap_base);
    }
    uintptr_t payload = heap_next + sizeof(header_t);
    /* Reject sizes whose rounded end would wrap the 32-bit address space. */
    if (size > (uintptr_t)-1 - payload - ALIGN) {
        return NULL;
    }
    uintptr_t end = align_up(payload + size);
    if (!ensure_memory(end)) {
        return NULL;
    }
    ((header_t *)heap_next)->size = size;
    heap_next = end;
    last_block = payload;
    return (void *)payload;
}

void *calloc(size_t count, size_t size) {
    if (size != 0u && count > (size_t)-1 / size) {
        return NULL;
    }
    void *block = malloc(count * size);
    if (block != NULL) {
        memset(block, 0, count * size);
    }
    return block;
}

void free(void *ptr) {
    if (ptr != NULL && (uintptr_t)ptr == last_block) {
        heap_next = last_block - sizeof(header_t);
        last_block = 0u;
    }
}

void *realloc(void *ptr, size_t new_size) {
    if (ptr == NULL) {
        return malloc(new_size);
    }
    header_t *header = (header_t *)((uintptr_t)ptr - sizeof(header_t));
    if ((uintptr_t)ptr == last_block) {
        /* The most recent block grows or shrinks in place. */
        if (new_size > (uintptr_t)-1 - (uintptr_t)ptr - ALIGN) {
            return NULL;
        }
        uintptr_t end = align_up((uintptr_t)ptr + new_size);
        if (!ensure_memory(end)) {
            return NULL;
        }
        header->size = new_size;
        heap_next = end;
        return ptr;
    }
    void *moved = malloc(new_size);
    if (moved != NULL) {
        size_t old_size = header->size;
        memcpy(moved, ptr, old_size < new_size ? old_size : new_size);
    }
    return moved;
}

_Noreturn void abort(void) {
    __builtin_trap();
}

/* With the bulk-memory feature these builtins lower to memory.copy / memory.fill, so they
 * cannot recurse into the functions they implement. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
    __builtin_memmove(dst, src, n);
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    __builtin_memmove(dst, src, n);
    return dst;
}

void *memset(void *dst, int byte, size_t n) {
    __builtin_memset(dst, byte, n);
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a;
    const unsigned char *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}
