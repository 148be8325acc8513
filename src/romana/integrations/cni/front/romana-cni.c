/*
 * romana-cni: the compiled front of the CNI plugin.
 *
 * A runtime starts one process per CNI command, and a Python interpreter's start alone costs
 * more than a whole ADD of the reference plugins. This program forwards the invocation to
 * romana-agent, which runs the same Python plugin code in-process, and writes back exactly what
 * the agent answers. It holds no CNI logic and never reads the network configuration.
 *
 * The socket is $ROMANA_AGENT_SOCKET when set and not empty, else ROMANA_AGENT_SOCKET_DEFAULT
 * (compile time; the agent's own default). Framing (romana/agent/cnihost.py), one per connection:
 * POST /v1/cni HTTP/1.1, body: each CNI_* variable as NAME=VALUE\0, an empty entry, stdin;
 * answer: HTTP/1.1 200 with Content-Length: n, Romana-Cni-Exit: 0|1 and Romana-Cni-Stdout-Length:
 * m <= n; body[0, m) goes to stdout, body[m, n) to stderr, and the exit code is Romana-Cni-Exit.
 *
 * Anything else (no socket, refused, timeout, another answer) execs the Python plugin, looked up
 * at run time so that the pair installs anywhere: $ROMANA_CNI_PY when set and not empty (only
 * it, and only an absolute path), else romana-cni-py beside this program's executable
 * (/proc/self/exe). Never $PATH or the working directory: this runs as root in the runtime's
 * environment, so a plugin that cannot be started is a CNI error of its own, never bypassed.
 * VERSION, no CNI_COMMAND, stdin over 1 MiB and an unusable $ROMANA_AGENT_SOCKET go to Python
 * at once: it alone answers those. The plugin gets the same argv and environment and exactly
 * the runtime's stdin (fd 0 untouched when nothing was read, else replayed from a memfd).
 *
 * A front installed alone, with no romana-cni-py beside it and no $ROMANA_CNI_PY (a node whose
 * runtime has no romana Python, as the Kubernetes DaemonSet's init container installs it),
 * answers by itself what it would have handed over: VERSION, and error 11 (try again later)
 * for every command the agent did not serve.
 *
 * Output is all or nothing: the answer is held until complete and valid, so a fallback never
 * follows partial output. The timeout (30 s, lowered by $ROMANA_CNI_TIMEOUT) bounds the whole
 * exchange; after it the plugin gets ROMANA_CNI_AGENT_FAILED=<reason> so as not to wait again
 * (after other failures it tries the agent itself). Descriptors are close-on-exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef ROMANA_AGENT_SOCKET_DEFAULT
#define ROMANA_AGENT_SOCKET_DEFAULT "/run/romana/agent.sock"
#endif
#define PYTHON_PLUGIN "romana-cni-py"
/* What the Python plugin's VERSION lists (romana/integrations/cni/spec.py; a test compares). */
#define SUPPORTED "\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\""
#define STDIN_CAP ((size_t)1 << 20)
#define ANSWER_CAP ((size_t)16 << 20)
#define DEFAULT_TIMEOUT 30.0

struct buf { char *data; size_t len, cap; };

/* Room for `extra` more bytes; -1 when out of memory (callers then fall back). */
static int reserve(struct buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 65536;
    while (cap - b->len < extra)
        cap *= 2;
    char *data = cap == b->cap ? b->data : realloc(b->data, cap);
    if (data != NULL)
        *b = (struct buf){data, b->len, cap};
    return data != NULL ? 0 : -1;
}

