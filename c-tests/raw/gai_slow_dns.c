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

#include "../dns_fake.h"


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
    dns_fake_bind();

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
