//! The power-cut simulator's recorder: an LD_PRELOAD library that logs every
//! call by which a process changes files under one folder, and every
//! durability barrier it asks for, in the order they happen.
//!
//! Written in C and compiled by the test with the machine's `cc` (the linker
//! rustc already needs): interposing libc is unsafe FFI from end to end, and
//! the workspace forbids `unsafe` in Rust.
//!
//! Environment: CAHIER_TRACE_ROOT (absolute, normalised folder: only files
//! under it are logged) and CAHIER_TRACE_LOG (the log file). Each record is
//! little-endian: u8 op, u64 inode, u64 a, u64 b, u32 path1 length, u32 path2
//! length, u64 data length, then path1, path2, data. The ops and what a and b
//! mean are listed in `enum op` and read by `crates/cahier-powercut/src/trace.rs`.
//! Every wrapped call and its record happen under one lock, so the log's
//! order is the order in which the calls took effect.

#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

enum op {
    OP_OPEN = 1,      /* path1, inode, a = 1 if the call created the file */
    OP_WRITE = 2,     /* inode, a = offset, data */
    OP_TRUNCATE = 3,  /* inode, a = new size */
    OP_FSYNC = 4,     /* inode, a = 1 for a directory, path1 = its path at open */
    OP_FDATASYNC = 5, /* same fields as OP_FSYNC */
    OP_SYNC_RANGE = 6, /* sync_file_range: inode, a = offset, b = length */
    OP_RENAME = 7,    /* path1 -> path2 */
    OP_UNLINK = 8,    /* path1 */
    OP_MKDIR = 9,     /* path1 */
    OP_RMDIR = 10,    /* path1 */
    OP_SYNC_ALL = 11, /* sync() or syncfs(): everything is durable */
    OP_EXTEND = 12,   /* fallocate that grows the file: inode, a = new minimum size */
    OP_UNSUPPORTED = 13, /* path1 = the call, which the simulator cannot model */
};

#define MAX_FD 65536

struct fd_entry {
    uint64_t ino;
    char *path; /* NULL: not traced */
    int is_dir;
};

static struct fd_entry fds[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *root;
static size_t root_len;
static int log_fd = -1;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdirat)(int, const char *, mode_t);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_truncate)(const char *, off_t);

static void *need(const char *name) {
    void *f = dlsym(RTLD_NEXT, name);
    if (!f) {
        static const char msg[] = "cahier trace shim: a libc function is missing\n";
        ssize_t ignored = syscall(1, 2, msg, sizeof msg - 1);
        (void)ignored;
        abort();
    }
    return f;
}

__attribute__((constructor)) static void init(void) {
    real_open = need("open64");
    real_openat = need("openat64");
    real_write = need("write");
    real_writev = need("writev");
    real_pwrite = need("pwrite64");
    real_pwritev = need("pwritev64");
    real_pwritev2 = need("pwritev64v2");
    real_ftruncate = need("ftruncate64");
    real_fallocate = need("fallocate64");
    real_posix_fallocate = need("posix_fallocate64");
    real_fsync = need("fsync");
    real_fdatasync = need("fdatasync");
    real_sync_file_range = need("sync_file_range");
    real_sync = need("sync");
    real_syncfs = need("syncfs");
    real_renameat2 = need("renameat2");
    real_unlinkat = need("unlinkat");
    real_mkdirat = need("mkdirat");
    real_close = need("close");
    real_dup = need("dup");
    real_dup3 = need("dup3");
    real_fcntl = need("fcntl64");
    real_mmap = need("mmap64");
    real_truncate = need("truncate64");
    const char *r = getenv("CAHIER_TRACE_ROOT");
    const char *l = getenv("CAHIER_TRACE_LOG");
    if (!r || !l) return;
    root = strdup(r);
    root_len = strlen(root);
    log_fd = real_open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void put(char **p, const void *src, size_t n) {
    memcpy(*p, src, n);
    *p += n;
}

static void emit(uint8_t op, uint64_t ino, uint64_t a, uint64_t b, const char *p1, const char *p2,
                 const void *data, uint64_t dlen) {
    if (log_fd < 0) return;
    uint32_t l1 = p1 ? strlen(p1) : 0, l2 = p2 ? strlen(p2) : 0;
    char head[1 + 8 * 3 + 4 * 2 + 8];
    char *p = head;
    put(&p, &op, 1);
    put(&p, &ino, 8);
    put(&p, &a, 8);
    put(&p, &b, 8);
    put(&p, &l1, 4);
    put(&p, &l2, 4);
    put(&p, &dlen, 8);
    struct iovec iov[4] = {{head, sizeof head}, {(void *)p1, l1}, {(void *)p2, l2}, {(void *)data, dlen}};
    /* The log is appended whole or the run is void: retry short writes. */
    size_t total = sizeof head + l1 + l2 + dlen;
    size_t done = 0;
    int start = 0;
    while (done < total) {
        ssize_t n = real_writev(log_fd, iov + start, 4 - start);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            abort();
        }
        done += n;
        while (start < 4 && (size_t)n >= iov[start].iov_len) {
            n -= iov[start].iov_len;
            start++;
        }
        if (start < 4) {
            iov[start].iov_base = (char *)iov[start].iov_base + n;
            iov[start].iov_len -= n;
        }
    }
}

