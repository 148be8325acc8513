/*
 * romana-cni: the compiled front of the CNI plugin.
 *
 * A runtime starts one process per CNI command, and the Python interpreter's start alone costs
 * more than a whole ADD of the reference plugins. This program forwards the invocation (the
 * CNI_* environment and stdin) to romana-agent over the agent's Unix socket, where the same
 * Python plugin code runs in-process, and writes back exactly what the agent answers. It holds
 * no CNI logic: parsing, validation, error codes and results all stay in Python.
 *
 * The exchange, one request per connection:
 *
 *     POST /v1/cni HTTP/1.1, Content-Type: application/vnd.romana.cni, Connection: close
 *     body: every environment entry named CNI_* as NAME=VALUE\0, an empty entry \0, stdin
 *     answer: HTTP/1.1 200 with Content-Length: n, Romana-Cni-Exit: 0|1 and
 *     Romana-Cni-Stdout-Length: m <= n; body[0, m) goes to stdout, body[m, n) to stderr,
 *     and the process exits with Romana-Cni-Exit.
 *
 * Whenever that cannot be done, the full Python plugin ROMANA_CNI_PYTHON (a compile-time
 * absolute path, see scripts/build-cni.sh) is exec'd instead: for VERSION and a missing
 * CNI_COMMAND at once, and for stdin over 1 MiB, a configuration the scanner cannot walk
 * (nested deeper than MAX_DEPTH included), an agent_socket it cannot use as is (longer than
 * a Unix socket address holds included), an agent that cannot be reached, or an answer that
 * is not the one above. The plugin answers those inputs with their CNI errors: 6 for stdin
 * over 1 MiB and for JSON nested too deeply, 7 for an agent_socket that is too long.
 *
 * Invariants:
 *   - The Python plugin gets the same argv, the same environment and exactly the stdin the
 *     runtime gave: fd 0 untouched when nothing was read, else every byte read, from a memfd
 *     (an unlinked temporary file where memfd_create is missing). Stdin is read at most one
 *     byte past STDIN_CAP, here and there: that byte is enough for the plugin to refuse it
 *     (code 6), so a runtime feeding endless input gets its answer at once. The environment
 *     gains
 *     ROMANA_CNI_AGENT_FAILED=<one-line reason> only when the agent did not answer within the
 *     timeout, so that the plugin need not wait on it a second time; after any other failure
 *     the plugin tries the agent itself (an agent without /v1/cni still serves it).
 *   - Output is all or nothing: the agent's answer is held until it is complete and valid, so
 *     a fallback never follows partial output, and this program writes nothing of its own
 *     except the error JSON when the Python plugin cannot be exec'd.
 *   - The timeout (agent_timeout, default 30 s, lowered by ROMANA_CNI_TIMEOUT) bounds the
 *     whole exchange, connect included.
 *   - Every descriptor opened here is close-on-exec, so only 0, 1 and 2 (and whatever the
 *     runtime itself passed) reach the Python plugin. SIGPIPE is ignored while the agent is
 *     talked to and restored before exec, so a dead agent cannot end the process.
 *   - The configuration scanner reads agent_socket and agent_timeout at the top level only
 *     (the last occurrence wins, as in Python's json), and goes to the Python plugin on any
 *     input it does not fully understand; it never guesses.
 *
 * Only libc; C11 plus the GNU extensions memfd_create, mkostemp and memmem.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef ROMANA_CNI_PYTHON
#error "build with -DROMANA_CNI_PYTHON='\"/abs/path/romana-cni-py\"' (scripts/build-cni.sh)"
#endif

#define STDIN_CAP ((size_t)1 << 20)
#define HEAD_CAP ((size_t)64 << 10)
#define ANSWER_CAP ((size_t)16 << 20)
#define MAX_DEPTH 512
#define DEFAULT_SOCKET "/run/romana/agent.sock"
#define DEFAULT_TIMEOUT 30.0
/* Beyond any sane agent_timeout; keeps the millisecond arithmetic far from overflow. */
#define TIMEOUT_CEILING 1e6
#define REASON_MAX 512

