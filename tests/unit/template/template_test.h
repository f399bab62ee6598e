/* template_test.h: helpers shared by the template unit tests: JSON literals, a fixed deployment
 * context with a fake reference() backend, and assertions on results and errors. */
#pragma once
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json/json.h"
#include "template/template.h"
#include "util/alloc.h"
#include "util/macro.h"

#define T_SUB "00000000-0000-0000-0000-000000000001"
#define T_RG_ID "/subscriptions/" T_SUB "/resourceGroups/rg1"
#define T_SCHEMA "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
/* The head of a template: $schema and contentVersion, to be followed by more members. */
#define T_HEAD "{\"$schema\":\"" T_SCHEMA "\",\"contentVersion\":\"1.0.0.0\","

/* How many times the fake reference() was called, and with what. */
static unsigned t_ref_calls;
static char t_ref_last_id[512];
static char t_ref_last_api[64];

/* Fake reference(): ids containing "missing" fail; others return a document whose properties
 * echo the id. */
static _unused_ json_t *t_reference(void *arg, const char *id, const char *api, char **err)
{
        t_ref_calls++;
        snprintf(t_ref_last_id, sizeof(t_ref_last_id), "%s", id);
        snprintf(t_ref_last_api, sizeof(t_ref_last_api), "%s", api ? api : "(null)");
        if (strstr(id, "missing")) {
                *err = rp_asprintf("The Resource '%s' was not found.", id);
                return NULL;
        }
        return json_pack("{s:s, s:s, s:{s:s, s:i, s:s}}", "id", id, "location", "eastus",
                         "properties", "echo", id, "answer", 42, "provisioningState", "Succeeded");
}

static const rp_tpl_ctx t_ctx = {
        .subscription_id = T_SUB,
        .tenant_id = "11111111-2222-3333-4444-555555555555",
        .resource_group = "rg1",
        .rg_location = "eastus",
        .deployment_name = "dep1",
        .reference = t_reference,
        .now = 1700000000, /* 2023-11-14T22:13:20Z, a Tuesday */
};

/* Parse a JSON literal the test knows to be valid (any value). A backtick stands for a double
 * quote, so templates read well in C strings (expressions never use backticks). */
static _unused_ json_t *t_json(const char *text)
{
        json_error_t e;
        _cleanup_free_ char *q = rp_strdup(text);
        assert_non_null(q);
        for (char *c = q; *c; c++)
                if (*c == '`')
                        *c = '"';
        json_t *j = json_loads(q, JSON_DECODE_ANY, &e);
        if (!j)
                print_error("bad test literal %s: %s\n", text, e.text);
        assert_non_null(j);
        return j;
}

/* Build a plan; the template and parameters are JSON text (parameters may be NULL). */
static _unused_ int t_plan(const char *tpl, const char *params, rp_tpl_plan **ret,
                           rp_tpl_error *err)
{
        _cleanup_json_ json_t *t = t_json(tpl);
        _cleanup_json_ json_t *pj = params ? t_json(params) : NULL;
        return rp_tpl_plan_new(t, pj, &t_ctx, ret, err);
}

/* Build a plan that must succeed. */
static _unused_ rp_tpl_plan *t_plan_ok(const char *tpl, const char *params)
{
        rp_tpl_plan *p = NULL;
        rp_tpl_error err = { 0 };
        int r = t_plan(tpl, params, &p, &err);
        if (r < 0)
                print_error("plan failed (%d): %s: %s [%s]\n", r, err.code, err.message,
                            err.target);
        assert_int_equal(r, 0);
        assert_non_null(p);
        return p;
}

/* Assert that an error has @p code and that its message contains @p needle. */
static _unused_ void t_err_is(const rp_tpl_error *err, const char *code, const char *needle)
{
        if (strcmp(err->code, code) != 0 || !strstr(err->message, needle))
                print_error("want %s / '%s', got %s: %s [%s]\n", code, needle, err->code,
                            err->message, err->target);
        assert_string_equal(err->code, code);
        assert_non_null(strstr(err->message, needle));
}

/* Plan building must fail with @p code, a message containing @p needle and target @p target
 * (NULL: not checked). */
static _unused_ void t_plan_fails(const char *tpl, const char *params, const char *code,
                                  const char *needle, const char *target)
{
        rp_tpl_plan *p = NULL;
        rp_tpl_error err = { 0 };
        int r = t_plan(tpl, params, &p, &err);
        if (r >= 0)
                print_error("plan unexpectedly succeeded, want %s '%s'\n", code, needle);
        assert_true(r < 0);
        assert_null(p);
        t_err_is(&err, code, needle);
        if (target)
                assert_string_equal(err.target, target);
}

/* Evaluate @p s in @p p's scope and compare with the JSON text @p want. */
static _unused_ void t_eval_is(rp_tpl_plan *p, const char *s, const char *want)
{
        _cleanup_json_ json_t *w = t_json(want);
        _cleanup_json_ json_t *got = NULL;
        rp_tpl_error err = { 0 };
        int r = rp_tpl_eval_string(p, s, &got, &err);

        if (r < 0) {
                print_error("%s failed (%d): %s\n", s, r, err.message);
                fail();
        }
        if (!json_equal(w, got)) {
                _cleanup_free_ char *g = rp_json_dumps(got);
                print_error("%s\n  want %s\n  got  %s\n", s, want, g);
                fail();
        }
}

/* Evaluating @p s must fail with @p code and a message containing @p needle. */
static _unused_ void t_eval_fails(rp_tpl_plan *p, const char *s, const char *code,
                                  const char *needle)
{
        _cleanup_json_ json_t *got = NULL;
        rp_tpl_error err = { 0 };
        int r = rp_tpl_eval_string(p, s, &got, &err);

        if (r >= 0) {
                _cleanup_free_ char *g = rp_json_dumps(got);
                print_error("%s unexpectedly gave %s\n", s, g);
        }
        assert_true(r < 0);
        assert_null(got);
        t_err_is(&err, code, needle);
}
