/* libpq as a peer for pgsans-bench: the same workloads, printing "wall_seconds cpu_seconds
 * checksum server_cpu_seconds" like the Rust children. Compiled by the bench at run time (gcc -lpq). */
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec + r.ru_stime.tv_usec / 1e6;
}

/* The server backend's time on a CPU (first field of /proc/PID/schedstat, ns). */
static double server_cpu(int pid) {
    char path[64];
    unsigned long long ns = 0;
    snprintf(path, sizeof path, "/proc/%d/schedstat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (fscanf(f, "%llu", &ns) != 1) ns = 0;
    fclose(f);
    return ns / 1e9;
}

static PGconn *connect_or_die(const char *conninfo) {
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

static void must(PGconn *c, PGresult *r, ExecStatusType want) {
    if (PQresultStatus(r) != want) {
        fprintf(stderr, "%s", PQerrorMessage(c));
        exit(1);
    }
    PQclear(r);
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    const char *workload = argv[1], *conninfo = argv[2];
    long long check = 0;
    double t0, c0, t1, c1, s0 = 0, s1 = 0;
    int pid = 0;
    if (!strcmp(workload, "connect")) {
        t0 = now(); c0 = cpu();
        for (int i = 0; i < 300; i++) PQfinish(connect_or_die(conninfo));
        check = 300;
        t1 = now(); c1 = cpu();
    } else if (!strcmp(workload, "roundtrip")) {
        PGconn *c = connect_or_die(conninfo);
        Oid int4 = 23;
        must(c, PQprepare(c, "s", "SELECT $1::int4", 1, &int4), PGRES_COMMAND_OK);
        pid = PQbackendPID(c);
        t0 = now(); c0 = cpu(); s0 = server_cpu(pid);
        char buf[16];
        for (int i = 0; i < 20000; i++) {
            snprintf(buf, sizeof buf, "%d", i);
            const char *v[1] = {buf};
            PGresult *r = PQexecPrepared(c, "s", 1, v, NULL, NULL, 0);
            if (PQresultStatus(r) != PGRES_TUPLES_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
            check += atoi(PQgetvalue(r, 0, 0));
            PQclear(r);
        }
        t1 = now(); c1 = cpu(); s1 = server_cpu(pid);
        PQfinish(c);
    } else if (!strcmp(workload, "pipeline-insert")) {
        PGconn *c = connect_or_die(conninfo);
        const int n = 50000;
        pid = PQbackendPID(c);
        t0 = now(); c0 = cpu(); s0 = server_cpu(pid);
        must(c, PQexec(c, "BEGIN"), PGRES_COMMAND_OK);
        must(c, PQprepare(c, "ins", "INSERT INTO t(a, b) VALUES ($1, $2)", 2, NULL), PGRES_COMMAND_OK);
        PQsetnonblocking(c, 1);
        if (!PQenterPipelineMode(c)) { fprintf(stderr, "pipeline mode\n"); return 1; }
        int sent = 0, done = 0;
        char a[16], b[32];
        while (!done) {
            /* Queue up to 1000 more while the output buffer accepts them. */
            for (int k = 0; k < 1000 && sent < n; k++) {
                snprintf(a, sizeof a, "%d", sent);
                snprintf(b, sizeof b, "value %d", sent);
                const char *v[2] = {a, b};
                if (!PQsendQueryPrepared(c, "ins", 2, v, NULL, NULL, 0)) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
                if (++sent == n) PQpipelineSync(c);
            }
            int pending = PQflush(c);
            struct pollfd p = {PQsocket(c), POLLIN | (pending || sent < n ? POLLOUT : 0), 0};
            poll(&p, 1, -1);
            if (p.revents & POLLIN) {
                if (!PQconsumeInput(c)) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
                while (!PQisBusy(c)) {
                    PGresult *r = PQgetResult(c);
                    if (r == NULL) {
                        if (PQisBusy(c)) break;
                        r = PQgetResult(c);
                        if (r == NULL) break;
                    }
                    ExecStatusType st = PQresultStatus(r);
                    if (st == PGRES_COMMAND_OK) check++;
                    else if (st == PGRES_PIPELINE_SYNC) done = 1;
                    else { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
                    PQclear(r);
                    if (done) break;
                }
            }
        }
        PQexitPipelineMode(c);
        PQsetnonblocking(c, 0);
        must(c, PQexec(c, "COMMIT"), PGRES_COMMAND_OK);
        t1 = now(); c1 = cpu(); s1 = server_cpu(pid);
        PQfinish(c);
    } else if (!strcmp(workload, "copy-in")) {
        /* The same 1M rows as the Rust clients, made before the measurement, 64 KiB chunks. */
        size_t cap = 32u << 20, len = 0;
        char *data = malloc(cap);
        for (long i = 0; i < 1000000; i++) len += snprintf(data + len, cap - len, "%ld\tvalue %ld\n", i, i);
        PGconn *c = connect_or_die(conninfo);
        pid = PQbackendPID(c);
        t0 = now(); c0 = cpu(); s0 = server_cpu(pid);
        must(c, PQexec(c, "COPY t (a, b) FROM STDIN"), PGRES_COPY_IN);
        for (size_t off = 0; off < len; off += 65536) {
            size_t n = len - off < 65536 ? len - off : 65536;
            if (PQputCopyData(c, data + off, (int)n) != 1) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        }
        if (PQputCopyEnd(c, NULL) != 1) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        PGresult *r = PQgetResult(c);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        check = atoll(PQcmdTuples(r));
        PQclear(r);
        t1 = now(); c1 = cpu(); s1 = server_cpu(pid);
        PQfinish(c);
        free(data);
    } else if (!strcmp(workload, "copy-out")) {
        PGconn *c = connect_or_die(conninfo);
        pid = PQbackendPID(c);
        t0 = now(); c0 = cpu(); s0 = server_cpu(pid);
        must(c, PQexec(c, "COPY (SELECT i, md5(i::text), i::float8 / 3 FROM generate_series(1, 1000000) i) TO STDOUT"),
             PGRES_COPY_OUT);
        char *buf;
        int n;
        while ((n = PQgetCopyData(c, &buf, 0)) > 0) {
            check += n;
            PQfreemem(buf);
        }
        if (n != -1) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        PGresult *r = PQgetResult(c);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) { fprintf(stderr, "%s", PQerrorMessage(c)); return 1; }
        PQclear(r);
        t1 = now(); c1 = cpu(); s1 = server_cpu(pid);
        PQfinish(c);
    } else {
        return 2;
    }
    printf("%f %f %lld %f\n", t1 - t0, c1 - c0, check, s1 - s0);
    return 0;
}
