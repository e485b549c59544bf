/* res_query: the resolver's res_* calls must not freeze the other threads.
 *
 * Why: res_nquery/res_query/res_search/res_nsend talk to a DNS server over UDP
 * and wait (poll) for its answer inside libc, where no hook on poll/recvfrom can
 * see it. Under greenshim they must park only the calling green thread (e.g.
 * served by the offload pool), and they must keep using the resolver state the
 * program configured: an explicit struct __res_state, and also the implicit
 * per-thread _res of the calling thread (a shim that ran res_query on another OS
 * thread with that thread's fresh _res would ask the nameserver from
 * /etc/resolv.conf instead of the fake server, and time out or fail), and
 * h_errno must come back to the caller.
 *   1. A fake DNS server thread on 127.0.0.1 (UDP, port 0): each query (header,
 *      one question) is answered 200 ms later (a timer list in the server
 *      thread): same ID, QR=1, AA=1, RD copied, RA=1, the question echoed, and
 *      one A record (name pointer 0xc00c, IN, TTL 60, 10.0.0.N with N the
 *      digits of the name, e.g. host7.test -> 10.0.0.7); names starting with
 *      "nx" get NXDOMAIN (rcode 3) and no answer.
 *   2. 20 threads each res_ninit a private state pointed at the fake server
 *      (nscount 1, retry 1, retrans 5) and look up hostI.test at the same time:
 *      even I with res_nquery, odd I with res_nsearch (RES_DNSRCH and
 *      RES_DEFNAMES off); the answer is parsed by hand (dn_skipname/dn_expand)
 *      and must be exactly one A record for hostI.test. A ticker thread
 *      (usleep 10 ms) must keep ticking while they wait (>= 10 ticks; natively
 *      ~20 in the ~200 ms the queries take), and they must finish within 5 s.
 *   3. The main thread points its implicit _res at the fake server (after
 *      res_init) and does res_query(host77.test), res_search(host78.test) with
 *      RES_DNSRCH/RES_DEFNAMES off, res_query(nxhost.test) (-1 with h_errno ==
 *      HOST_NOT_FOUND), res_mkquery + res_send(host80.test); and with an
 *      explicit state res_nmkquery + res_nsend(host79.test) (the raw answer
 *      carries the query's ID). The ticker keeps ticking meanwhile.
 *   4. The server saw exactly 25 queries (no retransmissions).
 *
 * stdout (deterministic):
 *   "host0.test -> 10.0.0.0\n" ... "host19.test -> 10.0.0.19\n" (20 lines)
 *   "ticker ran during the parallel queries: yes\n"
 *   "res_query host77.test -> 10.0.0.77\n"
 *   "res_search host78.test -> 10.0.0.78\n"
 *   "res_query nxhost.test: HOST_NOT_FOUND\n"
 *   "res_nmkquery+res_nsend host79.test -> 10.0.0.79\n"
 *   "res_mkquery+res_send host80.test -> 10.0.0.80\n"
 *   "ticker ran during the main thread's queries: yes\n"
 *   "fake server answered 25 queries\n"
 * metrics: os_threads_max, queries_ms, ticks_during_queries, main_queries_ms,
 *          ticks_during_main_queries.
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

#define NTHREADS 20
#define REPLY_DELAY_MS 200
#define MAX_PENDING 64

#include "../dns_fake.h"

/* ---- answer parsing ----------------------------------------------------- */

/* Checks that ans holds exactly one A record for name and returns its address
 * as "a.b.c.d" in out. */
