/* fuzz_template_plan.c: libFuzzer target for whole ARM templates: rp_tpl_plan_new() (shape,
 * parameters, variables, copy loops, nested children, conditions, dependsOn, cycles), then every
 * resource body, the outputs and the parameters, as the deployment executor calls them.
 *
 * Invariants checked (abort() on violation):
 * - failures return -EINVAL or -E2BIG with an ARM code and a valid UTF-8 message and target;
 * - on success every resource has an id, type, name and apiVersion, its dependencies are valid
 *   indices other than itself, and the dependency graph has no cycle (a topological order
 *   exists); every body is an object without template-only keys.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "json/json.h"
#include "template/template.h"
#include "util/alloc.h"
#include "util/macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *fake_reference(void *arg, const char *id, const char *api, char **err)
{
        if (strstr(id, "missing")) {
                *err = rp_strdup("not found");
                return NULL;
        }
        return json_pack("{s:s, s:{s:s}}", "id", id, "properties", "id", id);
}

static const rp_tpl_ctx ctx = {
        .subscription_id = "00000000-0000-0000-0000-000000000001",
        .tenant_id = "00000000-0000-0000-0000-000000000002",
        .resource_group = "rg",
        .rg_location = "eastus",
        .deployment_name = "dep",
        .reference = fake_reference,
        .now = 1700000000,
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        rp_json_init();
        return 0;
}

static void check_error(int r, const rp_tpl_error *err)
{
        json_t *m;

        if (r != -EINVAL && r != -E2BIG && r != -ENOENT)
                abort();
        if (!err->code[0] || !err->message[0])
                abort();
        m = json_pack("{s:s, s:s}", "message", err->message, "target", err->target);
        if (!m)
                abort();
        json_decref(m);
}

static void check_plan(rp_tpl_plan *p)
{
        size_t n = rp_tpl_plan_count(p);
        _cleanup_free_ unsigned char *done = rp_calloc(n + 1, 1);
        size_t placed = 0;

        if (!done)
                return;
        for (size_t i = 0; i < n; i++) {
                const rp_tpl_resource *r = rp_tpl_plan_resource(p, i);
                if (!r || !r->id || !r->type || !r->name || !r->api_version || !r->symbolic ||
                    !r->path)
                        abort();
                for (size_t k = 0; k < r->n_deps; k++)
                        if (r->deps[k] >= n || r->deps[k] == i)
                                abort();
        }
        /* Kahn-style: repeatedly place resources whose dependencies are placed. */
        for (bool progress = true; progress;) {
                progress = false;
                for (size_t i = 0; i < n; i++) {
                        const rp_tpl_resource *r = rp_tpl_plan_resource(p, i);
                        bool ready = !done[i];
                        for (size_t k = 0; ready && k < r->n_deps; k++)
                                ready = done[r->deps[k]];
                        if (ready) {
                                done[i] = 1;
                                placed++;
                                progress = true;
                        }
                }
        }
        if (placed != n)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_json_ json_t *tpl = NULL, *params = NULL, *out = NULL;
        _cleanup_tpl_plan_ rp_tpl_plan *p = NULL;
        rp_tpl_error err = { 0 };
        json_error_t jerr;
        int r;

        if (size > 64 * 1024)
                return 0;
        tpl = json_loadb((const char *)data, size, 0, &jerr);
        if (!tpl)
                return 0;
        r = rp_tpl_plan_new(tpl, json_object_get(tpl, "__parameters"), &ctx, &p, &err);
        if (r < 0) {
                if (p)
                        abort();
                check_error(r, &err);
                return 0;
        }
        check_plan(p);
        for (size_t i = 0; i < rp_tpl_plan_count(p); i++) {
                _cleanup_json_ json_t *body = NULL;
                rp_tpl_error e = { 0 };
                r = rp_tpl_plan_body(p, i, &body, &e);
                if (r < 0) {
                        check_error(r, &e);
                        continue;
                }
                if (!json_is_object(body) || json_object_get(body, "dependsOn") ||
                    json_object_get(body, "copy") || json_object_get(body, "apiVersion"))
                        abort();
        }
        r = rp_tpl_plan_outputs(p, &out, &err);
        if (r < 0)
                check_error(r, &err);
        else if (!json_is_object(out))
                abort();
        if (rp_tpl_plan_parameters(p, &params) < 0)
                abort();
        return 0;
}