extern char **environ;

static struct sigaction runtime_sigpipe;
static int sigpipe_changed;

struct buf {
    unsigned char *data;
    size_t len, cap;
};

/* Room for at least `extra` more bytes; -1 when memory or size_t runs out. */
static int buf_reserve(struct buf *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < extra)
        cap *= 2;
    unsigned char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

static int write_all(int fd, const unsigned char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ---- falling back to the Python plugin ---------------------------------------------- */

static void json_string(struct buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (buf_reserve(out, strlen(s) * 6 + 2) < 0)
        return;
    out->data[out->len++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out->data[out->len++] = '\\';
            out->data[out->len++] = c;
        } else if (c < 0x20) {
            memcpy(out->data + out->len, "\\u00", 4);
            out->data[out->len + 4] = (unsigned char)hex[c >> 4];
            out->data[out->len + 5] = (unsigned char)hex[c & 15];
            out->len += 6;
        } else {
            out->data[out->len++] = c;
        }
    }
    out->data[out->len++] = '"';
}

static void json_text(struct buf *out, const char *s)
{
    size_t n = strlen(s);
    if (buf_reserve(out, n) == 0) {
        memcpy(out->data + out->len, s, n);
        out->len += n;
    }
}

/* The CNI error JSON on stdout and exit 1: the one answer this program makes itself. */
static _Noreturn void fail(const char *msg, const char *what, int err)
{
    char details[4608];
    snprintf(details, sizeof details, "%s: %s", what, strerror(err));
    struct buf out = {0};
    json_text(&out, "{\"cniVersion\":\"1.0.0\",\"code\":999,\"msg\":");
    json_string(&out, msg);
    json_text(&out, ",\"details\":");
    json_string(&out, details);
    json_text(&out, "}\n");
    if (out.data != NULL)
        (void)write_all(1, out.data, out.len);
    _exit(1);
}

/*
 * A descriptor holding `data` and then, with `rest`, what fd 0 still has, at offset 0; in all
 * at most STDIN_CAP + 1 bytes (the plugin refuses more without reading it).
 */