static int append(struct buf *b, const void *data, size_t len)
{
    if (reserve(b, len) < 0)
        return -1;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

enum { DONE, FAILED, TIMED_OUT };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Bound the next blocking call on `fd` by what is left until `deadline`; -1 once it passed.
 * Socket timeouts keep the exchange a plain sequence of blocking calls; SO_SNDTIMEO also
 * bounds connect() while the agent's backlog is full. */
static int arm(int fd, double deadline)
{
    double left = deadline - now();
    struct timeval tv = {.tv_sec = (time_t)left};
    tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
    tv.tv_usec += tv.tv_sec == 0 && tv.tv_usec == 0; /* a zero timeout would be no limit */
    return left <= 0 || setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0
                   || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? -1 : 0;
}

/* All of `data` to `fd`: DONE, FAILED or TIMED_OUT. A deadline (> 0) makes `fd` the agent's
 * socket: each send is bounded by it, and a peer gone is an error rather than SIGPIPE. */
static int write_all(int fd, const char *data, size_t len, double deadline)
{
    while (len > 0) {
        if (deadline > 0 && arm(fd, deadline) < 0)
            return TIMED_OUT;
        ssize_t n = deadline > 0 ? send(fd, data, len, MSG_NOSIGNAL) : write(fd, data, len);
        if (n < 0 && errno != EINTR)
            return errno == EAGAIN ? TIMED_OUT : FAILED;
        data += n > 0 ? n : 0;
        len -= n > 0 ? (size_t)n : 0;
    }
    return DONE;
}

/* The CNI error JSON on stdout, exit 1: the one answer of its own (no escaping: fixed text).
 * `why`: the details, or NULL for the lookup order and strerror(err). */
static _Noreturn void cannot_start(int err, const char *why)
{
    char out[512];
    int n = snprintf(out, sizeof out,
                     "{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":\"romana-cni cannot start "
                     "its Python plugin\",\"details\":\"%s%s\"}\n", why != NULL ? why
                     : PYTHON_PLUGIN " (ROMANA_CNI_PY, else beside romana-cni): ",
                     why != NULL ? "" : strerror(err));
    (void)write_all(1, out, (size_t)n, 0);
    _exit(1);
}

/* The answer of a front without its Python plugin (see the top); `failed` as for fallback(). */
static _Noreturn void alone(const char *failed)
{
    const char *command = getenv("CNI_COMMAND");
    char out[1024], why[512];
    int n;
    if (command != NULL && strcmp(command, "VERSION") == 0) {
        n = snprintf(out, sizeof out, "{\"cniVersion\":\"1.1.0\",\"supportedVersions\":["
                     SUPPORTED "]}\n");
        (void)write_all(1, out, (size_t)n, 0);
        _exit(0);
    }
    int unset = command == NULL || *command == '\0';
    snprintf(why, sizeof why, "%s", unset ? "the runtime passed no command"
             : failed != NULL ? failed : "romana-agent did not answer at $ROMANA_AGENT_SOCKET, "
             "else " ROMANA_AGENT_SOCKET_DEFAULT);
    /* A quote, a backslash or a control character from the environment would break the
     * answer's syntax: each becomes a '?'. */
    for (char *c = why; *c != '\0'; c++)
        *c = *c == '"' || *c == '\\' || (unsigned char)*c < 0x20 ? '?' : *c;
    n = snprintf(out, sizeof out, "{\"cniVersion\":\"1.0.0\",\"code\":%d,\"msg\":\"%s\","
                 "\"details\":\"%s; no " PYTHON_PLUGIN " is installed beside romana-cni\"}\n",
                 unset ? 4 : 11, unset ? "CNI_COMMAND is not set"
                 : "romana-agent did not serve the call, try again", why);
    (void)write_all(1, out, (size_t)n, 0);
    _exit(1);
}

/* Make fd 0 a memfd holding `in`, then (with `rest`) what fd 0 still has, up to one byte past
 * the cap. A read error ends the copy: the plugin gets every byte that could be read. */
static void replay_stdin(const struct buf *in, int rest)
{
    int fd = memfd_create("romana-cni-stdin", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, in->data, in->len, 0) != DONE)
        cannot_start(errno, NULL);
    char chunk[65536];
    for (size_t len = in->len; rest && len <= STDIN_CAP;) {
        size_t want = STDIN_CAP + 1 - len;
        ssize_t n = read(0, chunk, want < sizeof chunk ? want : sizeof chunk);
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        if (n > 0 && write_all(fd, chunk, (size_t)n, 0) != DONE)
            cannot_start(errno, NULL);
        len += n > 0 ? (size_t)n : 0;
    }
    if (lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0)
        cannot_start(errno, NULL);
    close(fd);
}