static void parse_a(const char *what, const unsigned char *ans, int len, const char *name, char *out, size_t outsz) {
    CHECK(len >= HFIXEDSZ, "%s: answer of %d bytes", what, len);
    const unsigned char *end = ans + len;
    CHECK(ans[2] & 0x80, "%s: QR not set", what);
    CHECK((ans[3] & 0x0f) == 0, "%s: rcode %d", what, ans[3] & 0x0f);
    int qd = ans[4] << 8 | ans[5], an = ans[6] << 8 | ans[7];
    CHECK(qd == 1 && an == 1, "%s: qdcount %d ancount %d, want 1 and 1", what, qd, an);
    const unsigned char *p = ans + HFIXEDSZ;
    int n = dn_skipname(p, end);
    CHECK(n > 0 && p + n + QFIXEDSZ <= end, "%s: bad question", what);
    p += n + QFIXEDSZ;
    char owner[NS_MAXDNAME];
    n = dn_expand(ans, end, p, owner, sizeof owner);
    CHECK(n > 0, "%s: bad answer name", what);
    CHECK(strcmp(owner, name) == 0, "%s: answer for %s", what, owner);
    p += n;
    CHECK(p + RRFIXEDSZ + 4 <= end, "%s: truncated answer", what);
    int type = p[0] << 8 | p[1], cls = p[2] << 8 | p[3];
    unsigned ttl = (unsigned)p[4] << 24 | (unsigned)p[5] << 16 | (unsigned)p[6] << 8 | p[7];
    int rdlen = p[8] << 8 | p[9];
    CHECK(type == T_A && cls == C_IN && ttl == 60 && rdlen == 4, "%s: type %d class %d ttl %u rdlength %d", what, type, cls,
          ttl, rdlen);
    p += RRFIXEDSZ;
    CHECK(inet_ntop(AF_INET, p, out, (socklen_t)outsz), "inet_ntop");
}

static void point_at_server(struct __res_state *st) {
    st->nscount = 1;
    st->nsaddr_list[0] = srv_addr;
    st->retry = 1;
    st->retrans = 5;
    st->options &= ~(unsigned long)(RES_DNSRCH | RES_DEFNAMES);
}

/* ---- the 20 parallel lookups -------------------------------------------- */

static char results[NTHREADS][64];

static void *lookup(void *arg) {
    int i = (int)(long)arg;
    struct __res_state st;
    memset(&st, 0, sizeof st);
    CHECK(res_ninit(&st) == 0, "res_ninit failed");
    point_at_server(&st);
    char name[32];
    snprintf(name, sizeof name, "host%d.test", i);
    unsigned char ans[NS_PACKETSZ];
    int n = i % 2 == 0 ? res_nquery(&st, name, C_IN, T_A, ans, sizeof ans)
                       : res_nsearch(&st, name, C_IN, T_A, ans, sizeof ans);
    CHECK(n > 0, "%s %s returned %d (h_errno %d)", i % 2 ? "res_nsearch" : "res_nquery", name, n, st.res_h_errno);
    char addr[INET_ADDRSTRLEN];
    parse_a(name, ans, n, name, addr, sizeof addr);
    snprintf(results[i], sizeof results[i], "%s -> %s", name, addr);
    res_nclose(&st);
    return NULL;
}