/* An absolute, normalised path for `path` relative to `dirfd`; malloc'd. */
static char *resolve(int dirfd, const char *path) {
    char base[4096];
    const char *joined = path;
    char *buf = NULL;
    if (path[0] != '/') {
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base)) return NULL;
        } else if (dirfd >= 0 && dirfd < MAX_FD && fds[dirfd].path) {
            strncpy(base, fds[dirfd].path, sizeof base - 1);
            base[sizeof base - 1] = 0;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0) return NULL;
            base[n] = 0;
        }
        size_t n = strlen(base) + strlen(path) + 2;
        buf = malloc(n);
        if (!buf) return NULL;
        snprintf(buf, n, "%s/%s", base, path);
        joined = buf;
    }
    size_t n = strlen(joined);
    char *out = malloc(n + 2);
    if (!out) {
        free(buf);
        return NULL;
    }
    size_t o = 0;
    const char *s = joined;
    while (*s) {
        while (*s == '/') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != '/') e++;
        size_t len = e - s;
        if (len == 1 && s[0] == '.') {
        } else if (len == 2 && s[0] == '.' && s[1] == '.') {
            while (o > 0 && out[o - 1] != '/') o--;
            if (o > 0) o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, s, len);
            o += len;
        }
        s = e;
    }
    if (o == 0) out[o++] = '/';
    out[o] = 0;
    free(buf);
    return out;
}

static int under_root(const char *abs) {
    return root && abs && strncmp(abs, root, root_len) == 0 && (abs[root_len] == '/' || abs[root_len] == 0);
}

static void forget(int fd) {
    if (fd >= 0 && fd < MAX_FD && fds[fd].path) {
        free(fds[fd].path);
        fds[fd].path = NULL;
    }
}

static void remember(int fd, const char *abs) {
    struct stat st;
    if (fd < 0 || fd >= MAX_FD || fstat(fd, &st) != 0) return;
    forget(fd);
    fds[fd].path = strdup(abs);
    fds[fd].ino = st.st_ino;
    fds[fd].is_dir = S_ISDIR(st.st_mode);
}

static struct fd_entry *traced(int fd) {
    return (fd >= 0 && fd < MAX_FD && fds[fd].path) ? &fds[fd] : NULL;
}

static int do_open(int dirfd, const char *path, int flags, mode_t mode) {
    pthread_mutex_lock(&lock);
    char *abs = resolve(dirfd, path);
    int tr = under_root(abs);
    int existed = 1;
    if (tr && (flags & O_CREAT)) {
        existed = access(abs, F_OK) == 0;
    }
    int fd = real_openat(dirfd, path, flags, mode);
    if (fd >= 0) {
        forget(fd);
        if (tr) {
            remember(fd, abs);
            struct fd_entry *e = traced(fd);
            if (e) {
                emit(OP_OPEN, e->ino, !existed, 0, abs, NULL, NULL, 0);
                if ((flags & O_TRUNC) && existed) emit(OP_TRUNCATE, e->ino, 0, 0, NULL, NULL, NULL, 0);
            }
        }
    }
    int saved = errno;
    free(abs);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return fd;
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & (O_CREAT | O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, m);
}
int open64(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(AT_FDCWD, path, flags, m);
}
int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, m);
}
int openat64(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t m = mode_arg(flags, ap);
    va_end(ap);
    return do_open(dirfd, path, flags, m);
}
int creat(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }
int creat64(const char *path, mode_t mode) { return do_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode); }

/* Where a plain write() to `fd` lands. */
static off_t position(int fd) {
    int fl = real_fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_APPEND)) {
        struct stat st;
        if (fstat(fd, &st) == 0) return st.st_size;
    }
    return lseek(fd, 0, SEEK_CUR);
}

static void emit_iov(uint64_t ino, off_t off, const struct iovec *iov, int cnt, ssize_t n) {
    char *buf = malloc(n > 0 ? n : 1);
    if (!buf) abort();
    ssize_t done = 0;
    for (int i = 0; i < cnt && done < n; i++) {
        size_t take = iov[i].iov_len;
        if ((ssize_t)take > n - done) take = n - done;
        memcpy(buf + done, iov[i].iov_base, take);
        done += take;
    }
    emit(OP_WRITE, ino, off, 0, NULL, NULL, buf, n);
    free(buf);
}