static int stdin_copy(const unsigned char *data, size_t len, int rest)
{
    if (len > STDIN_CAP + 1)
        len = STDIN_CAP + 1;
    int fd = memfd_create("romana-cni-stdin", MFD_CLOEXEC);
    if (fd < 0) {
        const char *dir = getenv("TMPDIR");
        char path[4096];
        snprintf(path, sizeof path, "%s/romana-cni-stdin.XXXXXX", dir && *dir ? dir : "/tmp");
        fd = mkostemp(path, O_CLOEXEC);
        if (fd < 0)
            return -1;
        unlink(path);
    }
    if (write_all(fd, data, len) < 0)
        goto fail;
    while (rest && len <= STDIN_CAP) {
        unsigned char chunk[65536];
        size_t want = STDIN_CAP + 1 - len;
        ssize_t n = read(0, chunk, want < sizeof chunk ? want : sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        /* A read error ends the copy: the plugin gets every byte that could be read. */
        if (n <= 0)
            break;
        if (write_all(fd, chunk, (size_t)n) < 0)
            goto fail;
        len += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        goto fail;
    return fd;
fail:
    close(fd);
    return -1;
}

/*
 * exec the Python plugin. `in` is what was read from fd 0 (NULL: nothing, fd 0 is handed on
 * untouched); `rest` also passes on what fd 0 still holds (up to the cap, see stdin_copy);
 * `failed` is the agent's failure.
 */
static _Noreturn void fallback(char **argv, const struct buf *in, int rest, const char *failed)
{
    if (in != NULL) {
        int fd = stdin_copy(in->data, in->len, rest);
        if (fd < 0 || dup2(fd, 0) < 0)
            fail("romana-cni cannot pass stdin to its Python plugin", "stdin copy", errno);
        close(fd);
    }
    if (failed != NULL)
        setenv("ROMANA_CNI_AGENT_FAILED", failed, 1);
    if (sigpipe_changed)
        sigaction(SIGPIPE, &runtime_sigpipe, NULL);
    char *own[] = {(char *)ROMANA_CNI_PYTHON, NULL};
    execv(ROMANA_CNI_PYTHON, argv[0] != NULL ? argv : own);
    fail("romana-cni cannot start its Python plugin", ROMANA_CNI_PYTHON, errno);
}

/* ---- the configuration: agent_socket and agent_timeout at the top level ---------------- */

enum { SETTING_ABSENT, SETTING_SET, SETTING_UNUSABLE };

struct settings {
    int socket_state;
    const unsigned char *socket;
    size_t socket_len;
    int timeout_state;
    const unsigned char *timeout;
    size_t timeout_len;
};

struct scanner {
    const unsigned char *p, *end;
};

static int at(const struct scanner *s, unsigned char c)
{
    return s->p < s->end && *s->p == c;
}

static void skip_space(struct scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * A string at s->p, quotes included, with the rules of Python's json (strict): no raw control
 * characters, only the eight short escapes and \uXXXX. Sets the raw content and whether it
 * has escapes; bytes from 0x80 up pass as they are (decoding is the plugin's business).
 */
static int scan_string(struct scanner *s, const unsigned char **raw, size_t *len, int *escaped)
{
    if (!at(s, '"'))
        return -1;
    s->p++;
    *raw = s->p;
    *escaped = 0;
    while (s->p < s->end) {
        unsigned char c = *s->p;
        if (c == '"') {
            *len = (size_t)(s->p - *raw);
            s->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c != '\\') {
            s->p++;
            continue;
        }
        *escaped = 1;
        if (s->end - s->p < 2)
            return -1;
        switch (s->p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            s->p += 2;
            break;
        case 'u':
            if (s->end - s->p < 6)
                return -1;
            for (int i = 2; i < 6; i++)
                if (hex_digit(s->p[i]) < 0)
                    return -1;
            s->p += 6;
            break;
        default:
            return -1;
        }
    }
    return -1;
}

/* Whether a key's raw content decodes to the ASCII name `want` (escapes decoded). */
static int key_is(const unsigned char *raw, size_t len, int escaped, const char *want)
{
    size_t want_len = strlen(want);
    if (!escaped)
        return len == want_len && memcmp(raw, want, len) == 0;
    size_t i = 0, k = 0;
    while (i < len) {
        unsigned int c = raw[i];
        if (c != '\\') {
            i++;
        } else if (raw[i + 1] == 'u') {
            c = 0;
            for (size_t j = 2; j < 6; j++)
                c = c * 16 + (unsigned int)hex_digit(raw[i + j]);
            i += 6;
        } else {
            switch (raw[i + 1]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            default: c = raw[i + 1]; break;
            }
            i += 2;
        }
        if (k >= want_len || c != (unsigned char)want[k])
            return 0;
        k++;
    }
    return k == want_len;
}

static int scan_word(struct scanner *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return -1;
    s->p += n;
    return 0;
}

static int scan_digits(struct scanner *s)
{
    const unsigned char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return s->p > start ? 0 : -1;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)? */
static int scan_number(struct scanner *s)
{
    if (at(s, '-'))
        s->p++;
    if (at(s, '0'))
        s->p++;
    else if (s->p >= s->end || *s->p < '1' || *s->p > '9' || scan_digits(s) < 0)
        return -1;
    if (at(s, '.')) {
        s->p++;
        if (scan_digits(s) < 0)
            return -1;
    }
    if (at(s, 'e') || at(s, 'E')) {
        s->p++;
        if (at(s, '+') || at(s, '-'))
            s->p++;
        if (scan_digits(s) < 0)
            return -1;
    }
    return 0;
}

static int scan_value(struct scanner *s, int depth);

/* The member at s->p of the top-level object, keeping the two keys the front needs. */
static int scan_member(struct scanner *s, int depth, struct settings *top)
{
    const unsigned char *key, *value;
    size_t key_len, value_len;
    int key_escaped, value_escaped;
    if (scan_string(s, &key, &key_len, &key_escaped) < 0)
        return -1;
    skip_space(s);
    if (!at(s, ':'))
        return -1;
    s->p++;
    skip_space(s);
    if (top == NULL)
        return scan_value(s, depth);
    if (key_is(key, key_len, key_escaped, "agent_socket")) {
        if (!at(s, '"')) {
            top->socket_state = SETTING_UNUSABLE;
            return scan_value(s, depth);
        }
        if (scan_string(s, &value, &value_len, &value_escaped) < 0)
            return -1;
        top->socket_state = value_escaped ? SETTING_UNUSABLE : SETTING_SET;
        top->socket = value;
        top->socket_len = value_len;
        return 0;
    }
    if (key_is(key, key_len, key_escaped, "agent_timeout")) {
        value = s->p;
        if (scan_value(s, depth) < 0)
            return -1;
        top->timeout_state = SETTING_SET;
        top->timeout = value;
        top->timeout_len = (size_t)(s->p - value);
        return 0;
    }
    return scan_value(s, depth);
}

/* An object or array at s->p; `top` is non-NULL for the top-level object only. */
static int scan_container(struct scanner *s, int depth, struct settings *top)
{
    unsigned char close = *s->p == '{' ? '}' : ']';
    if (depth > MAX_DEPTH)
        return -1;
    s->p++;
    skip_space(s);
    if (at(s, close)) {
        s->p++;
        return 0;
    }
    for (;;) {
        int r = close == '}' ? scan_member(s, depth, top) : scan_value(s, depth);
        if (r < 0)
            return -1;
        skip_space(s);
        if (at(s, close)) {
            s->p++;
            return 0;
        }
        if (!at(s, ','))
            return -1;
        s->p++;
        skip_space(s);
    }
}

/* Any JSON value Python's json.loads accepts, NaN and the Infinities included. */
static int scan_value(struct scanner *s, int depth)
{
    const unsigned char *raw;
    size_t len;
    int escaped;
    if (s->p >= s->end)
        return -1;
    switch (*s->p) {
    case '"': return scan_string(s, &raw, &len, &escaped);
    case '{': case '[': return scan_container(s, depth + 1, NULL);
    case 't': return scan_word(s, "true");
    case 'f': return scan_word(s, "false");
    case 'n': return scan_word(s, "null");
    case 'N': return scan_word(s, "NaN");
    case 'I': return scan_word(s, "Infinity");
    case '-':
        if (s->end - s->p > 1 && s->p[1] == 'I')
            return scan_word(s, "-Infinity");
        return scan_number(s);
    default: return scan_number(s);
    }
}

/* The whole of stdin as one JSON object; -1 when it is anything else. */
static int scan_config(const unsigned char *data, size_t len, struct settings *found)
{
    struct scanner s = {data, data + len};
    memset(found, 0, sizeof *found);
    skip_space(&s);
    if (!at(&s, '{') || scan_container(&s, 1, found) < 0)
        return -1;
    skip_space(&s);
    return s.p == s.end ? 0 : -1;
}

/* A number token (already scanned) as seconds > 0; -1 for anything else, a token of 64
 * characters or more included (the Python plugin then reads it). */
static int seconds_of(const unsigned char *token, size_t len, double *out)
{
    char text[64];
    /* The scanner accepted the token as a value: a number starts with - or a digit. */
    if (len == 0 || len >= sizeof text || (token[0] != '-' && (token[0] < '0' || token[0] > '9')))
        return -1;
    if (len >= 2 && token[1] == 'I') /* -Infinity */
        return -1;
    memcpy(text, token, len);
    text[len] = '\0';
    char *end;
    double v = strtod(text, &end);
    if (end != text + len || !(v > 0))
        return -1;
    *out = v < TIMEOUT_CEILING ? v : TIMEOUT_CEILING;
    return 0;
}

/* ROMANA_CNI_TIMEOUT as the Python plugin reads it: 0 < seconds < 86400, else ignored. */
static int env_seconds(const char *text, double *out)
{
    if (text == NULL || strpbrk(text, "xX") != NULL)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || errno != 0)
        return -1;
    while (*end != '\0' && strchr(" \t\n\r\f\v", *end) != NULL)
        end++;
    if (*end != '\0' || !(v > 0 && v < 86400))
        return -1;
    *out = v;
    return 0;
}

/* ---- the exchange with the agent ---------------------------------------------------- */

struct deadline {
    struct timespec at;
    double seconds;
};

static void deadline_start(struct deadline *d, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, &d->at);
    long long ns = (long long)(seconds * 1e9);
    d->at.tv_sec += (time_t)(ns / 1000000000);
    d->at.tv_nsec += (long)(ns % 1000000000);
    if (d->at.tv_nsec >= 1000000000) {
        d->at.tv_sec++;
        d->at.tv_nsec -= 1000000000;
    }
    d->seconds = seconds;
}

/* Milliseconds left, rounded up so that poll never wakes just before the deadline. */
static long long remaining_ms(const struct deadline *d)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ns = (long long)(d->at.tv_sec - now.tv_sec) * 1000000000
                   + (d->at.tv_nsec - now.tv_nsec);
    return ns <= 0 ? 0 : (ns + 999999) / 1000000;
}

/* Wait until fd is ready for `events`; -1 with ETIMEDOUT once the deadline has passed. */
static int wait_for(int fd, short events, const struct deadline *d)
{
    for (;;) {
        long long ms = remaining_ms(d);
        if (ms <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, ms > 1000000000 ? 1000000000 : (int)ms);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r > 0)
            return 0;
    }
}

