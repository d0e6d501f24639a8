/* detshim.so: LD_PRELOAD shim that makes a pre-initialiser's view of the host
 * deterministic, for reproducible WebAssembly component builds (x86_64 glibc).
 *
 * Used for wizer (componentize-js) and componentize-py, whose embedded wasmtime hands
 * host randomness, clocks and file times to the guest (SpiderMonkey / CPython) while
 * it pre-initialises; the guest bakes them into its heap snapshot.
 *
 *  - getrandom()/getentropy()/syscall(SYS_getrandom): every call returns the same
 *    fixed byte stream (byte i of the buffer = f(i)), independent of call order/thread.
 *  - clock_gettime(): CLOCK_REALTIME* = SOURCE_DATE_EPOCH (default 0); every other
 *    clock (monotonic, cputime, ...) = a constant 1 s.
 *  - stat/lstat/fstat/fstatat (also the old __xstat* ABI and the *64 names) and
 *    statx()/syscall(SYS_statx): every file time (atime, mtime, ctime, btime) reads as
 *    SOURCE_DATE_EPOCH, the device is one fixed number and the inode number is a hash
 *    of the file's path.
 * A constructor reads SOURCE_DATE_EPOCH; if DETSHIM_SCRUB is set it then removes
 * DETSHIM_SCRUB, SOURCE_DATE_EPOCH and LD_PRELOAD from the environment, so that a tool
 * that passes its environment to the guest (wizer --inherit-env=true) passes none of
 * them (use it only on the final executable: child processes lose the shim).
 *
 * Build: gcc -O2 -shared -fPIC -o detshim.so detshim.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <sys/stat.h>

static long long epoch;

__attribute__((constructor)) static void init(void) {
    const char *s = getenv("SOURCE_DATE_EPOCH");
    epoch = s ? strtoll(s, NULL, 10) : 0;
    if (getenv("DETSHIM_SCRUB")) {
        unsetenv("DETSHIM_SCRUB");
        unsetenv("SOURCE_DATE_EPOCH");
        unsetenv("LD_PRELOAD");
    }
}

/* ---- randomness ---------------------------------------------------------------- */

static uint64_t splitmix(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static void fill(void *buf, size_t len) {
    unsigned char *p = buf;
    for (size_t i = 0; i < len; i++) p[i] = (unsigned char)(splitmix(i / 8) >> (8 * (i % 8)));
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)flags;
    fill(buf, len);
    return (ssize_t)len;
}

int getentropy(void *buf, size_t len) {
    if (len > 256) { errno = EIO; return -1; }
    fill(buf, len);
    return 0;
}

/* ---- clocks -------------------------------------------------------------------- */

int clock_gettime(clockid_t clk, struct timespec *ts) {
    ts->tv_sec = (clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE) ? epoch : 1;
    ts->tv_nsec = 0;
    return 0;
}

/* ---- file times ---------------------------------------------------------------- */

/* Inode numbers: fresh files get fresh inodes, and wasmtime-wasi derives the guest's
 * st_ino (its metadata hash) from (dev, ino). Report one fixed device and, as inode, a
 * hash of the file's path (for fd-based calls: the path /proc/self/fd/N links to), so
 * that inodes do not depend on the host or on the order of calls. */
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>

static uint64_t path_hash(const char *s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return splitmix(h) | 1;
}

static int fd_path(int fd, char *buf, size_t len) {
    char link[64];
    if (fd == AT_FDCWD) return getcwd(buf, len) ? 0 : -1;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, len - 1);
    if (n < 0) return -1;
    buf[n] = 0;
    return 0;
}

/* Inode for (dirfd, path): path may be absolute, relative to dirfd, or empty (= dirfd). */
static uint64_t ino_at(int dirfd, const char *path, uint64_t real) {
    char buf[2 * PATH_MAX + 2];
    if (path && path[0] == '/') return path_hash(path);
    if (fd_path(dirfd, buf, PATH_MAX) != 0) return real;
    if (path && path[0]) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "/%s", path);
    }
    return path_hash(buf);
}

/* On x86_64 `struct stat` and `struct stat64` have the same layout. */
static void fix_stat(void *p, int dirfd, const char *path) {
    struct stat *st = p;
    st->st_ino = ino_at(dirfd, path, st->st_ino);
    st->st_dev = 0x801;
    st->st_atim.tv_sec = st->st_mtim.tv_sec = st->st_ctim.tv_sec = epoch;
    st->st_atim.tv_nsec = st->st_mtim.tv_nsec = st->st_ctim.tv_nsec = 0;
}