ssize_t write(int fd, const void *data, size_t len) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    off_t off = e ? position(fd) : 0;
    ssize_t n = real_write(fd, data, len);
    int saved = errno;
    if (e && n > 0) emit(OP_WRITE, e->ino, off, 0, NULL, NULL, data, n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    off_t off = e ? position(fd) : 0;
    ssize_t n = real_writev(fd, iov, cnt);
    int saved = errno;
    if (e && n > 0) emit_iov(e->ino, off, iov, cnt, n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}

static ssize_t do_pwrite(int fd, const void *data, size_t len, off_t off) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    ssize_t n = real_pwrite(fd, data, len, off);
    int saved = errno;
    if (e && n > 0) emit(OP_WRITE, e->ino, off, 0, NULL, NULL, data, n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}
ssize_t pwrite(int fd, const void *data, size_t len, off_t off) { return do_pwrite(fd, data, len, off); }
ssize_t pwrite64(int fd, const void *data, size_t len, off_t off) { return do_pwrite(fd, data, len, off); }

static ssize_t do_pwritev(int fd, const struct iovec *iov, int cnt, off_t off, int flags, int v2) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    off_t at = off == -1 ? (e ? position(fd) : 0) : off;
    ssize_t n = v2 ? real_pwritev2(fd, iov, cnt, off, flags) : real_pwritev(fd, iov, cnt, off);
    int saved = errno;
    if (e && n > 0) emit_iov(e->ino, at, iov, cnt, n);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return n;
}
ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off) { return do_pwritev(fd, iov, cnt, off, 0, 0); }
ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off) { return do_pwritev(fd, iov, cnt, off, 0, 0); }
ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    return do_pwritev(fd, iov, cnt, off, flags, 1);
}
ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off_t off, int flags) {
    return do_pwritev(fd, iov, cnt, off, flags, 1);
}

static int do_ftruncate(int fd, off_t len) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    int r = real_ftruncate(fd, len);
    int saved = errno;
    if (e && r == 0) emit(OP_TRUNCATE, e->ino, len, 0, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int ftruncate(int fd, off_t len) { return do_ftruncate(fd, len); }
int ftruncate64(int fd, off_t len) { return do_ftruncate(fd, len); }

static int do_truncate(const char *path, off_t len) {
    pthread_mutex_lock(&lock);
    char *abs = resolve(AT_FDCWD, path);
    int r = real_truncate(path, len);
    int saved = errno;
    if (r == 0 && under_root(abs)) emit(OP_UNSUPPORTED, 0, 0, 0, "truncate", abs, NULL, 0);
    free(abs);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int truncate(const char *path, off_t len) { return do_truncate(path, len); }
int truncate64(const char *path, off_t len) { return do_truncate(path, len); }

static int do_fallocate(int fd, int mode, off_t off, off_t len) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    int r = real_fallocate(fd, mode, off, len);
    int saved = errno;
    if (e && r == 0) {
        if (mode == 0) emit(OP_EXTEND, e->ino, off + len, 0, NULL, NULL, NULL, 0);
        else if (mode != FALLOC_FL_KEEP_SIZE) emit(OP_UNSUPPORTED, e->ino, mode, 0, "fallocate", e->path, NULL, 0);
    }
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int fallocate(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len); }
int fallocate64(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len); }

static int do_posix_fallocate(int fd, off_t off, off_t len) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    int r = real_posix_fallocate(fd, off, len);
    if (e && r == 0) emit(OP_EXTEND, e->ino, off + len, 0, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    return r;
}
int posix_fallocate(int fd, off_t off, off_t len) { return do_posix_fallocate(fd, off, len); }
int posix_fallocate64(int fd, off_t off, off_t len) { return do_posix_fallocate(fd, off, len); }