static int send_all(int fd, struct iovec *iov, int count, const struct deadline *d)
{
    while (count > 0) {
        if (iov->iov_len == 0) {
            iov++;
            count--;
            continue;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return -1;
            if (wait_for(fd, POLLOUT, d) < 0)
                return -1;
            continue;
        }
        size_t sent = (size_t)n;
        while (count > 0 && sent >= iov->iov_len) {
            sent -= iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (unsigned char *)iov->iov_base + sent;
            iov->iov_len -= sent;
        }
    }
    return 0;
}

struct answer {
    size_t head_len; /* up to and including the blank line */
    size_t length;   /* Content-Length */
    size_t stdout_length;
    int exit_code;
};

static int header_is(const unsigned char *name, size_t len, const char *want)
{
    return len == strlen(want) && strncasecmp((const char *)name, want, len) == 0;
}

static int size_of(const unsigned char *text, size_t len, size_t *out)
{
    size_t v = 0;
    if (len == 0 || len > 12)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (size_t)(text[i] - '0');
    }
    *out = v;
    return 0;
}

/*
 * Check the head [data, data + head_len - 4) of an answer; 0 when it is a usable 200, else -1
 * with the reason (after "romana-agent at <socket> ") in `why`.
 */
static int parse_head(const unsigned char *data, struct answer *a, char *why, size_t why_len)
{
    const unsigned char *p = data, *end = data + a->head_len - 2;
    const unsigned char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
    static const char version[] = "HTTP/1.1 ";
    size_t line = (size_t)(eol - p);
    if (line < sizeof version + 2 || memcmp(p, version, sizeof version - 1) != 0
        || (line > sizeof version + 2 && p[sizeof version + 2] != ' ')) {
        snprintf(why, why_len, "answered something other than HTTP/1.1");
        return -1;
    }
    const unsigned char *code = p + sizeof version - 1;
    size_t status;
    if (size_of(code, 3, &status) < 0) {
        snprintf(why, why_len, "answered something other than HTTP/1.1");
        return -1;
    }
    if (status != 200) {
        snprintf(why, why_len, "answered %zu", status);
        return -1;
    }
    int have_length = 0, have_exit = 0, have_stdout = 0;
    const char *bad = NULL;
    for (p = eol + 2; p < end && bad == NULL; p = eol + 2) {
        eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        const unsigned char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL || colon == p || *p == ' ' || *p == '\t') {
            bad = "a malformed header";
            break;
        }
        const unsigned char *name = p, *value = colon + 1, *value_end = eol;
        size_t name_len = (size_t)(colon - p);
        while (value < value_end && (*value == ' ' || *value == '\t'))
            value++;
        while (value_end > value && (value_end[-1] == ' ' || value_end[-1] == '\t'))
            value_end--;
        size_t value_len = (size_t)(value_end - value);
        if (memchr(name, ' ', name_len) != NULL || memchr(name, '\t', name_len) != NULL) {
            bad = "a malformed header";
        } else if (header_is(name, name_len, "Content-Length")) {
            if (have_length++ || size_of(value, value_len, &a->length) < 0)
                bad = "an invalid Content-Length";
        } else if (header_is(name, name_len, "Romana-Cni-Exit")) {
            if (have_exit++ || value_len != 1 || (value[0] != '0' && value[0] != '1'))
                bad = "an invalid Romana-Cni-Exit";
            else
                a->exit_code = value[0] - '0';
        } else if (header_is(name, name_len, "Romana-Cni-Stdout-Length")) {
            if (have_stdout++ || size_of(value, value_len, &a->stdout_length) < 0)
                bad = "an invalid Romana-Cni-Stdout-Length";
        } else if (header_is(name, name_len, "Transfer-Encoding")) {
            bad = "a Transfer-Encoding, not a plain body";
        }
    }
    if (bad == NULL && !have_length)
        bad = "no Content-Length";
    if (bad == NULL && !have_exit)
        bad = "no Romana-Cni-Exit";
    if (bad == NULL && !have_stdout)
        bad = "no Romana-Cni-Stdout-Length";
    if (bad == NULL && a->stdout_length > a->length)
        bad = "a Romana-Cni-Stdout-Length above its Content-Length";
    if (bad == NULL && a->length > ANSWER_CAP)
        bad = "a body over 16 MiB";
    if (bad != NULL) {
        snprintf(why, why_len, "answered 200 with %s", bad);
        return -1;
    }
    return 0;
}

