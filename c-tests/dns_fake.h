/* A fake DNS server on 127.0.0.1 for the resolver tests (c-tests/io/res_query.c,
 * c-tests/raw/gai_slow_dns.c), with a ticker thread and an OS-thread sampler.
 *
 * The includer defines REPLY_DELAY_MS (how long each reply is held back) and
 * MAX_PENDING, calls dns_fake_bind() and runs dns_server() in a thread; a datagram
 * shorter than a DNS header stops it. Names starting with "nx" get NXDOMAIN; an A query
 * for any other name gets 10.0.0.N, N being the number formed by the name's digits
 * modulo 256. */
#ifndef GREENSHIM_TEST_DNS_FAKE_H
#define GREENSHIM_TEST_DNS_FAKE_H

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

/* Binds srv_fd to a free UDP port on 127.0.0.1 and records it in srv_addr. */
static void dns_fake_bind(void) {
    srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(srv_fd >= 0, "socket: %s", strerror(errno));
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(srv_fd, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 0, "bind: %s", strerror(errno));
    socklen_t alen = sizeof srv_addr;
    CHECK(getsockname(srv_fd, (struct sockaddr *)&srv_addr, &alen) == 0, "getsockname: %s", strerror(errno));
}

#endif
