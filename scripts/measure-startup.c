/* Start-up cost of dynamo-ctl against C floors (built and run by scripts/measure-startup.sh).
 *
 *   measure-startup run N CMD ARGS...   run CMD N times (after N/10 warm-up runs), stdout and
 *                                       stderr to /dev/null; an argument "@OP@" becomes "add"
 *                                       on even runs and "remove" on odd ones. Prints the
 *                                       median, 10th and 90th percentile wall time (fork to
 *                                       reaped) in microseconds, the median CPU time (user +
 *                                       system) and minor page faults of the child.
 *   measure-startup pair N A... -- B... run A and B alternately N times each (after N/10
 *                                       warm-up pairs) and print each one's line as `run`
 *                                       does, then the median (10th, 90th percentile) of the
 *                                       N ratios B/A of the runs done side by side: on a
 *                                       shared machine, a load that comes and goes weighs on
 *                                       both sides of each ratio alike.
 *   measure-startup hello               the exec floor: print one line, exit.
 *   measure-startup floor DIR NS        the state-operation floor: flock DIR/NS.lock, read
 *                                       DIR/NS.json, write it to a temp file beside it,
 *                                       fsync, rename over it, fsync the directory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int floor_op(const char *dir, const char *ns) {
    char lock[4096], path[4096], tmp[4096];
    snprintf(lock, sizeof lock, "%s/%s.lock", dir, ns);
    snprintf(path, sizeof path, "%s/%s.json", dir, ns);
    snprintf(tmp, sizeof tmp, "%s/.%s.json.XXXXXX.tmp", dir, ns);
    int lf = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (lf < 0 || flock(lf, LOCK_EX) != 0) die(lock);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) die(path);
    char *buf = malloc(st.st_size + 1);
    ssize_t n = read(fd, buf, st.st_size);
    if (n != st.st_size) die("read");
    close(fd);
    int tf = mkstemps(tmp, 4);
    if (tf < 0) die(tmp);
    if (write(tf, buf, n) != n || fchmod(tf, st.st_mode & 07777) != 0 || fsync(tf) != 0)
        die("write");
    close(tf);
    if (rename(tmp, path) != 0) die("rename");
    int df = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (df < 0 || fsync(df) != 0) die(dir);
    close(df);
    free(buf);
    close(lf);
    return 0;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static long run_once(char **argv, int argc, int i, long *faults, long *cpu) {
    char *args[argc + 1];
    for (int k = 0; k < argc; k++)
        args[k] = strcmp(argv[k], "@OP@") == 0 ? (i % 2 ? "remove" : "add") : argv[k];
    args[argc] = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        dup2(nul, 2);
        execv(args[0], args);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) die("wait4");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "measure-startup: %s exited with status %d\n", args[0], status);
        exit(1);
    }
    *faults = ru.ru_minflt;
    *cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
    return (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void report(long *us, long *pf, long *cpu, int n) {
    qsort(us, n, sizeof *us, cmp_long);
    qsort(pf, n, sizeof *pf, cmp_long);
    qsort(cpu, n, sizeof *cpu, cmp_long);
    printf("median %ld us  p10 %ld  p90 %ld  cpu %ld us  minor faults %ld\n", us[n / 2],
           us[n / 10], us[n * 9 / 10], cpu[n / 2], pf[n / 2]);
}

static int pair(int n, char **a, int na, char **b, int nb) {
    long *us[2], *pf[2], *cpu[2], f, c;
    double *ratio = calloc(n, sizeof *ratio);
    for (int k = 0; k < 2; k++) {
        us[k] = calloc(n, sizeof(long));
        pf[k] = calloc(n, sizeof(long));
        cpu[k] = calloc(n, sizeof(long));
    }
    for (int i = 0; i < (n / 10) * 2; i++) {
        run_once(a, na, i, &f, &c);
        run_once(b, nb, i, &f, &c);
    }
    for (int i = 0; i < n; i++) {
        /* Which side goes first alternates too. */
        if (i % 2 == 0) {
            us[0][i] = run_once(a, na, i, &pf[0][i], &cpu[0][i]);
            us[1][i] = run_once(b, nb, i, &pf[1][i], &cpu[1][i]);
        } else {
            us[1][i] = run_once(b, nb, i, &pf[1][i], &cpu[1][i]);
            us[0][i] = run_once(a, na, i, &pf[0][i], &cpu[0][i]);
        }
        ratio[i] = (double)us[1][i] / (double)(us[0][i] > 0 ? us[0][i] : 1);
    }
    qsort(ratio, n, sizeof *ratio, cmp_double);
    report(us[0], pf[0], cpu[0], n);
    report(us[1], pf[1], cpu[1], n);
    printf("ratio median %.2fx  p10 %.2fx  p90 %.2fx\n", ratio[n / 2], ratio[n / 10],
           ratio[n * 9 / 10]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "hello") == 0) {
        puts("hello");
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "floor") == 0) return floor_op(argv[2], argv[3]);
    if (argc >= 6 && strcmp(argv[1], "pair") == 0) {
        int n = atoi(argv[2]), sep = 0;
        for (int k = 3; k < argc; k++)
            if (strcmp(argv[k], "--") == 0) sep = k;
        if (n < 1 || sep <= 3 || sep == argc - 1) {
            fprintf(stderr, "usage: %s pair N A... -- B...\n", argv[0]);
            return 2;
        }
        argv[sep] = NULL;
        return pair(n, argv + 3, sep - 3, argv + sep + 1, argc - sep - 1);
    }
    if (argc < 4 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s run N CMD ARGS... | pair N A... -- B... | hello | floor DIR NS\n",
                argv[0]);
        return 2;
    }
    int n = atoi(argv[2]);
    if (n < 1) n = 1;
    long *us = calloc(n, sizeof *us), *pf = calloc(n, sizeof *pf), *cpu = calloc(n, sizeof *cpu);
    long f, c;
    /* Even warm-up count: the measured runs start with "add" again. */
    for (int i = 0; i < (n / 10) * 2; i++) run_once(argv + 3, argc - 3, i, &f, &c);
    for (int i = 0; i < n; i++) us[i] = run_once(argv + 3, argc - 3, i, &pf[i], &cpu[i]);
    report(us, pf, cpu, n);
    return 0;
}