static int looks_like_http(const struct buf *in)
{
    static const char version[] = "HTTP/1.1 ";
    size_t n = in->len < sizeof version - 1 ? in->len : sizeof version - 1;
    return memcmp(in->data, version, n) == 0;
}

/* Set when the answer did not come within the timeout (read_answer's one kind of failure
 * that must not make the plugin wait again). */
static int answer_timed_out;

/* Read the answer until its body is in; -1 with the reason in `why`. */
static int read_answer(int fd, struct buf *in, struct answer *a, const struct deadline *d,
                       char *why, size_t why_len)
{
    for (;;) {
        if (buf_reserve(in, 65536) < 0) {
            snprintf(why, why_len, "answered more than this process can hold");
            return -1;
        }
        size_t before = in->len;
        ssize_t n = recv(fd, in->data + in->len, in->cap - in->len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_for(fd, POLLIN, d) == 0)
                continue;
            if (errno == ETIMEDOUT) {
                snprintf(why, why_len, "did not answer within %g s", d->seconds);
                answer_timed_out = 1;
            } else if (errno == ECONNRESET)
                snprintf(why, why_len, "closed the connection");
            else
                snprintf(why, why_len, "failed: %s", strerror(errno));
            return -1;
        }
        in->len += (size_t)n;
        if (a->head_len == 0) {
            size_t from = before > 3 ? before - 3 : 0;
            const unsigned char *blank = memmem(in->data + from, in->len - from, "\r\n\r\n", 4);
            if (blank != NULL) {
                a->head_len = (size_t)(blank - in->data) + 4;
                if (parse_head(in->data, a, why, why_len) < 0)
                    return -1;
            } else if (in->len > HEAD_CAP) {
                snprintf(why, why_len, "answered a head over 64 KiB");
                return -1;
            }
        }
        if (a->head_len != 0 && in->len - a->head_len >= a->length)
            return 0;
        if (n == 0) {
            if (a->head_len != 0)
                snprintf(why, why_len, "closed the connection after %zu of %zu body bytes",
                         in->len - a->head_len, a->length);
            else if (in->len != 0 && !looks_like_http(in))
                snprintf(why, why_len, "answered something other than HTTP/1.1");
            else if (in->len != 0)
                snprintf(why, why_len, "closed the connection in the middle of its answer");
            else
                snprintf(why, why_len, "closed the connection without answering");
            return -1;
        }
    }
}

