/*
 * ntpload: an NTP client-mode load generator for bench/ntp_serve.py.
 *
 *   ntpload -a ADDR [-p PORT] -r RATE [-d SECONDS] [-s SOCKETS] [-b SOURCE ...] [-w WAIT_MS] [-f]
 *
 * Sends 48-byte NTPv4 client requests (mode 3) to ADDR:PORT at RATE requests per second for
 * SECONDS, spread round-robin over SOCKETS connected UDP sockets (distinct source ports, so a
 * server using SO_REUSEPORT can spread them; with -b, socket i is bound to the (i mod n)-th SOURCE
 * address, for a server that spreads clients by address), and waits WAIT_MS after the last request for late
 * replies. Prints one JSON line: requests sent, valid replies, loss, and the response latency
 * percentiles in microseconds.
 *
 * Each request's transmit timestamp carries a run tag (upper 32 bits) and a sequence number (lower
 * 32 bits); a server echoes it as the reply's origin timestamp, which identifies the request. The
 * latency of a reply is the client kernel's receive timestamp (SO_TIMESTAMPNS, CLOCK_REALTIME)
 * minus CLOCK_REALTIME read immediately before the request's send call: it covers the network
 * path and the server, not this program's own receive scheduling. A reply counts as valid only if
 * it is a 48+ byte mode-4 packet with a non-zero stratum (a Kiss-o'-Death is counted apart),
 * whose origin matches a request of this run that was not answered before.
 *
 * Pacing: the sender keeps the number of requests sent equal to RATE x elapsed time, sending the
 * deficit in batches of at most 32 (sendmmsg) and sleeping when ahead. If it cannot keep up, the
 * achieved send rate printed is below RATE and the caller should not trust the step. With -f (a
 * flood) it stops at SECONDS whatever it sent: ask a RATE above what it can send to send flat out.
 *
 * Client-side receive drops (UDP RcvbufErrors of this network namespace, from /proc/net/snmp) are
 * printed too: lost replies that the server did send. Run it alone in its namespace.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SOCKETS 256
#define BATCH 32
#define RX_BATCH 64
#define NTP_LEN 48

static int socks[MAX_SOCKETS];
static int nsocks = 8;
static uint32_t run_tag;
static uint64_t total;        /* requests planned */
static int64_t *sent_ns;      /* CLOCK_REALTIME before send, per sequence number; 0 = not sent */
static int64_t *lat_ns;       /* latency per sequence number; -1 = no reply */
static atomic_uint_fast64_t sent_count;
static atomic_int sender_done;
static int64_t rx_deadline_ns; /* CLOCK_MONOTONIC; valid once sender_done */
static uint64_t n_valid, n_dup, n_bad, n_kod, n_late_tag;

static int64_t now_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "ntpload: %s: %s\n", what, strerror(errno));
    exit(1);
}

static long long udp_rcvbuf_errors(void)
{
    FILE *f = fopen("/proc/net/snmp", "r");
    char head[1024], vals[1024];
    long long result = -1;
    if (!f)
        return -1;
    while (fgets(head, sizeof head, f) && fgets(vals, sizeof vals, f)) {
        if (strncmp(head, "Udp:", 4) != 0)
            continue;
        char *hs, *vs;
        char *h = strtok_r(head, " \n", &hs);
        char *v = strtok_r(vals, " \n", &vs);
        while (h && v) {
            if (strcmp(h, "RcvbufErrors") == 0) {
                result = atoll(v);
                break;
            }
            h = strtok_r(NULL, " \n", &hs);
            v = strtok_r(NULL, " \n", &vs);
        }
        break;
    }
    fclose(f);
    return result;
}

