/* hooks.h: freeze hooks: an operator-configured command run around the cut of a VM's restore
 * point ("freeze" before, "thaw" after), with a hard timeout, for application consistency. */
#pragma once
#include <stddef.h>

/** One configured hook ([freeze-hook NAME] in rpd.conf). */
typedef struct rp_hook {
        char *name;        /**< section name */
        char *vm_id;       /**< the VM's resource id (matched case-insensitively) */
        char *command;     /**< absolute path of the program */
        unsigned timeout_s; /**< hard limit per phase; the program is killed past it */
} rp_hook;

/**
 * Run @p hook's command as `command PHASE VM_ID` with RPD_PHASE and RPD_VM_ID set, no shell,
 * stdin from /dev/null. @return 0 if it exited 0 within the timeout, -ETIME on timeout (it is
 * killed), -ECHILD on a non-zero exit, -errno if it could not start.
 */
int rp_hook_run(const rp_hook *hook, const char *phase, const char *vm_id);