/* ---- main ------------------------------------------------------------------------- */

enum { READ_ALL, READ_OVER_CAP, READ_FAILED };

/*
 * All of stdin up to the cap, and one byte more when there is more. Short of memory counts
 * as over the cap: the rest, up to the same byte, is copied to the plugin by stdin_copy.
 */
static int read_stdin(struct buf *in)
{
    for (;;) {
        if (in->len > STDIN_CAP || buf_reserve(in, 65536) < 0)
            return READ_OVER_CAP;
        size_t room = in->cap - in->len, want = STDIN_CAP + 1 - in->len;
        ssize_t n = read(0, in->data + in->len, room < want ? room : want);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return READ_FAILED;
        }
        if (n == 0)
            return READ_ALL;
        in->len += (size_t)n;
    }
}

/* The agent's socket and the timeout from stdin and the environment; 0, or -1 for Python. */
static int agent_of(const struct buf *in, struct sockaddr_un *addr, double *timeout)
{
    struct settings found;
    if (scan_config(in->data, in->len, &found) < 0)
        return -1;
    memset(addr, 0, sizeof *addr);
    addr->sun_family = AF_UNIX;
    if (found.socket_state == SETTING_UNUSABLE)
        return -1;
    if (found.socket_state == SETTING_SET) {
        if (found.socket_len == 0 || found.socket_len >= sizeof addr->sun_path
            || found.socket[0] != '/')
            return -1;
        memcpy(addr->sun_path, found.socket, found.socket_len);
    } else {
        memcpy(addr->sun_path, DEFAULT_SOCKET, sizeof DEFAULT_SOCKET);
    }
    *timeout = DEFAULT_TIMEOUT;
    if (found.timeout_state == SETTING_SET
        && seconds_of(found.timeout, found.timeout_len, timeout) < 0)
        return -1;
    double limit;
    if (env_seconds(getenv("ROMANA_CNI_TIMEOUT"), &limit) == 0 && limit < *timeout)
        *timeout = limit;
    return 0;
}

