/* gai_slow_dns: getaddrinfo against a slow DNS server on 127.0.0.1 with
 * GREENSHIM_RAW=catch. getaddrinfo's DNS exchange runs inside libc (a socket,
 * sendmmsg/sendto, poll, recvfrom, all inline `syscall` instructions); with the raw
 * layer catching them the lookup runs on the calling green thread itself, parking on
 * the poll, so no offload-pool thread is needed — and the caller's own resolver state
 * (`_res` pointed at the fake server, as natively each thread's) is the one used.
 *   - a fake DNS server thread (UDP, port 0) answers each query 200 ms later with one
 *     A record 10.0.0.N for hostN.test (NXDOMAIN for names starting with "nx");
 *   - 8 threads each res_init() and point their own _res at it, then getaddrinfo
 *     (AF_INET, SOCK_STREAM) hostI.test at the same time; one more looks up
 *     nxhost.test (EAI_NONAME);
 *   - a ticker thread (usleep 10 ms) keeps ticking meanwhile (>= 10 ticks);
 *   - then threads look up the service "http" for 127.0.0.1: glibc reads /etc/services
 *     through fds that reuse the numbers of the resolver's sockets, which it closed
 *     with its internal close (the shim must have forgotten them, or it would take
 *     the file for the old socket and the lookup would fail with EAI_SERVICE).
 *
 * stdout: each lookup's result, whether the ticker ran, the queries the server saw.
 * METRIC os_threads_max (1 under the shim: no pool thread), ticks_during_lookups.
 */
#include "../common.h"
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <resolv.h>
#include <sys/socket.h>

#define NTHREADS 8
#define REPLY_DELAY_MS 200
#define MAX_PENDING 64

static struct sockaddr_in srv_addr;
static int srv_fd;
static int queries_seen;
static volatile int stop_ticker;
static int ticks;
static int os_max;

static int get_ticks(void) { return __atomic_load_n(&ticks, __ATOMIC_SEQ_CST); }

static void note_threads(void) {
    int n = os_threads();
    if (n > os_max) os_max = n;
}

static void *ticker(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_SEQ_CST)) {
        CHECK(usleep(10000) == 0, "usleep: %s", strerror(errno));
        __atomic_fetch_add(&ticks, 1, __ATOMIC_SEQ_CST);
    }
    return NULL;
}

/* ---- fake DNS server ---------------------------------------------------- */

struct pending {
    long long due;
    struct sockaddr_in to;
    unsigned char msg[512];
    int len;
};

/* Builds the reply to one query; returns its length, or -1 if malformed. */
static int build_reply(const unsigned char *q, int qlen, unsigned char *out) {
    if (qlen < HFIXEDSZ) return -1;
    int qdcount = q[4] << 8 | q[5];
    if (qdcount != 1) return -1;
    char name[NS_MAXDNAME];
    int n = dn_expand(q, q + qlen, q + HFIXEDSZ, name, sizeof name);
    if (n < 0 || HFIXEDSZ + n + QFIXEDSZ > qlen) return -1;
    int qend = HFIXEDSZ + n + QFIXEDSZ;
    int qtype = q[qend - 4] << 8 | q[qend - 3];
    int nx = strncmp(name, "nx", 2) == 0;
    memcpy(out, q, qend);
    out[2] = 0x80 | 0x04 | (q[2] & 0x01); /* QR, opcode QUERY, AA, RD copied */
    out[3] = 0x80 | (nx ? 3 : 0);         /* RA, rcode */
    int answer = !nx && qtype == T_A;
    out[6] = 0;
    out[7] = answer ? 1 : 0; /* ANCOUNT */
    out[8] = out[9] = out[10] = out[11] = 0;
    if (!answer) return qend;
    unsigned num = 0;
    for (const char *p = name; *p; p++)
        if (*p >= '0' && *p <= '9') num = num * 10 + (unsigned)(*p - '0');
    static const unsigned char rr[] = {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 60, 0x00, 0x04, 10, 0, 0};
    memcpy(out + qend, rr, sizeof rr);
    out[qend + sizeof rr] = (unsigned char)(num % 256);
    return qend + (int)sizeof rr + 1;
}