int main(void) {
    alarm(60);

    dns_fake_bind();

    pthread_t srv, tk;
    CHECK(pthread_create(&srv, NULL, dns_server, NULL) == 0, "create server");
    CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0, "create ticker");

    /* 2. 20 parallel lookups with private states */
    pthread_t th[NTHREADS];
    int t_before = get_ticks();
    long long t0 = now_ms();
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&th[i], NULL, lookup, (void *)(long)i) == 0, "create lookup %d", i);
    note_threads();
    for (int i = 0; i < NTHREADS; i++) CHECK(pthread_join(th[i], NULL) == 0, "join lookup %d", i);
    long long dt = now_ms() - t0;
    int t_queries = get_ticks() - t_before;
    note_threads();
    metric("queries_ms", dt);
    metric("ticks_during_queries", t_queries);
    for (int i = 0; i < NTHREADS; i++) printf("%s\n", results[i]);
    CHECK(dt >= REPLY_DELAY_MS - 10, "20 lookups took only %lld ms, the server answers after %d ms", dt, REPLY_DELAY_MS);
    CHECK(dt < 5000, "20 parallel lookups took %lld ms, want < 5000", dt);
    CHECK(t_queries >= 10, "ticker only ticked %d times during the parallel lookups", t_queries);
    printf("ticker ran during the parallel queries: yes\n");

    /* 3. the main thread's implicit _res */
    CHECK(res_init() == 0, "res_init failed");
    point_at_server(&_res);
    unsigned char ans[NS_PACKETSZ];
    char addr[INET_ADDRSTRLEN];
    t_before = get_ticks();
    t0 = now_ms();

    int n = res_query("host77.test", C_IN, T_A, ans, sizeof ans);
    CHECK(n > 0, "res_query host77.test returned %d (h_errno %d)", n, h_errno);
    parse_a("res_query", ans, n, "host77.test", addr, sizeof addr);
    printf("res_query host77.test -> %s\n", addr);

    n = res_search("host78.test", C_IN, T_A, ans, sizeof ans);
    CHECK(n > 0, "res_search host78.test returned %d (h_errno %d)", n, h_errno);
    parse_a("res_search", ans, n, "host78.test", addr, sizeof addr);
    printf("res_search host78.test -> %s\n", addr);

    h_errno = 0;
    n = res_query("nxhost.test", C_IN, T_A, ans, sizeof ans);
    int herr = h_errno;
    CHECK(n == -1, "res_query nxhost.test returned %d, want -1", n);
    CHECK(herr == HOST_NOT_FOUND, "res_query nxhost.test: h_errno %d, want HOST_NOT_FOUND (%d)", herr, HOST_NOT_FOUND);
    CHECK(_res.res_h_errno == HOST_NOT_FOUND, "_res.res_h_errno %d, want HOST_NOT_FOUND", _res.res_h_errno);
    printf("res_query nxhost.test: HOST_NOT_FOUND\n");

    /* res_nmkquery + res_nsend on an explicit state */
    struct __res_state st;
    memset(&st, 0, sizeof st);
    CHECK(res_ninit(&st) == 0, "res_ninit failed");
    point_at_server(&st);
    unsigned char q[NS_PACKETSZ];
    int ql = res_nmkquery(&st, QUERY, "host79.test", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    CHECK(ql > 0, "res_nmkquery returned %d", ql);
    n = res_nsend(&st, q, ql, ans, sizeof ans);
    CHECK(n > 0, "res_nsend host79.test returned %d", n);
    CHECK(ans[0] == q[0] && ans[1] == q[1], "res_nsend: answer ID differs from the query's");
    parse_a("res_nsend", ans, n, "host79.test", addr, sizeof addr);
    printf("res_nmkquery+res_nsend host79.test -> %s\n", addr);
    res_nclose(&st);

    /* res_mkquery + res_send on the implicit state */
    ql = res_mkquery(QUERY, "host80.test", C_IN, T_A, NULL, 0, NULL, q, sizeof q);
    CHECK(ql > 0, "res_mkquery returned %d", ql);
    n = res_send(q, ql, ans, sizeof ans);
    CHECK(n > 0, "res_send host80.test returned %d", n);
    CHECK(ans[0] == q[0] && ans[1] == q[1], "res_send: answer ID differs from the query's");
    parse_a("res_send", ans, n, "host80.test", addr, sizeof addr);
    printf("res_mkquery+res_send host80.test -> %s\n", addr);

    dt = now_ms() - t0;
    int t_main = get_ticks() - t_before;
    note_threads();
    metric("main_queries_ms", dt);
    metric("ticks_during_main_queries", t_main);
    /* five sequential queries, 200 ms each: ~100 ticks natively */
    CHECK(t_main >= 20, "ticker only ticked %d times during the main thread's queries", t_main);
    printf("ticker ran during the main thread's queries: yes\n");

    /* 4. stop the server */
    int c = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(c >= 0, "socket: %s", strerror(errno));
    CHECK(sendto(c, "stop", 4, 0, (struct sockaddr *)&srv_addr, sizeof srv_addr) == 4, "sendto: %s", strerror(errno));
    CHECK(pthread_join(srv, NULL) == 0, "join server");
    close(c);
    int seen = __atomic_load_n(&queries_seen, __ATOMIC_SEQ_CST);
    CHECK(seen == NTHREADS + 5, "fake server saw %d queries, want %d", seen, NTHREADS + 5);
    printf("fake server answered %d queries\n", seen);

    __atomic_store_n(&stop_ticker, 1, __ATOMIC_SEQ_CST);
    CHECK(pthread_join(tk, NULL) == 0, "join ticker");
    metric("os_threads_max", os_max);
    close(srv_fd);
    return 0;
}