static int forwarded(const char *entry)
{
    return strncmp(entry, "CNI_", 4) == 0 && strchr(entry, '=') != NULL;
}

/* The body's environment list: NAME=VALUE\0 for each CNI_* entry, then \0. */
static int environment_list(struct buf *out)
{
    size_t len = 1;
    for (char **e = environ; *e != NULL; e++)
        if (forwarded(*e))
            len += strlen(*e) + 1;
    if (buf_reserve(out, len) < 0)
        return -1;
    for (char **e = environ; *e != NULL; e++) {
        if (forwarded(*e)) {
            size_t n = strlen(*e) + 1;
            memcpy(out->data + out->len, *e, n);
            out->len += n;
        }
    }
    out->data[out->len++] = '\0';
    return 0;
}

enum { EXCHANGE_DONE, EXCHANGE_UNREACHABLE, EXCHANGE_FAILED, EXCHANGE_TIMED_OUT };

/*
 * One request and its answer. EXCHANGE_UNREACHABLE: the connection was refused or failed
 * outright; EXCHANGE_FAILED: the agent took the connection and then answered something
 * unusable or closed it; EXCHANGE_TIMED_OUT: the timeout passed. For the last two the
 * reason (after "romana-agent at <socket> ") is in `why`.
 */
static int exchange(const struct sockaddr_un *addr, double timeout, const struct buf *env_list,
                    const struct buf *in, struct buf *answer_buf, struct answer *answer,
                    char *why, size_t why_len)
{
    struct deadline deadline;
    deadline_start(&deadline, timeout);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return EXCHANGE_UNREACHABLE;
    /* connect blocks while the agent's backlog is full; SO_SNDTIMEO bounds that wait. */
    struct timeval tv = {.tv_sec = (time_t)timeout};
    tv.tv_usec = (long)((timeout - (double)tv.tv_sec) * 1e6);
    if (tv.tv_sec == 0 && tv.tv_usec == 0)
        tv.tv_usec = 1; /* zero would mean no limit at all */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) {
        int err = errno;
        close(fd);
        if (err != EAGAIN)
            return EXCHANGE_UNREACHABLE;
        snprintf(why, why_len, "did not accept the connection within %g s", timeout);
        return EXCHANGE_TIMED_OUT;
    }
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        close(fd);
        return EXCHANGE_UNREACHABLE;
    }
    char head[256];
    int head_len = snprintf(head, sizeof head,
                            "POST /v1/cni HTTP/1.1\r\nHost: romana-agent\r\n"
                            "Content-Type: application/vnd.romana.cni\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                            env_list->len + in->len);
    struct iovec iov[] = {
        {.iov_base = head, .iov_len = (size_t)head_len},
        {.iov_base = env_list->data, .iov_len = env_list->len},
        {.iov_base = in->data, .iov_len = in->len},
    };
    int result = EXCHANGE_FAILED;
    if (send_all(fd, iov, 3, &deadline) < 0) {
        if (errno == ETIMEDOUT) {
            snprintf(why, why_len, "did not take the request within %g s", timeout);
            result = EXCHANGE_TIMED_OUT;
        }
        else if (errno == EPIPE || errno == ECONNRESET)
            snprintf(why, why_len, "closed the connection");
        else
            snprintf(why, why_len, "failed: %s", strerror(errno));
    } else if (read_answer(fd, answer_buf, answer, &deadline, why, why_len) == 0) {
        result = EXCHANGE_DONE;
    } else if (answer_timed_out) {
        result = EXCHANGE_TIMED_OUT;
    }
    close(fd);
    return result;
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *command = getenv("CNI_COMMAND");
    if (command == NULL || *command == '\0' || strcmp(command, "VERSION") == 0)
        fallback(argv, NULL, 0, NULL);

    struct buf in = {0};
    switch (read_stdin(&in)) {
    case READ_OVER_CAP:
        fallback(argv, &in, 1, NULL);
    case READ_FAILED:
        fallback(argv, in.len ? &in : NULL, 0, NULL);
    default:
        break;
    }

    struct sockaddr_un addr;
    double timeout;
    struct buf env_list = {0};
    if (agent_of(&in, &addr, &timeout) < 0 || environment_list(&env_list) < 0)
        fallback(argv, &in, 0, NULL);

    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigemptyset(&ignore.sa_mask);
    sigpipe_changed = sigaction(SIGPIPE, &ignore, &runtime_sigpipe) == 0;

    struct buf answer_buf = {0};
    struct answer answer = {0};
    char why[REASON_MAX], failed[REASON_MAX + 200];
    switch (exchange(&addr, timeout, &env_list, &in, &answer_buf, &answer, why, sizeof why)) {
    case EXCHANGE_DONE: {
        const unsigned char *body = answer_buf.data + answer.head_len;
        size_t out_len = answer.stdout_length;
        if (write_all(1, body, out_len) < 0)
            _exit(1);
        (void)write_all(2, body + out_len, answer.length - out_len);
        _exit(answer.exit_code);
    }
    case EXCHANGE_UNREACHABLE:
    case EXCHANGE_FAILED:
        /* The plugin tries the agent itself: one without /v1/cni (during an upgrade) still
         * serves it, and one that is gone is found gone at once. */
        fallback(argv, &in, 0, NULL);
    default:
        /* Timed out: the plugin must not wait a second full timeout for the same agent. */
        snprintf(failed, sizeof failed, "romana-agent at %s %s", addr.sun_path, why);
        fallback(argv, &in, 0, failed);
    }
}
