/* cli_progress.c: the progress display of disk import and export, on stderr.
 *
 * On a terminal: one line redrawn in place,
 *   [##########..........]  50%  1.00 GiB / 2.00 GiB  412.3 MB/s  0:02 left
 * Elsewhere (a pipe, a log file, a test): a plain line at every 10% and at least every 5 s,
 *   import: 50% (1.00 GiB of 2.00 GiB), 412.3 MB/s, 0:02 left
 * and in both cases a closing line with the time, the mean rate and the zeros skipped.
 * The rate is bytes covered (moved or skipped as zeros) per second since the start, which
 * is what decides the time left. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"
#include "util/macro.h"

#define PLAIN_PERIOD_USEC (5 * RP_USEC_PER_SEC)
#define BAR_MIN 10
#define BAR_MAX 40
#define TAIL_WIDTH 60

char *rp_cli_format_bytes(uint64_t n, char *buf, size_t size)
{
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double)n;
        size_t u = 0;
        while (v >= 1024.0 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                u++;
        }
        if (u == 0)
                snprintf(buf, size, "%llu B", (unsigned long long)n);
        else
                snprintf(buf, size, "%.*f %s", v < 10 ? 2 : 1, v, units[u]);
        return buf;
}

void rp_cli_format_duration(double sec, char *buf, size_t size)
{
        if (sec < 0 || sec > 359999)
                snprintf(buf, size, "--:--");
        else if (sec >= 3600)
                snprintf(buf, size, "%u:%02u:%02u", (unsigned)sec / 3600, (unsigned)sec / 60 % 60,
                         (unsigned)sec % 60);
        else
                snprintf(buf, size, "%u:%02u", (unsigned)sec / 60, (unsigned)sec % 60);
}

void rp_cli_progress_init(rp_cli_progress *p, const char *label, bool enabled)
{
        *p = (rp_cli_progress){
                .label = label,
                .enabled = enabled,
                .tty = isatty(STDERR_FILENO) == 1,
                .start = rp_now_monotonic(),
                .last_step = -1,
        };
}

void rp_cli_progress_note(rp_cli_progress *p, const char *fmt, ...)
{
        if (!p->enabled)
                return;
        va_list ap;
        fprintf(stderr, "%s: ", p->label);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
}

static int term_width(void)
{
        struct winsize ws;
        if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                return ws.ws_col;
        return 80;
}

void rp_cli_progress_update(const rp_client_xfer_stats *st, void *userdata)
{
        rp_cli_progress *p = userdata;
        if (!p->enabled)
                return;
        rp_usec_t now = rp_now_monotonic();
        double elapsed = (double)(now - p->start) / RP_USEC_PER_SEC;
        double frac = st->total ? (double)st->done / (double)st->total : 1.0;
        double rate = elapsed > 0 ? (double)st->done / elapsed : 0; /* bytes/s */
        double left = rate > 0 ? (double)(st->total - st->done) / rate : -1;
        char done[32], total[32], eta[32];
        rp_cli_format_bytes(st->done, done, sizeof done);
        rp_cli_format_bytes(st->total, total, sizeof total);
        rp_cli_format_duration(left, eta, sizeof eta);
        if (p->tty) {
                char tail[160];
                int n = snprintf(tail, sizeof tail, " %3.0f%%  %s / %s  %.1f MB/s  %s left",
                                 frac * 100, done, total, rate / 1e6, eta);
                /* the bar keeps its width while the numbers after it change length */
                int bar = term_width() - RP_MAX(n, TAIL_WIDTH) - 3;
                bar = bar > BAR_MAX ? BAR_MAX : bar;
                char line[BAR_MAX + 4];
                int len = 0;
                if (bar >= BAR_MIN) {
                        int fill = (int)(frac * bar + 0.5);
                        line[len++] = '[';
                        for (int i = 0; i < bar; i++)
                                line[len++] = i < fill ? '#' : '.';
                        line[len++] = ']';
                }
                line[len] = '\0';
                fprintf(stderr, "\r%s%s\033[K", line, tail);
                fflush(stderr);
                p->drawn = true;
                return;
        }
        int step = (int)(frac * 10);
        if (step == p->last_step && now - p->last_line < PLAIN_PERIOD_USEC)
                return;
        if (step >= 10 && st->done < st->total)
                step = 9;
        p->last_step = step;
        p->last_line = now;
        fprintf(stderr, "%s: %.0f%% (%s of %s), %.1f MB/s, %s left\n", p->label, frac * 100, done,
                total, rate / 1e6, eta);
        fflush(stderr);
}

void rp_cli_progress_finish(rp_cli_progress *p, const rp_client_xfer_stats *st, bool ok)
{
        if (!p->enabled)
                return;
        if (p->tty && p->drawn)
                fputs(ok ? "\n" : "\r\033[K", stderr);
        if (!ok || !st)
                return;
        double elapsed = (double)(rp_now_monotonic() - p->start) / RP_USEC_PER_SEC;
        char total[32], wire[32], skipped[32];
        rp_cli_format_bytes(st->total, total, sizeof total);
        rp_cli_format_bytes(st->wire, wire, sizeof wire);
        rp_cli_format_bytes(st->skipped, skipped, sizeof skipped);
        fprintf(stderr, "%s: done, %s in %.2f s (%.1f MB/s); %s transferred, %s of zeros skipped\n",
                p->label, total, elapsed, elapsed > 0 ? (double)st->total / elapsed / 1e6 : 0.0,
                wire, skipped);
        fflush(stderr);
}