static int do_sync(int fd, uint8_t op) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    int r = op == OP_FSYNC ? real_fsync(fd) : real_fdatasync(fd);
    int saved = errno;
    if (e && r == 0) emit(op, e->ino, e->is_dir, 0, e->path, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int fsync(int fd) { return do_sync(fd, OP_FSYNC); }
int fdatasync(int fd) { return do_sync(fd, OP_FDATASYNC); }

int sync_file_range(int fd, off_t off, off_t len, unsigned int flags) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    int r = real_sync_file_range(fd, off, len, flags);
    int saved = errno;
    if (e && r == 0) emit(OP_SYNC_RANGE, e->ino, off, len, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

void sync(void) {
    pthread_mutex_lock(&lock);
    real_sync();
    emit(OP_SYNC_ALL, 0, 0, 0, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
}

int syncfs(int fd) {
    pthread_mutex_lock(&lock);
    int r = real_syncfs(fd);
    int saved = errno;
    if (r == 0) emit(OP_SYNC_ALL, 0, 0, 0, NULL, NULL, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

static int do_rename(int fd1, const char *from, int fd2, const char *to, unsigned int flags) {
    pthread_mutex_lock(&lock);
    char *a = resolve(fd1, from), *b = resolve(fd2, to);
    int r = real_renameat2(fd1, from, fd2, to, flags);
    int saved = errno;
    if (r == 0 && (under_root(a) || under_root(b))) {
        if (flags & RENAME_EXCHANGE) emit(OP_UNSUPPORTED, 0, 0, 0, "renameat2 RENAME_EXCHANGE", a, NULL, 0);
        else emit(OP_RENAME, 0, 0, 0, a, b, NULL, 0);
    }
    free(a);
    free(b);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int rename(const char *from, const char *to) { return do_rename(AT_FDCWD, from, AT_FDCWD, to, 0); }
int renameat(int fd1, const char *from, int fd2, const char *to) { return do_rename(fd1, from, fd2, to, 0); }
int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags) {
    return do_rename(fd1, from, fd2, to, flags);
}

static int do_unlink(int dirfd, const char *path, int flags) {
    pthread_mutex_lock(&lock);
    char *abs = resolve(dirfd, path);
    int r = real_unlinkat(dirfd, path, flags);
    int saved = errno;
    if (r == 0 && under_root(abs)) emit((flags & AT_REMOVEDIR) ? OP_RMDIR : OP_UNLINK, 0, 0, 0, abs, NULL, NULL, 0);
    free(abs);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int unlink(const char *path) { return do_unlink(AT_FDCWD, path, 0); }
int unlinkat(int dirfd, const char *path, int flags) { return do_unlink(dirfd, path, flags); }
int rmdir(const char *path) { return do_unlink(AT_FDCWD, path, AT_REMOVEDIR); }

static int do_mkdir(int dirfd, const char *path, mode_t mode) {
    pthread_mutex_lock(&lock);
    char *abs = resolve(dirfd, path);
    int r = real_mkdirat(dirfd, path, mode);
    int saved = errno;
    if (r == 0 && under_root(abs)) emit(OP_MKDIR, 0, 0, 0, abs, NULL, NULL, 0);
    free(abs);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int mkdir(const char *path, mode_t mode) { return do_mkdir(AT_FDCWD, path, mode); }
int mkdirat(int dirfd, const char *path, mode_t mode) { return do_mkdir(dirfd, path, mode); }

int close(int fd) {
    pthread_mutex_lock(&lock);
    forget(fd);
    int r = real_close(fd);
    int saved = errno;
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

static void copy_entry(int from, int to) {
    forget(to);
    struct fd_entry *e = traced(from);
    if (e && to >= 0 && to < MAX_FD) {
        fds[to] = *e;
        fds[to].path = strdup(e->path);
    }
}

int dup(int fd) {
    pthread_mutex_lock(&lock);
    int r = real_dup(fd);
    int saved = errno;
    if (r >= 0) copy_entry(fd, r);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int dup2(int fd, int to) {
    pthread_mutex_lock(&lock);
    int r = fd == to ? real_fcntl(fd, F_GETFD) < 0 ? -1 : to : real_dup3(fd, to, 0);
    int saved = errno;
    if (r >= 0 && fd != to) copy_entry(fd, r);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int dup3(int fd, int to, int flags) {
    pthread_mutex_lock(&lock);
    int r = real_dup3(fd, to, flags);
    int saved = errno;
    if (r >= 0) copy_entry(fd, r);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}

static int do_fcntl(int fd, int cmd, void *arg) {
    /* F_SETLKW may block: never hold the lock across it. */
    if (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC) return real_fcntl(fd, cmd, arg);
    pthread_mutex_lock(&lock);
    int r = real_fcntl(fd, cmd, arg);
    int saved = errno;
    if (r >= 0) copy_entry(fd, r);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}
int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    pthread_mutex_lock(&lock);
    struct fd_entry *e = traced(fd);
    void *r = real_mmap(addr, len, prot, flags, fd, off);
    int saved = errno;
    /* Writes through a shared mapping bypass every call above. */
    if (e && r != MAP_FAILED && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        emit(OP_UNSUPPORTED, e->ino, 0, 0, "mmap shared writable", e->path, NULL, 0);
    pthread_mutex_unlock(&lock);
    errno = saved;
    return r;
}
void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return do_mmap(addr, len, prot, flags, fd, off);
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return do_mmap(addr, len, prot, flags, fd, off);
}