static void *dns_server(void *arg) {
    (void)arg;
    struct pending *pend = calloc(MAX_PENDING, sizeof *pend);
    CHECK(pend, "calloc");
    int npend = 0;
    for (;;) {
        long long now = now_ms();
        /* send every due reply, in arrival order */
        int k = 0;
        for (int i = 0; i < npend; i++) {
            if (pend[i].due <= now) {
                ssize_t s = sendto(srv_fd, pend[i].msg, pend[i].len, 0, (struct sockaddr *)&pend[i].to, sizeof pend[i].to);
                CHECK(s == pend[i].len, "server sendto: %zd (%s)", s, strerror(errno));
            } else {
                pend[k++] = pend[i];
            }
        }
        npend = k;
        int timeout = -1;
        if (npend) {
            long long wait = pend[0].due - now;
            for (int i = 1; i < npend; i++)
                if (pend[i].due - now < wait) wait = pend[i].due - now;
            timeout = wait < 0 ? 0 : (int)wait + 1;
        }
        struct pollfd pfd = {.fd = srv_fd, .events = POLLIN};
        int r = poll(&pfd, 1, timeout);
        CHECK(r >= 0, "server poll: %s", strerror(errno));
        if (r == 0) continue;
        unsigned char q[512];
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t len = recvfrom(srv_fd, q, sizeof q, 0, (struct sockaddr *)&from, &flen);
        CHECK(len >= 0, "server recvfrom: %s", strerror(errno));
        if (len < HFIXEDSZ) break; /* the stop datagram */
        CHECK(npend < MAX_PENDING, "too many pending queries");
        int rl = build_reply(q, (int)len, pend[npend].msg);
        CHECK(rl > 0, "server got a malformed query (%zd bytes)", len);
        __atomic_fetch_add(&queries_seen, 1, __ATOMIC_SEQ_CST);
        pend[npend].len = rl;
        pend[npend].to = from;
        pend[npend].due = now_ms() + REPLY_DELAY_MS;
        npend++;
    }
    CHECK(npend == 0, "server stopped with %d replies pending", npend);
    free(pend);
    return NULL;
}


static char results[NTHREADS + 1][80];

static void *lookup(void *arg) {
    int i = (int)(long)arg;
    CHECK(res_init() == 0, "res_init failed");
    _res.nscount = 1;
    _res.nsaddr_list[0] = srv_addr;
    _res.retry = 1;
    _res.retrans = 5;
    _res.options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
    char name[32];
    if (i == NTHREADS)
        snprintf(name, sizeof name, "nxhost.test");
    else
        snprintf(name, sizeof name, "host%d.test", i);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(name, "80", &hints, &res);
    note_threads();
    if (r != 0) {
        snprintf(results[i], sizeof results[i], "%s: %s", name, r == EAI_NONAME ? "EAI_NONAME" : gai_strerror(r));
        return NULL;
    }
    char addr[INET_ADDRSTRLEN];
    struct sockaddr_in *sin = (struct sockaddr_in *)res->ai_addr;
    CHECK(inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr), "inet_ntop");
    snprintf(results[i], sizeof results[i], "%s -> %s port %d%s", name, addr, ntohs(sin->sin_port), res->ai_next ? " (more)" : "");
    freeaddrinfo(res);
    return NULL;
}

static char service_result[80];

static void *service_lookup(void *arg) {
    (void)arg;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo("127.0.0.1", "http", &hints, &res);
    if (r != 0) {
        snprintf(service_result, sizeof service_result, "%s", gai_strerror(r));
        return NULL;
    }
    snprintf(service_result, sizeof service_result, "port %d", ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port));
    freeaddrinfo(res);
    return NULL;
}

int main(void) {
    alarm(60);
    srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(srv_fd >= 0, "socket: %s", strerror(errno));
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(srv_fd, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 0, "bind: %s", strerror(errno));
    socklen_t alen = sizeof srv_addr;
    CHECK(getsockname(srv_fd, (struct sockaddr *)&srv_addr, &alen) == 0, "getsockname: %s", strerror(errno));

    pthread_t srv, tk, th[NTHREADS + 1];
    CHECK(pthread_create(&srv, NULL, dns_server, NULL) == 0, "create server");
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");
    int t_before = get_ticks();
    long long t0 = now_ms();
    for (int i = 0; i <= NTHREADS; i++)
        CHECK(pthread_create(&th[i], NULL, lookup, (void *)(long)i) == 0, "create lookup %d", i);
    for (int i = 0; i <= NTHREADS; i++) CHECK(pthread_join(th[i], NULL) == 0, "join lookup %d", i);
    long long dt = now_ms() - t0;
    int t_lookups = get_ticks() - t_before;
    note_threads();
    for (int i = 0; i <= NTHREADS; i++) printf("%s\n", results[i]);
    metric("lookups_ms", dt);
    metric("ticks_during_lookups", t_lookups);
    CHECK(dt >= REPLY_DELAY_MS - 10, "the lookups took only %lld ms, the server answers after %d ms", dt, REPLY_DELAY_MS);
    CHECK(dt < 5000, "the parallel lookups took %lld ms, want < 5000", dt);
    CHECK(t_lookups >= 10, "ticker only ticked %d times during the lookups", t_lookups);
    printf("ticker ran during the lookups: yes\n");

    for (int i = 0; i < 3; i++) CHECK(pthread_create(&th[i], NULL, service_lookup, NULL) == 0, "create");
    for (int i = 0; i < 3; i++) CHECK(pthread_join(th[i], NULL) == 0, "join");
    printf("127.0.0.1 http: %s\n", service_result);

    int c = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    CHECK(sendto(c, "stop", 4, 0, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 4, "sendto: %s", strerror(errno));
    CHECK(pthread_join(srv, NULL) == 0, "join server");
    close(c);
    printf("fake server answered %d queries\n", __atomic_load_n(&queries_seen, __ATOMIC_SEQ_CST));
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    close(srv_fd);
    return 0;
}
