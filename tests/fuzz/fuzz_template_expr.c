/* fuzz_template_expr.c: libFuzzer target for the ARM template expression language: tokenizer,
 * parser, evaluator and every function, in the scope of a fixed plan (parameters, variables,
 * a copy loop, a fake reference() backend).
 *
 * The input is an expression without its brackets ("concat('a', 1)"), evaluated as "[input]";
 * an input starting with '!' is evaluated as the raw template string instead (literals, the
 * "[[" escape).
 *
 * Invariants checked (abort() on violation):
 * - success returns a value and no error; failure returns no value, -EINVAL or -E2BIG, an ARM
 *   code (InvalidTemplate or ResourceNotFound) and a non-empty message and target that are valid
 *   UTF-8, so they can go into a JSON error body;
 * - a result serializes (rp_json_dumps) unless it exceeds the dump cap;
 * - evaluation is deterministic: a second run gives an equal value or the same error.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json/json.h"
#include "template/template.h"
#include "util/alloc.h"
#include "util/macro.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rp_tpl_plan *plan;

static json_t *fake_reference(void *arg, const char *id, const char *api, char **err)
{
        if (strstr(id, "missing")) {
                *err = rp_strdup("not found");
                return NULL;
        }
        return json_pack("{s:s, s:{s:s, s:i}}", "id", id, "properties", "id", id, "n", 1);
}

static const char fixture[] =
        "{\"$schema\":\"x\",\"contentVersion\":\"1.0.0.0\","
        "\"parameters\":{\"s\":{\"type\":\"string\",\"defaultValue\":\"Hello\"},"
        "\"n\":{\"type\":\"int\",\"defaultValue\":3},"
        "\"o\":{\"type\":\"object\",\"defaultValue\":{\"a\":{\"b\":[1,2,3]},\"k\":\"v\"}},"
        "\"arr\":{\"type\":\"array\",\"defaultValue\":[\"x\",\"y\"]},"
        "\"t\":{\"type\":\"string\",\"defaultValue\":\"[utcNow('u')]\"}},"
        "\"variables\":{\"v\":\"[concat(parameters('s'), '-v')]\","
        "\"copy\":[{\"name\":\"vc\",\"count\":2,\"input\":\"[copyIndex('vc')]\"}]},"
        "\"resources\":[{\"type\":\"Microsoft.Compute/disks\",\"apiVersion\":\"1\","
        "\"name\":\"[concat('d', copyIndex())]\",\"copy\":{\"name\":\"disks\",\"count\":2}}]}";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        static const rp_tpl_ctx ctx = {
                .subscription_id = "00000000-0000-0000-0000-000000000001",
                .tenant_id = "00000000-0000-0000-0000-000000000002",
                .resource_group = "rg",
                .rg_location = "eastus",
                .deployment_name = "dep",
                .reference = fake_reference,
                .now = 1700000000,
        };
        json_error_t e;
        json_t *t;

        rp_json_init();
        t = json_loads(fixture, 0, &e);
        if (!t || rp_tpl_plan_new(t, NULL, &ctx, &plan, NULL) < 0)
                abort();
        json_decref(t);
        return 0;
}

static void check_error(int r, const json_t *v, const rp_tpl_error *err)
{
        json_t *m;

        if (v || (r != -EINVAL && r != -E2BIG))
                abort();
        if (strcmp(err->code, "InvalidTemplate") != 0 && strcmp(err->code, "ResourceNotFound") != 0)
                abort();
        if (!err->message[0])
                abort();
        m = json_pack("{s:s, s:s}", "message", err->message, "target", err->target);
        if (!m) /* not valid UTF-8 */
                abort();
        json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_free_ char *s = NULL;
        _cleanup_json_ json_t *v1 = NULL, *v2 = NULL;
        rp_tpl_error e1 = { 0 }, e2 = { 0 };
        int r1, r2;

        if (size > 30000)
                return 0;
        if (size > 0 && data[0] == '!')
                s = rp_strndup((const char *)data + 1, size - 1);
        else {
                s = rp_malloc(size + 3);
                if (s) {
                        s[0] = '[';
                        memcpy(s + 1, data, size);
                        s[size + 1] = ']';
                        s[size + 2] = '\0';
                }
        }
        if (!s)
                return 0;

        r1 = rp_tpl_eval_string(plan, s, &v1, &e1);
        if (r1 >= 0) {
                _cleanup_free_ char *dump = NULL;
                if (!v1 || e1.code[0])
                        abort();
                dump = rp_json_dumps(v1);
                (void)dump; /* NULL only past the dump cap */
        } else {
                check_error(r1, v1, &e1);
        }

        r2 = rp_tpl_eval_string(plan, s, &v2, &e2);
        if (r1 != r2)
                abort();
        if (r1 >= 0 && !json_equal(v1, v2))
                abort();
        if (r1 < 0 && strcmp(e1.message, e2.message) != 0)
                abort();
        return 0;
}
