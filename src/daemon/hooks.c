/* hooks.c: running freeze hooks with posix_spawn and a hard timeout. */
#include "hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/time.h"

extern char **environ;

int rp_hook_run(const rp_hook *hook, const char *phase, const char *vm_id)
{
        _cleanup_free_ char *env_phase = rp_asprintf("RPD_PHASE=%s", phase);
        _cleanup_free_ char *env_vm = rp_asprintf("RPD_VM_ID=%s", vm_id);
        if (!env_phase || !env_vm)
                return -ENOMEM;
        char *argv[] = { hook->command, (char *)phase, (char *)vm_id, NULL };
        char *envp[] = { env_phase, env_vm, "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        pid_t pid;
        int k = posix_spawn(&pid, hook->command, &fa, NULL, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        if (k != 0)
                return log_warning_errno(k, "freeze hook '%s': cannot run '%s'", hook->name,
                                         hook->command);
        rp_usec_t deadline = rp_now_monotonic() + (rp_usec_t)hook->timeout_s * RP_USEC_PER_SEC;
        int status = 0;
        for (;;) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return log_warning_errno(errno, "freeze hook '%s': wait failed",
                                                 hook->name);
                if (rp_now_monotonic() >= deadline) {
                        kill(pid, SIGKILL);
                        waitpid(pid, &status, 0);
                        log_warning("freeze hook '%s' (%s) timed out after %u s: killed",
                                    hook->name, phase, hook->timeout_s);
                        return -ETIME;
                }
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                log_warning("freeze hook '%s' (%s) failed with status %d", hook->name, phase,
                            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
                return -ECHILD;
        }
        log_info("freeze hook '%s' (%s) ran for VM '%s'", hook->name, phase, vm_id);
        return 0;
}