/* exec the Python plugin (the order is at the top). `in`: what was read from fd 0, NULL when
 * nothing was; `failed`: why the agent timed out, or NULL. */
static _Noreturn void fallback(char **argv, const struct buf *in, int rest, const char *failed)
{
    if (in != NULL)
        replay_stdin(in, rest);
    if (failed != NULL)
        setenv("ROMANA_CNI_AGENT_FAILED", failed, 1);
    const char *chosen = getenv("ROMANA_CNI_PY");
    if (chosen != NULL && *chosen != '\0') {
        if (chosen[0] != '/') /* a relative one would be the runtime's working directory's */
            cannot_start(0, "ROMANA_CNI_PY must be an absolute path");
        execv(chosen, argv);
        cannot_start(errno, NULL); /* an explicit choice that fails is reported, not bypassed */
    }
    char self[PATH_MAX + sizeof PYTHON_PLUGIN];
    ssize_t n = readlink("/proc/self/exe", self, PATH_MAX);
    char *slash = n > 0 && n < PATH_MAX - 1 ? memrchr(self, '/', (size_t)n) : NULL;
    if (slash == NULL) /* n >= PATH_MAX - 1 may be a cut name: its directory is not ours */
        cannot_start(n < 0 ? errno : ENAMETOOLONG, NULL);
    strcpy(slash + 1, PYTHON_PLUGIN);
    execv(self, argv);
    if (errno == ENOENT)
        alone(failed);
    cannot_start(errno, NULL); /* missing or not executable alike: nothing else may run */
}

/* $ROMANA_CNI_TIMEOUT as the Python plugin reads it (0 < s < 86400, else ignored), capped. */
static double timeout_of(const char *text)
{
    char *end;
    double v = text != NULL && strpbrk(text, "xX_") == NULL ? strtod(text, &end) : 0;
    return v > 0 && v < DEFAULT_TIMEOUT && end[strspn(end, " \t\n\r\f\v")] == '\0'
        ? v : DEFAULT_TIMEOUT;
}

/* The decimal value (at most 12 digits) of the header `name` in the head ending at `end`; -1
 * when absent or not a number. Names are case-insensitive; the first occurrence counts. */
static long long header(const char *p, const char *end, const char *name)
{
    size_t len = strlen(name);
    for (p = strstr(p, "\r\n"); p != NULL && p + 2 < end; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, len) != 0 || p[2 + len] != ':')
            continue;
        const char *v = p + 3 + len + strspn(p + 3 + len, " \t");
        size_t digits = strspn(v, "0123456789");
        if (digits == 0 || digits > 12 || v[digits + strspn(v + digits, " \t")] != '\r')
            return -1;
        return strtoll(v, NULL, 10);
    }
    return -1;
}

/* One request. A complete and valid answer is written out and its exit code taken; anything
 * else returns FAILED or TIMED_OUT. A socket left open is close-on-exec: exec follows. */