static void *receiver(void *arg)
{
    (void)arg;
    struct pollfd pfd[MAX_SOCKETS];
    struct mmsghdr msgs[RX_BATCH];
    struct iovec iov[RX_BATCH];
    unsigned char bufs[RX_BATCH][128];
    unsigned char ctrl[RX_BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
    for (int i = 0; i < nsocks; i++) {
        pfd[i].fd = socks[i];
        pfd[i].events = POLLIN;
    }
    for (;;) {
        if (atomic_load(&sender_done) && now_ns(CLOCK_MONOTONIC) >= rx_deadline_ns)
            break;
        int n = poll(pfd, nsocks, 10);
        if (n < 0 && errno != EINTR)
            die("poll");
        for (int s = 0; n > 0 && s < nsocks; s++) {
            if (!(pfd[s].revents & POLLIN))
                continue;
            for (;;) {
                for (int i = 0; i < RX_BATCH; i++) {
                    iov[i].iov_base = bufs[i];
                    iov[i].iov_len = sizeof bufs[i];
                    memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
                    msgs[i].msg_hdr.msg_iov = &iov[i];
                    msgs[i].msg_hdr.msg_iovlen = 1;
                    msgs[i].msg_hdr.msg_control = ctrl[i];
                    msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i];
                }
                int got = recvmmsg(socks[s], msgs, RX_BATCH, MSG_DONTWAIT, NULL);
                if (got < 0) {
                    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        break;
                    if (errno == ECONNREFUSED) /* ICMP port unreachable: server not there (yet) */
                        continue;
                    die("recvmmsg");
                }
                for (int i = 0; i < got; i++) {
                    int64_t rx = 0;
                    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c;
                         c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
                        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                            struct timespec ts;
                            memcpy(&ts, CMSG_DATA(c), sizeof ts);
                            rx = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
                        }
                    }
                    if (!rx)
                        rx = now_ns(CLOCK_REALTIME);
                    const unsigned char *p = bufs[i];
                    if (msgs[i].msg_len < NTP_LEN || (p[0] & 7) != 4) {
                        n_bad++;
                        continue;
                    }
                    uint32_t tag = ((uint32_t)p[24] << 24) | ((uint32_t)p[25] << 16) | ((uint32_t)p[26] << 8) | p[27];
                    uint32_t seq = ((uint32_t)p[28] << 24) | ((uint32_t)p[29] << 16) | ((uint32_t)p[30] << 8) | p[31];
                    if (tag != run_tag || seq >= total || sent_ns[seq] == 0) {
                        n_late_tag++;
                        continue;
                    }
                    if (p[1] == 0) {
                        n_kod++;
                        continue;
                    }
                    if (lat_ns[seq] >= 0) {
                        n_dup++;
                        continue;
                    }
                    lat_ns[seq] = rx - sent_ns[seq];
                    n_valid++;
                }
                if (got < RX_BATCH)
                    break;
            }
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_us(const int64_t *sorted, uint64_t n, double q)
{
    if (n == 0)
        return -1;
    uint64_t i = (uint64_t)(q * (double)(n - 1) + 0.5);
    return sorted[i] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: ntpload -a ADDR [-p PORT] -r RATE [-d SECONDS] [-s SOCKETS] [-b SOURCE ...] [-w WAIT_MS] [-f]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *port = "123";
    double rate = 0, duration = 2.0;
    const char *sources[MAX_SOCKETS];
    int wait_ms = 300, flat_out = 0, nsources = 0, opt;
    while ((opt = getopt(argc, argv, "a:p:r:d:s:b:w:f")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = optarg; break;
        case 'r': rate = atof(optarg); break;
        case 'd': duration = atof(optarg); break;
        case 's': nsocks = atoi(optarg); break;
        case 'b':
            if (nsources == MAX_SOCKETS)
                usage();
            sources[nsources++] = optarg;
            break;
        case 'w': wait_ms = atoi(optarg); break;
        case 'f': flat_out = 1; break;
        default: usage();
        }
    }
    if (!addr || rate <= 0 || duration <= 0 || nsocks < 1 || nsocks > MAX_SOCKETS || wait_ms < 0)
        usage();
    total = (uint64_t)(rate * duration + 0.5);
    if (total == 0 || total > 0xFFFFFFFFULL)
        usage();
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST}, *ai;
    int rc = getaddrinfo(addr, port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "ntpload: %s: %s\n", addr, gai_strerror(rc));
        return 2;
    }
    int one = 1, rcvbuf = 8 << 20;
    for (int i = 0; i < nsocks; i++) {
        socks[i] = socket(ai->ai_family, SOCK_DGRAM, 0);
        if (socks[i] < 0)
            die("socket");
        if (setsockopt(socks[i], SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0)
            die("SO_TIMESTAMPNS");
        /* Large client buffers (forced when root) so that replies are not dropped here. */
        if (setsockopt(socks[i], SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
            setsockopt(socks[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (nsources) {
            struct addrinfo *src;
            const char *name = sources[i % nsources];
            struct addrinfo shints = {.ai_family = ai->ai_family, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST};
            if ((rc = getaddrinfo(name, "0", &shints, &src))) {
                fprintf(stderr, "ntpload: -b %s: %s\n", name, gai_strerror(rc));
                return 2;
            }
            if (bind(socks[i], src->ai_addr, src->ai_addrlen) < 0)
                die("bind");
            freeaddrinfo(src);
        }
        if (connect(socks[i], ai->ai_addr, ai->ai_addrlen) < 0)
            die("connect");
    }
    freeaddrinfo(ai);

    sent_ns = calloc(total, sizeof *sent_ns);
    lat_ns = malloc(total * sizeof *lat_ns);
    if (!sent_ns || !lat_ns)
        die("malloc");
    memset(lat_ns, 0xff, total * sizeof *lat_ns); /* -1 */
    srand((unsigned)now_ns(CLOCK_MONOTONIC) ^ (unsigned)getpid());
    run_tag = ((uint32_t)rand() << 8) ^ (uint32_t)rand() ^ 0x80000000u;

    long long drops_before = udp_rcvbuf_errors();
    pthread_t rx_thread;
    if (pthread_create(&rx_thread, NULL, receiver, NULL))
        die("pthread_create");

    unsigned char pkts[BATCH][NTP_LEN];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    memset(pkts, 0, sizeof pkts);
    for (int i = 0; i < BATCH; i++) {
        pkts[i][0] = (0 << 6) | (4 << 3) | 3; /* LI 0, version 4, mode 3 */
        pkts[i][2] = 6;                       /* poll */
        pkts[i][3] = (unsigned char)-20;      /* precision */
        iov[i].iov_base = pkts[i];
        iov[i].iov_len = NTP_LEN;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    uint64_t seq = 0, send_errors = 0;
    int s = 0;
    int64_t t0 = now_ns(CLOCK_MONOTONIC);
    double ns_per_pkt = 1e9 / rate;
    while (seq < total) {
        int64_t elapsed = now_ns(CLOCK_MONOTONIC) - t0;
        if (flat_out && elapsed >= (int64_t)(duration * 1e9))
            break;
        uint64_t due = (uint64_t)((double)elapsed / ns_per_pkt) + 1;
        if (due > total)
            due = total;
        if (due <= seq) {
            int64_t next = t0 + (int64_t)((double)seq * ns_per_pkt);
            struct timespec ts = {.tv_sec = next / 1000000000LL, .tv_nsec = next % 1000000000LL};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
            continue;
        }
        int n = (int)(due - seq > BATCH ? BATCH : due - seq);
        for (int i = 0; i < n; i++) {
            uint32_t q = (uint32_t)(seq + i);
            unsigned char *p = pkts[i] + 40; /* transmit timestamp: tag, sequence */
            p[0] = run_tag >> 24; p[1] = run_tag >> 16; p[2] = run_tag >> 8; p[3] = run_tag;
            p[4] = q >> 24; p[5] = q >> 16; p[6] = q >> 8; p[7] = q;
        }
        int64_t t = now_ns(CLOCK_REALTIME);
        for (int i = 0; i < n; i++)
            sent_ns[seq + i] = t;
        int done = sendmmsg(socks[s], msgs, n, 0);
        if (done < 0) {
            if (errno != EAGAIN && errno != ENOBUFS && errno != ECONNREFUSED && errno != EINTR)
                die("sendmmsg");
            done = 0;
        }
        for (int i = done; i < n; i++) { /* not sent: not counted as requests */
            sent_ns[seq + i] = 0;
            send_errors++;
        }
        seq += n;
        atomic_store(&sent_count, seq);
        s = (s + 1) % nsocks;
    }
    int64_t send_end = now_ns(CLOCK_MONOTONIC);
    rx_deadline_ns = send_end + (int64_t)wait_ms * 1000000LL;
    atomic_store(&sender_done, 1);
    pthread_join(rx_thread, NULL);
    long long drops_after = udp_rcvbuf_errors();

    uint64_t requests = seq - send_errors;
    int64_t *lat = malloc((n_valid ? n_valid : 1) * sizeof *lat);
    uint64_t k = 0;
    for (uint64_t i = 0; i < total; i++)
        if (lat_ns[i] >= 0 && k < n_valid)
            lat[k++] = lat_ns[i];
    qsort(lat, k, sizeof *lat, cmp_i64);
    double send_s = (send_end - t0) / 1e9;
    printf("{\"rate\": %.0f, \"duration_s\": %.3f, \"sockets\": %d, \"requests\": %llu, \"send_errors\": %llu, "
           "\"send_rate\": %.1f, \"replies\": %llu, \"lost\": %lld, \"loss\": %.6f, \"dup\": %llu, \"kod\": %llu, "
           "\"bad\": %llu, \"foreign\": %llu, \"client_rcvbuf_errors\": %lld, "
           "\"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f}\n",
           rate, send_s, nsocks, (unsigned long long)requests, (unsigned long long)send_errors,
           requests / (send_s > 0 ? send_s : 1e-9), (unsigned long long)n_valid,
           (long long)requests - (long long)n_valid,
           requests ? ((double)requests - (double)n_valid) / (double)requests : 1.0, (unsigned long long)n_dup,
           (unsigned long long)n_kod, (unsigned long long)n_bad, (unsigned long long)n_late_tag,
           (drops_before >= 0 && drops_after >= 0) ? drops_after - drops_before : -1LL,
           pct_us(lat, k, 0.50), pct_us(lat, k, 0.90), pct_us(lat, k, 0.99), pct_us(lat, k, 0.999),
           k ? lat[k - 1] / 1000.0 : -1.0);
    return 0;
}