static void fix_statx(void *p, int dirfd, const char *path) {
    struct statx *sx = p;
    sx->stx_ino = ino_at(dirfd, path, sx->stx_ino);
    sx->stx_dev_major = 8; sx->stx_dev_minor = 1;
    struct statx_timestamp t = { .tv_sec = epoch, .tv_nsec = 0 };
    sx->stx_atime = sx->stx_btime = sx->stx_ctime = sx->stx_mtime = t;
}

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

typedef int (*xstat_fn)(int, const char *, void *);
typedef int (*fxstat_fn)(int, int, void *);
typedef int (*fxstatat_fn)(int, int, const char *, void *, int);
typedef int (*stat_fn)(const char *, void *);
typedef int (*fstat_fn)(int, void *);
typedef int (*fstatat_fn)(int, const char *, void *, int);
typedef int (*statx_fn)(int, const char *, int, unsigned int, void *);

#define WRAP_XSTAT(name)                                                   \
    int name(int ver, const char *path, void *st) {                        \
        static xstat_fn real;                                              \
        if (!real) real = (xstat_fn)next(#name);                           \
        int r = real(ver, path, st);                                       \
        if (r == 0) fix_stat(st, AT_FDCWD, path);                                          \
        return r;                                                          \
    }
#define WRAP_FXSTAT(name)                                                  \
    int name(int ver, int fd, void *st) {                                  \
        static fxstat_fn real;                                             \
        if (!real) real = (fxstat_fn)next(#name);                          \
        int r = real(ver, fd, st);                                         \
        if (r == 0) fix_stat(st, fd, NULL);                                          \
        return r;                                                          \
    }
#define WRAP_FXSTATAT(name)                                                \
    int name(int ver, int dirfd, const char *path, void *st, int flag) {   \
        static fxstatat_fn real;                                           \
        if (!real) real = (fxstatat_fn)next(#name);                        \
        int r = real(ver, dirfd, path, st, flag);                          \
        if (r == 0) fix_stat(st, dirfd, path);                                          \
        return r;                                                          \
    }

WRAP_XSTAT(__xstat)
WRAP_XSTAT(__xstat64)
WRAP_XSTAT(__lxstat)
WRAP_XSTAT(__lxstat64)
WRAP_FXSTAT(__fxstat)
WRAP_FXSTAT(__fxstat64)
WRAP_FXSTATAT(__fxstatat)
WRAP_FXSTATAT(__fxstatat64)

#define WRAP_STAT_T(name, T)                                               \
    int name(const char *path, T *st) {                                    \
        static stat_fn real;                                               \
        if (!real) real = (stat_fn)next(#name);                            \
        int r = real(path, st);                                            \
        if (r == 0) fix_stat(st, AT_FDCWD, path);                                          \
        return r;                                                          \
    }
#define WRAP_FSTAT_T(name, T)                                              \
    int name(int fd, T *st) {                                              \
        static fstat_fn real;                                              \
        if (!real) real = (fstat_fn)next(#name);                           \
        int r = real(fd, st);                                              \
        if (r == 0) fix_stat(st, fd, NULL);                                          \
        return r;                                                          \
    }
#define WRAP_FSTATAT_T(name, T)                                            \
    int name(int dirfd, const char *path, T *st, int flag) {               \
        static fstatat_fn real;                                            \
        if (!real) real = (fstatat_fn)next(#name);                         \
        int r = real(dirfd, path, st, flag);                               \
        if (r == 0) fix_stat(st, dirfd, path);                                          \
        return r;                                                          \
    }
WRAP_STAT_T(stat, struct stat)
WRAP_STAT_T(stat64, struct stat64)
WRAP_STAT_T(lstat, struct stat)
WRAP_STAT_T(lstat64, struct stat64)
WRAP_FSTAT_T(fstat, struct stat)
WRAP_FSTAT_T(fstat64, struct stat64)
WRAP_FSTATAT_T(fstatat, struct stat)
WRAP_FSTATAT_T(fstatat64, struct stat64)

int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx) {
    static statx_fn real;
    if (!real) real = (statx_fn)next("statx");
    int r = real(dirfd, path, flags, mask, sx);
    if (r == 0) fix_statx(sx, dirfd, path);
    return r;
}

/* ---- raw syscalls (Rust's getrandom crate and std's statx go through here) ---- */

long syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_getrandom) {
        fill((void *)a[0], (size_t)a[1]);
        return a[1];
    }
    static long (*real)(long, ...);
    if (!real) real = (long (*)(long, ...))next("syscall");
    long r = real(n, a[0], a[1], a[2], a[3], a[4], a[5]);
    if (n == SYS_statx && r == 0) fix_statx((void *)a[4], (int)a[0], (const char *)a[1]);
    return r;
}