static int exchange(const struct sockaddr_un *addr, double timeout, const char *head,
                    const struct buf *body)
{
    double deadline = now() + timeout;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
    if (fd < 0 || arm(fd, deadline) < 0)
        return FAILED;
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        return errno == EAGAIN ? TIMED_OUT : FAILED;
    if ((r = write_all(fd, head, strlen(head), deadline)) != DONE
        || (r = write_all(fd, body->data, body->len, deadline)) != DONE)
        return r;
    struct buf raw = {0};
    size_t start = 0; /* of the body in raw, once the head is in */
    long long length = 0, out_len = 0, code = 0;
    while (start == 0 || raw.len - start < (size_t)length) {
        if (raw.len > ANSWER_CAP || reserve(&raw, 65536) < 0)
            return FAILED; /* an answer over 16 MiB is not the plugin's */
        if (arm(fd, deadline) < 0)
            return TIMED_OUT;
        /* One byte stays free: the head is searched as a string. */
        ssize_t n = recv(fd, raw.data + raw.len, raw.cap - raw.len - 1, 0);
        if (n < 0 && errno != EINTR)
            return errno == EAGAIN ? TIMED_OUT : FAILED;
        if (n == 0)
            return FAILED; /* closed before the whole answer was in */
        raw.len += n > 0 ? (size_t)n : 0;
        raw.data[raw.len] = '\0';
        char *blank = start == 0 ? memmem(raw.data, raw.len, "\r\n\r\n", 4) : NULL;
        if (blank == NULL)
            continue;
        /* The whole head is in: a 200 with the three numbers, or nothing. */
        const char *p = raw.data, *end = blank + 2;
        length = header(p, end, "Content-Length");
        out_len = header(p, end, "Romana-Cni-Stdout-Length");
        code = header(p, end, "Romana-Cni-Exit");
        if (strncmp(p, "HTTP/1.1 200", 12) != 0 || (p[12] != ' ' && p[12] != '\r')
            || length < 0 || length > (long long)ANSWER_CAP || out_len < 0 || out_len > length
            || (code != 0 && code != 1))
            return FAILED;
        start = (size_t)(blank + 4 - p);
    }
    close(fd);
    if (write_all(1, raw.data + start, (size_t)out_len, 0) != DONE)
        _exit(1);
    (void)write_all(2, raw.data + start + out_len, (size_t)(length - out_len), 0);
    _exit((int)code);
}

int main(int argc, char **argv)
{
    argv = argc > 0 ? argv : (char *[]){PYTHON_PLUGIN, NULL}; /* exec wants an argv[0] */
    const char *command = getenv("CNI_COMMAND");
    if (command == NULL || *command == '\0' || strcmp(command, "VERSION") == 0)
        fallback(argv, NULL, 0, NULL);

    /* The body: each CNI_* entry, the empty entry, then all of stdin up to the cap (one byte
     * more goes to the plugin, which refuses it). */
    struct buf body = {0};
    for (char **e = environ; *e != NULL; e++)
        if (strncmp(*e, "CNI_", 4) == 0 && strchr(*e, '=') != NULL
            && append(&body, *e, strlen(*e) + 1) < 0)
            fallback(argv, NULL, 0, NULL);
    if (append(&body, "", 1) < 0)
        fallback(argv, NULL, 0, NULL);
    size_t env_len = body.len;
#define STDIN (&(struct buf){body.data + env_len, body.len - env_len, 0}) /* stdin: body's tail */
    for (ssize_t n = 1; n != 0;) {
        if (body.len - env_len > STDIN_CAP || reserve(&body, 65536) < 0)
            fallback(argv, STDIN, 1, NULL);
        size_t want = STDIN_CAP + 1 - (body.len - env_len), room = body.cap - body.len;
        n = read(0, body.data + body.len, want < room ? want : room);
        if (n < 0 && errno != EINTR)
            fallback(argv, body.len > env_len ? STDIN : NULL, 0, NULL);
        body.len += n > 0 ? (size_t)n : 0;
    }

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    const char *path = getenv("ROMANA_AGENT_SOCKET");
    path = path != NULL && *path != '\0' ? path : ROMANA_AGENT_SOCKET_DEFAULT;
    if (path[0] != '/' || strlen(path) >= sizeof addr.sun_path)
        fallback(argv, STDIN, 0, NULL); /* the plugin names the variable and the rule */
    strcpy(addr.sun_path, path);

    char head[256];
    snprintf(head, sizeof head, "POST /v1/cni HTTP/1.1\r\nHost: romana-agent\r\nContent-Type: "
             "application/vnd.romana.cni\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
             body.len);
    double timeout = timeout_of(getenv("ROMANA_CNI_TIMEOUT"));
    if (exchange(&addr, timeout, head, &body) == TIMED_OUT) {
        /* The plugin must not wait a second full timeout for the same agent. */
        char failed[sizeof addr.sun_path + 64];
        snprintf(failed, sizeof failed, "romana-agent at %s did not answer within %g s",
                 addr.sun_path, timeout);
        fallback(argv, STDIN, 0, failed);
    }
    /* The plugin tries the agent itself: one without /v1/cni still serves it, and one that is
     * gone is found gone at once. */
    fallback(argv, STDIN, 0, NULL);
}
