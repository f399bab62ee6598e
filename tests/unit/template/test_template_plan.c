/* test_template_plan.c: plans: template shape, parameters (every constraint), variables, copy
 * loops, nested children, conditions, dependsOn, cycles, implicit reference() dependencies,
 * resource bodies, outputs, messages and targets, and OOM torture. In template literals a
 * backtick stands for a double quote. */
#include "template_test.h"

#include <time.h>

#define IT "InvalidTemplate"
#define ITD "InvalidTemplateDeployment"
#define MISSING "MissingDeploymentParameter"
#define DISKS T_RG_ID "/providers/Microsoft.Compute/disks/"

/* A template with the given members after the head ("`resources`:[...]" must be among them). */
#define TPL(members) T_HEAD members "}"

/* A disk resource declaration with name expression @p name. */
#define DISK(name)                                                                                 \
        "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`2023-04-02`,`name`:`" name "`,"           \
        "`location`:`[resourceGroup().location]`}"

static size_t find_res(rp_tpl_plan *p, const char *name)
{
        for (size_t i = 0; i < rp_tpl_plan_count(p); i++)
                if (strcmp(rp_tpl_plan_resource(p, i)->name, name) == 0)
                        return i;
        print_error("no resource named %s\n", name);
        fail();
        return SIZE_MAX;
}

/* Assert that resource @p name depends on exactly the resources named in @p want (comma list). */
static void deps_are(rp_tpl_plan *p, const char *name, const char *want)
{
        const rp_tpl_resource *r = rp_tpl_plan_resource(p, find_res(p, name));
        char got[512] = "";
        size_t len = 0, n_want = 0;

        for (size_t i = 0; i < r->n_deps; i++)
                len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s", i ? "," : "",
                                        rp_tpl_plan_resource(p, r->deps[i])->name);
        if (*want)
                n_want = 1;
        for (const char *c = want; *c; c++)
                n_want += *c == ',';
        for (size_t i = 0; i < r->n_deps; i++) {
                const char *dn = rp_tpl_plan_resource(p, r->deps[i])->name;
                const char *hit = strstr(want, dn);
                size_t dl = strlen(dn);
                bool ok = false;
                while (hit && !ok) {
                        ok = (hit == want || hit[-1] == ',') && (hit[dl] == ',' || !hit[dl]);
                        hit = strstr(hit + 1, dn);
                }
                if (!ok || r->n_deps != n_want) {
                        print_error("%s depends on [%s], want [%s]\n", name, got, want);
                        fail();
                }
        }
        if (r->n_deps != n_want) {
                print_error("%s depends on [%s], want [%s]\n", name, got, want);
                fail();
        }
}

static void body_is(rp_tpl_plan *p, const char *name, const char *want)
{
        _cleanup_json_ json_t *w = t_json(want), *got = NULL;
        rp_tpl_error err = { 0 };
        int r = rp_tpl_plan_body(p, find_res(p, name), &got, &err);

        if (r < 0)
                print_error("body of %s failed: %s\n", name, err.message);
        assert_int_equal(r, 0);
        if (!json_equal(w, got)) {
                _cleanup_free_ char *g = rp_json_dumps(got);
                print_error("body of %s: got %s\n", name, g);
                fail();
        }
}

static void outputs_are(rp_tpl_plan *p, const char *want)
{
        _cleanup_json_ json_t *w = t_json(want), *got = NULL;
        rp_tpl_error err = { 0 };
        int r = rp_tpl_plan_outputs(p, &got, &err);

        if (r < 0)
                print_error("outputs failed: %s\n", err.message);
        assert_int_equal(r, 0);
        if (!json_equal(w, got)) {
                _cleanup_free_ char *g = rp_json_dumps(got);
                print_error("outputs: got %s\n", g);
                fail();
        }
}

/* ------------------------------------------------------------------------------------------ */

static void test_template_plan__minimal(void **state)
{
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(TPL("`resources`:[]"), NULL);
        _cleanup_json_ json_t *params = NULL;

        assert_int_equal(rp_tpl_plan_count(p), 0);
        assert_null(rp_tpl_plan_resource(p, 0));
        outputs_are(p, "{}");
        assert_int_equal(rp_tpl_plan_parameters(p, &params), 0);
        assert_int_equal(json_object_size(params), 0);
        assert_null(rp_tpl_plan_free(NULL));
}

static void test_template_plan__shape_errors(void **state)
{
        t_plan_fails("[]", NULL, IT, "must be a JSON object", "");
        t_plan_fails("{`contentVersion`:`1.0.0.0`,`resources`:[]}", NULL, IT,
                     "Required property '$schema' not found", "$schema");
        t_plan_fails("{`$schema`:`x`,`resources`:[]}", NULL, IT,
                     "Required property 'contentVersion'", "contentVersion");
        t_plan_fails("{`$schema`:`x`,`contentVersion`:`1.0`,`resources`:[]}", NULL, IT,
                     "must have the form '1.0.0.0'", "contentVersion");
        t_plan_fails(TPL("`parameters`:{}"), NULL, IT, "Required property 'resources'",
                     "resources");
        t_plan_fails(TPL("`resources`:{}"), NULL, IT, "Required property 'resources'", NULL);
        t_plan_fails(TPL("`resources`:[],`foo`:1"), NULL, IT, "Could not find member 'foo'", "foo");
        t_plan_fails(TPL("`resources`:[],`languageVersion`:`2.0`"), NULL, IT,
                     "'languageVersion' is not supported", NULL);
        t_plan_fails(TPL("`resources`:[],`functions`:[{`namespace`:`x`}]"), NULL, IT,
                     "User-defined template functions are not supported", NULL);
        t_plan_fails(TPL("`resources`:[],`outputs`:[]"), NULL, IT, "'outputs' must be an Object",
                     NULL);
        t_plan_fails(TPL("`resources`:[1]"), NULL, IT, "A resource must be an Object",
                     "resources[0]");
        t_plan_fails(TPL("`resources`:[],`parameters`:[]"), NULL, IT,
                     "'parameters' must be an Object", NULL);
        t_plan_fails(TPL("`resources`:[],`variables`:1"), NULL, IT, "'variables' must be an Object",
                     NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Parameters                                                                                  */

static void test_template_params__given_and_defaults(void **state)
{
        const char *tpl = TPL("`parameters`:{`a`:{`type`:`string`,`defaultValue`:`da`},"
                              "`b`:{`type`:`Int`,`defaultValue`:1},`c`:{`type`:`bool`},"
                              "`o`:{`type`:`object`},`arr`:{`type`:`array`},"
                              "`sec`:{`type`:`securestring`},`so`:{`type`:`secureObject`}},"
                              "`resources`:[]");
        _cleanup_tpl_plan_ rp_tpl_plan *p =
                t_plan_ok(tpl, "{`B`:{`value`:7},`c`:{`value`:false},`o`:{`value`:{`x`:1}},"
                               "`arr`:{`value`:[1]},`sec`:{`value`:`hunter2`},`so`:{`value`:{}}}");
        _cleanup_json_ json_t *params = NULL, *want = NULL;

        t_eval_is(p, "[parameters('a')]", "`da`");
        t_eval_is(p, "[parameters('b')]", "7");
        t_eval_is(p, "[parameters('c')]", "false");
        t_eval_is(p, "[parameters('o').x]", "1");
        t_eval_is(p, "[parameters('sec')]", "`hunter2`");
        assert_int_equal(rp_tpl_plan_parameters(p, &params), 0);
        want = t_json("{`a`:{`type`:`String`,`value`:`da`},`b`:{`type`:`Int`,`value`:7},"
                      "`c`:{`type`:`Bool`,`value`:false},`o`:{`type`:`Object`,`value`:{`x`:1}},"
                      "`arr`:{`type`:`Array`,`value`:[1]},`sec`:{`type`:`SecureString`},"
                      "`so`:{`type`:`SecureObject`}}");
        assert_true(json_equal(want, params));
}

static void test_template_params__missing_and_unknown(void **state)
{
        const char *tpl = TPL("`parameters`:{`a`:{`type`:`string`},`b`:{`type`:`string`,"
                              "`defaultValue`:`x`}},`resources`:[]");
        t_plan_fails(tpl, NULL, MISSING, "The value for the template parameter 'a' is not provided",
                     "parameters.a");
        t_plan_fails(tpl, "{`a`:{`value`:`1`},`zz`:{`value`:1}}", ITD,
                     "The template parameters 'zz' in the parameters file are not valid",
                     "parameters.zz");
        t_plan_fails(tpl, "{`a`:{`value`:`1`},`zz`:{`value`:1}}", ITD,
                     "The only supported parameters for this template are 'a, b'", NULL);
        t_plan_fails(tpl, "{`a`:`1`}", ITD, "must be an Object with a 'value'", "parameters.a");
        t_plan_fails(tpl, "{`a`:{`reference`:{`keyVault`:{}}}}", ITD,
                     "Key Vault references are not supported", NULL);
        t_plan_fails(tpl, "[]", ITD, "must be an Object", NULL);
}

static void test_template_params__types(void **state)
{
        const char *tpl = TPL("`parameters`:{`i`:{`type`:`int`,`defaultValue`:1},"
                              "`s`:{`type`:`string`,`defaultValue`:`x`},"
                              "`b`:{`type`:`bool`,`defaultValue`:true},"
                              "`o`:{`type`:`object`,`defaultValue`:{}},"
                              "`a`:{`type`:`array`,`defaultValue`:[]},"
                              "`ss`:{`type`:`secureString`,`defaultValue`:`x`}},`resources`:[]");
        t_plan_fails(tpl, "{`i`:{`value`:`3`}}", ITD,
                     "Expected a value of type 'Int', but received a value of type 'String'",
                     "parameters.i");
        t_plan_fails(tpl, "{`s`:{`value`:3}}", ITD, "Expected a value of type 'String'", NULL);
        t_plan_fails(tpl, "{`b`:{`value`:`true`}}", ITD, "Expected a value of type 'Bool'", NULL);
        t_plan_fails(tpl, "{`o`:{`value`:[]}}", ITD,
                     "Expected a value of type 'Object', but "
                     "received a value of type 'Array'",
                     NULL);
        t_plan_fails(tpl, "{`a`:{`value`:{}}}", ITD, "Expected a value of type 'Array'", NULL);
        t_plan_fails(tpl, "{`ss`:{`value`:null}}", ITD, "received a value of type 'Null'", NULL);
        t_plan_fails(TPL("`parameters`:{`x`:{`type`:`int`,`defaultValue`:`1`}},`resources`:[]"),
                     NULL, ITD, "Expected a value of type 'Int'", NULL);
        t_plan_fails(TPL("`parameters`:{`x`:{`type`:`float`}},`resources`:[]"), NULL, IT,
                     "its 'type' must be one of", "parameters.x");
        t_plan_fails(TPL("`parameters`:{`x`:{}},`resources`:[]"), NULL, IT, "found '(none)'", NULL);
        t_plan_fails(TPL("`parameters`:{`x`:1},`resources`:[]"), NULL, IT, "its 'type' must be",
                     NULL);
}

static void test_template_params__allowed_values(void **state)
{
        const char *tpl =
                TPL("`parameters`:{`sku`:{`type`:`string`,`defaultValue`:`Standard_LRS`,"
                    "`allowedValues`:[`Standard_LRS`,`Premium_LRS`]},"
                    "`zones`:{`type`:`array`,`defaultValue`:[],`allowedValues`:[`1`,`2`,`3`]}},"
                    "`resources`:[]");
        rp_tpl_plan_free(
                t_plan_ok(tpl, "{`sku`:{`value`:`Premium_LRS`},`zones`:{`value`:[`1`,`3`]}}"));
        t_plan_fails(tpl, "{`sku`:{`value`:`premium_lrs`}}", ITD,
                     "The value 'premium_lrs' is not part of the allowed value(s): "
                     "'[\"Standard_LRS\",\"Premium_LRS\"]'",
                     "parameters.sku");
        t_plan_fails(tpl, "{`zones`:{`value`:[`1`,`4`]}}", ITD, "The value '4' is not part of",
                     "parameters.zones");
        t_plan_fails(
                TPL("`parameters`:{`x`:{`type`:`string`,`defaultValue`:`a`,`allowedValues`:`a`}},"
                    "`resources`:[]"),
                NULL, IT, "'allowedValues' must be an Array", NULL);
        /* the default is checked too */
        t_plan_fails(TPL("`parameters`:{`x`:{`type`:`int`,`defaultValue`:5,`allowedValues`:[1,2]}},"
                         "`resources`:[]"),
                     NULL, ITD, "The value '5' is not part of", NULL);
}

static void test_template_params__min_max(void **state)
{
        const char *tpl =
                TPL("`parameters`:{`n`:{`type`:`int`,`defaultValue`:5,`minValue`:1,`maxValue`:10},"
                    "`s`:{`type`:`string`,`defaultValue`:`abc`,`minLength`:3,`maxLength`:5},"
                    "`a`:{`type`:`array`,`defaultValue`:[1],`minLength`:1,`maxLength`:2}},"
                    "`resources`:[]");
        rp_tpl_plan_free(
                t_plan_ok(tpl, "{`n`:{`value`:10},`s`:{`value`:`héllo`},`a`:{`value`:[1,2]}}"));
        rp_tpl_plan_free(t_plan_ok(tpl, "{`n`:{`value`:1}}"));
        t_plan_fails(tpl, "{`n`:{`value`:0}}", ITD,
                     "The value '0' is less than the minimum value of '1'", "parameters.n");
        t_plan_fails(tpl, "{`n`:{`value`:11}}", ITD,
                     "The value '11' is greater than the maximum value of '10'", NULL);
        t_plan_fails(tpl, "{`s`:{`value`:`ab`}}", ITD,
                     "The length '2' is less than the minimum length of '3'", "parameters.s");
        t_plan_fails(tpl, "{`s`:{`value`:`abcdef`}}", ITD,
                     "The length '6' is greater than the maximum length of '5'", NULL);
        t_plan_fails(tpl, "{`a`:{`value`:[]}}", ITD, "The length '0' is less than the minimum",
                     "parameters.a");
        t_plan_fails(tpl, "{`a`:{`value`:[1,2,3]}}", ITD, "The length '3' is greater", NULL);
        t_plan_fails(TPL("`parameters`:{`n`:{`type`:`int`,`defaultValue`:5,`minValue`:`1`}},"
                         "`resources`:[]"),
                     NULL, IT, "'minValue' must be an Integer", NULL);
}

static void test_template_params__secure_values_are_not_shown(void **state)
{
        const char *tpl = TPL("`parameters`:{`pw`:{`type`:`securestring`,`minLength`:12,"
                              "`allowedValues`:[`correct horse battery`]}},`resources`:[]");
        rp_tpl_plan *p = NULL;
        rp_tpl_error err = { 0 };

        assert_true(t_plan(tpl, "{`pw`:{`value`:`hunter2hunter2`}}", &p, &err) < 0);
        t_err_is(&err, ITD, "The value '(secure value)' is not part of");
        assert_null(strstr(err.message, "hunter2"));
}

static void test_template_params__default_expressions(void **state)
{
        const char *tpl = TPL(
                "`parameters`:{`name`:{`type`:`string`,`defaultValue`:`[concat(parameters('prefix')"
                ", "
                "'-x')]`},`prefix`:{`type`:`string`,`defaultValue`:`[resourceGroup().name]`},"
                "`stamp`:{`type`:`string`,`defaultValue`:`[utcNow()]`},"
                "`u`:{`type`:`string`,`defaultValue`:`[utcNow('u')]`},"
                "`d`:{`type`:`string`,`defaultValue`:`[utcNow('d')]`},"
                "`r`:{`type`:`string`,`defaultValue`:`[utcNow('r')]`},"
                "`o`:{`type`:`string`,`defaultValue`:`[utcNow('o')]`},"
                "`c`:{`type`:`string`,`defaultValue`:`[utcNow('yyyy-MM-dd HH:mm tt dddd MMMM')]`}},"
                "`resources`:[]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        t_eval_is(p, "[parameters('name')]", "`rg1-x`");
        t_eval_is(p, "[parameters('stamp')]", "`20231114T221320Z`");
        t_eval_is(p, "[parameters('u')]", "`2023-11-14 22:13:20Z`");
        t_eval_is(p, "[parameters('d')]", "`11/14/2023`");
        t_eval_is(p, "[parameters('r')]", "`Tue, 14 Nov 2023 22:13:20 GMT`");
        t_eval_is(p, "[parameters('o')]", "`2023-11-14T22:13:20.0000000Z`");
        t_eval_is(p, "[parameters('c')]", "`2023-11-14 22:13 PM Tuesday November`");

        t_plan_fails(
                TPL("`parameters`:{`a`:{`type`:`string`,`defaultValue`:`[parameters('b')]`},"
                    "`b`:{`type`:`string`,`defaultValue`:`[parameters('a')]`}},`resources`:[]"),
                NULL, IT, "circular reference detected: 'a' -> 'b' -> 'a'", NULL);
        t_plan_fails(TPL("`parameters`:{`a`:{`type`:`string`,`defaultValue`:`[variables('v')]`}},"
                         "`variables`:{`v`:`x`},`resources`:[]"),
                     NULL, IT, "'variables' is not expected at this location",
                     "parameters.a.defaultValue");
        t_plan_fails(
                TPL("`parameters`:{`a`:{`type`:`string`,`defaultValue`:`[utcNow('ffffffff')]`}},"
                    "`resources`:[]"),
                NULL, IT, "Deployment template validation failed: 'The template parameter 'a'",
                NULL);
        t_plan_fails(TPL("`parameters`:{`a`:{`type`:`string`,`defaultValue`:`[utcNow('''x')]`}},"
                         "`resources`:[]"),
                     NULL, IT, "is not valid", NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Variables                                                                                   */

static void test_template_vars__chains_copies_cycles(void **state)
{
        const char *tpl =
                TPL("`parameters`:{`n`:{`type`:`int`,`defaultValue`:3}},"
                    "`variables`:{`c`:`[concat(variables('b'), 'c')]`,`b`:`[concat(variables('a'), "
                    "'b')]`,"
                    "`a`:`a`,`obj`:{`inner`:`[variables('a')]`,`copy`:[{`name`:`disks`,"
                    "`count`:`[parameters('n')]`,`input`:{`lun`:`[copyIndex('disks')]`}}]},"
                    "`copy`:[{`name`:`names`,`count`:2,`input`:`[concat('n', copyIndex('names', "
                    "1))]`}]},"
                    "`resources`:[]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        t_eval_is(p, "[variables('c')]", "`abc`");
        t_eval_is(p, "[variables('obj')]", "{`inner`:`a`,`disks`:[{`lun`:0},{`lun`:1},{`lun`:2}]}");
        t_eval_is(p, "[variables('names')]", "[`n1`,`n2`]");

        t_plan_fails(TPL("`variables`:{`x`:`[variables('y')]`,`y`:`[concat(variables('z'))]`,"
                         "`z`:`[variables('x')]`},`resources`:[]"),
                     NULL, IT, "circular reference detected: 'x' -> 'y' -> 'z' -> 'x'", NULL);
        t_plan_fails(TPL("`variables`:{`x`:`[variables('x')]`},`resources`:[]"), NULL, IT,
                     "'x' -> 'x'", NULL);
        t_plan_fails(TPL("`variables`:{`x`:`[copyIndex()]`},`resources`:[]"), NULL, IT,
                     "'copyIndex' is not expected", "variables.x");
        t_plan_fails(TPL("`variables`:{`x`:`[utcNow()]`},`resources`:[]"), NULL, IT,
                     "'utcNow' is not expected", NULL);
        t_plan_fails(TPL("`variables`:{`x`:`[reference('a')]`},`resources`:[]"), NULL, IT,
                     "'reference' is not expected", NULL);
        t_plan_fails(TPL("`variables`:{`x`:{`y`:[1,`[div(1,0)]`]}},`resources`:[]"), NULL, IT,
                     "The template variable 'x' at 'variables.x.y[1]' is not valid",
                     "variables.x.y[1]");
        t_plan_fails(
                TPL("`variables`:{`copy`:[{`name`:`v`,`count`:`x`,`input`:1}]},`resources`:[]"),
                NULL, IT, "The copy 'count' must be an Integer", "variables.copy[0].count");
        t_plan_fails(TPL("`variables`:{`copy`:[{`count`:1,`input`:1}]},`resources`:[]"), NULL, IT,
                     "A variable copy loop must be an object", "variables.copy[0]");
        t_plan_fails(TPL("`variables`:{`X`:1,`copy`:[{`name`:`x`,`count`:1,`input`:1}]},"
                         "`resources`:[]"),
                     NULL, IT, "declared more than once", NULL);
        t_plan_fails(TPL("`variables`:{`o`:{`copy`:[{`name`:`l`,`count`:801,`input`:1}]}},"
                         "`resources`:[]"),
                     NULL, IT, "must be between 0 and 800", NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* Resources                                                                                   */

static void test_template_res__simple(void **state)
{
        const char *tpl = TPL(
                "`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`2023-04-02`,"
                "`name`:`[concat('d', '1')]`,`location`:`[resourceGroup().location]`,"
                "`tags`:{`env`:`[toUpper('dev')]`},`sku`:{`name`:`Standard_LRS`},"
                "`zones`:[`1`],`comments`:`a disk`,`dependsOn`:[],"
                "`properties`:{`creationData`:{`createOption`:`Empty`},`diskSizeGB`:`[mul(4, 2)]`,"
                "`note`:`[[literal]`}}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);
        const rp_tpl_resource *r;

        assert_int_equal(rp_tpl_plan_count(p), 1);
        r = rp_tpl_plan_resource(p, 0);
        assert_string_equal(r->id, DISKS "d1");
        assert_string_equal(r->type, "Microsoft.Compute/disks");
        assert_string_equal(r->name, "d1");
        assert_string_equal(r->api_version, "2023-04-02");
        assert_string_equal(r->symbolic, "d1");
        assert_string_equal(r->path, "resources[0]");
        assert_int_equal(r->copy_index, -1);
        assert_int_equal(r->n_deps, 0);
        body_is(p, "d1",
                "{`location`:`eastus`,`tags`:{`env`:`DEV`},`sku`:{`name`:`Standard_LRS`},"
                "`zones`:[`1`],`properties`:{`creationData`:{`createOption`:`Empty`},"
                "`diskSizeGB`:8,`note`:`[literal]`}}");

        _cleanup_json_ json_t *b = NULL;
        assert_int_equal(rp_tpl_plan_body(p, 1, &b, NULL), -ENOENT);
        assert_null(b);
}

static void test_template_res__declaration_errors(void **state)
{
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`name`:`d`}]"), NULL, IT,
                     "The resource property 'apiVersion' is missing", "resources[0].apiVersion");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`[length('ab')]`}]"),
                     NULL, IT, "'name' must be a non-empty String, found 'Integer'",
                     "resources[0].name");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`a/b`}]"),
                     NULL, IT, "has incorrect segment lengths", NULL);
        t_plan_fails(TPL("`resources`:[{`type`:`disks`,`apiVersion`:`1`,`name`:`a`}]"), NULL, IT,
                     "has incorrect segment lengths", NULL);
        t_plan_fails(TPL("`resources`:[" DISK("d1") "," DISK("D1") "]"), NULL, IT,
                     "is defined multiple times in a template", "resources[1]");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`resourceGroup`:`other`}]"),
                     NULL, IT, "'resourceGroup' is not supported", "resources[0].resourceGroup");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`[reference('x').name]`}]"),
                     NULL, IT, "The template function 'reference' is not expected",
                     "resources[0].name");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`dependsOn`:`x`}]"),
                     NULL, IT, "'dependsOn' must be an Array", NULL);
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`dependsOn`:[1]}]"),
                     NULL, IT, "A 'dependsOn' entry must be a String", "resources[0].dependsOn[0]");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`resources`:{}}]"),
                     NULL, IT, "The nested 'resources' must be an Array", NULL);
}

static void test_template_res__static_check_names_the_path(void **state)
{
        const char *tpl = TPL("`resources`:[" DISK(
                "d0") ",{`type`:`Microsoft.Compute/"
                      "restorePointCollections`,`apiVersion`:`2023-03-01`,`name`:`c`,"
                      "`properties`:{`source`:{`id`:`[resourceld('Microsoft.Compute/"
                      "virtualMachines', 'vm')]`}}}]");
        rp_tpl_plan *p = NULL;
        rp_tpl_error err = { 0 };

        assert_int_equal(t_plan(tpl, NULL, &p, &err), -EINVAL);
        assert_string_equal(err.target, "resources[1].properties.source.id");
        t_err_is(&err, IT,
                 "Deployment template validation failed: 'The template resource 'c' at "
                 "'resources[1].properties.source.id' is not valid: The language expression "
                 "'[resourceld('Microsoft.Compute/virtualMachines', 'vm')]' failed at position 1: "
                 "The template function 'resourceld' is not valid.");
        /* wrong arity is caught statically too, in outputs as well */
        t_plan_fails(TPL("`resources`:[],`outputs`:{`o`:{`type`:`string`,`value`:`[not()]`}}"),
                     NULL, IT, "'not' must have exactly 1 parameter(s)", "outputs.o.value");
}

static void test_template_res__copy_loop(void **state)
{
        const char *tpl =
                TPL("`parameters`:{`n`:{`type`:`int`,`defaultValue`:3}},"
                    "`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`2023-04-02`,"
                    "`name`:`[concat('d', copyIndex(1))]`,`copy`:{`name`:`disks`,"
                    "`count`:`[parameters('n')]`},`properties`:{`i`:`[copyIndex()]`,"
                    "`j`:`[copyIndex('disks', 10)]`}}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        assert_int_equal(rp_tpl_plan_count(p), 3);
        for (int i = 0; i < 3; i++) {
                const rp_tpl_resource *r = rp_tpl_plan_resource(p, (size_t)i);
                char name[8];
                snprintf(name, sizeof(name), "d%d", i + 1);
                assert_string_equal(r->name, name);
                assert_int_equal(r->copy_index, i);
                assert_string_equal(r->symbolic, "disks");
                assert_int_equal(r->n_deps, 0);
        }
        body_is(p, "d2", "{`properties`:{`i`:1,`j`:11}}");

        rp_tpl_plan_free(t_plan_ok(tpl, "{`n`:{`value`:0}}"));
        {
                _cleanup_tpl_plan_ rp_tpl_plan *none = t_plan_ok(tpl, "{`n`:{`value`:0}}");
                assert_int_equal(rp_tpl_plan_count(none), 0);
        }
        t_plan_fails(tpl, "{`n`:{`value`:801}}", IT, "The copy count '801' is not valid",
                     "resources[0].copy.count");
        t_plan_fails(tpl, "{`n`:{`value`:-1}}", IT, "is not valid", NULL);
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`copy`:{`count`:2}}]"),
                     NULL, IT, "The resource 'copy' must be an Object with a 'name'",
                     "resources[0].copy");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`copy`:{`name`:`l`,`count`:`2`}}]"),
                     NULL, IT, "The copy 'count' must be an Integer, found 'String'", NULL);
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`copy`:{`name`:`l`,`count`:2,`mode`:`random`}}]"),
                     NULL, IT, "The copy 'mode' must be 'Serial' or 'Parallel'", NULL);
        /* all instances get the same name: duplicates */
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`copy`:{`name`:`l`,`count`:2}}]"),
                     NULL, IT, "defined multiple times", NULL);
        /* 800 is the most resources */
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`[concat('a', copyIndex())]`,`copy`:{`name`:`a`,`count`:800}},"
                         "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`[concat('b', copyIndex())]`,`copy`:{`name`:`b`,`count`:1}}]"),
                     NULL, IT, "more than 800 resources", NULL);
}

static void test_template_res__serial_copy(void **state)
{
        const char *one = TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                              "`name`:`[concat('d', copyIndex())]`,`copy`:{`name`:`l`,`count`:3,"
                              "`mode`:`serial`,`batchSize`:1}}]");
        const char *two = TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                              "`name`:`[concat('d', copyIndex())]`,`copy`:{`name`:`l`,`count`:5,"
                              "`mode`:`Serial`,`batchSize`:`[add(1, 1)]`},"
                              "`condition`:`[not(equals(copyIndex(), 3))]`}]");
        rp_tpl_plan *p = t_plan_ok(one, NULL);
        deps_are(p, "d0", "");
        deps_are(p, "d1", "d0");
        deps_are(p, "d2", "d1");
        rp_tpl_plan_free(p);

        /* batches {0,1} {2,(3 dropped)} {4} */
        p = t_plan_ok(two, NULL);
        assert_int_equal(rp_tpl_plan_count(p), 4);
        deps_are(p, "d0", "");
        deps_are(p, "d1", "");
        deps_are(p, "d2", "d0,d1");
        deps_are(p, "d4", "d2");
        rp_tpl_plan_free(p);

        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`copy`:{`name`:`l`,`count`:1,`batchSize`:0}}]"),
                     NULL, IT, "'batchSize' must be an Integer between 1 and 800",
                     "resources[0].copy.batchSize");
}

static void test_template_res__nested_children(void **state)
{
        const char *tpl = TPL(
                "`resources`:[{`type`:`Microsoft.Compute/restorePointCollections`,"
                "`apiVersion`:`2023-03-01`,`name`:`[concat('c', copyIndex())]`,"
                "`copy`:{`name`:`colls`,`count`:2},`location`:`eastus`,"
                "`resources`:[{`type`:`restorePoints`,`apiVersion`:`2023-03-01`,"
                "`name`:`[concat('rp', copyIndex())]`,`properties`:{`i`:`[copyIndex('colls')]`},"
                "`resources`:[{`type`:`diskRestorePoints`,`apiVersion`:`2023-03-01`,"
                "`name`:`drp`}]}]}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);
        const rp_tpl_resource *r;

        assert_int_equal(rp_tpl_plan_count(p), 6);
        /* a child right after its parent's instance */
        assert_string_equal(rp_tpl_plan_resource(p, 0)->name, "c0");
        assert_string_equal(rp_tpl_plan_resource(p, 1)->name, "c0/rp0");
        assert_string_equal(rp_tpl_plan_resource(p, 2)->name, "c0/rp0/drp");
        assert_string_equal(rp_tpl_plan_resource(p, 3)->name, "c1");
        r = rp_tpl_plan_resource(p, 4);
        assert_string_equal(r->name, "c1/rp1");
        assert_string_equal(r->type, "Microsoft.Compute/restorePointCollections/restorePoints");
        assert_string_equal(r->id, T_RG_ID "/providers/Microsoft.Compute/restorePointCollections/"
                                           "c1/restorePoints/rp1");
        assert_string_equal(r->path, "resources[0].resources[0]");
        assert_int_equal(r->copy_index, 1);
        deps_are(p, "c1/rp1", "c1");
        deps_are(p, "c1/rp1/drp", "c1/rp1");
        deps_are(p, "c0", "");
        body_is(p, "c1/rp1", "{`properties`:{`i`:1}}");
        r = rp_tpl_plan_resource(p, 5);
        assert_string_equal(r->type, "Microsoft.Compute/restorePointCollections/restorePoints/"
                                     "diskRestorePoints");

        /* a full type inside a parent is taken as is */
        _cleanup_tpl_plan_ rp_tpl_plan *q = t_plan_ok(
                TPL("`resources`:[{`type`:`Microsoft.Compute/restorePointCollections`,"
                    "`apiVersion`:`1`,`name`:`c`,`resources`:[{`type`:`Microsoft.Compute/"
                    "restorePointCollections/restorePoints`,`apiVersion`:`1`,`name`:`c/rp`}]}]"),
                NULL);
        deps_are(q, "c/rp", "c");
}

static void test_template_res__conditions(void **state)
{
        const char *tpl = TPL(
                "`parameters`:{`make`:{`type`:`bool`,`defaultValue`:false}},"
                "`resources`:[{`type`:`Microsoft.Compute/restorePointCollections`,`apiVersion`:`1`,"
                "`name`:`c`,`condition`:`[parameters('make')]`,`resources`:[{`type`:`restorePoints`"
                ","
                "`apiVersion`:`1`,`name`:`rp`}]},"
                "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,`name`:`[concat('d', "
                "copyIndex())]`,"
                "`copy`:{`name`:`disks`,`count`:4},`condition`:`[equals(mod(copyIndex(), 2), 0)]`},"
                "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,`name`:`last`,"
                "`dependsOn`:[`c`,`c/rp`,`[resourceId('Microsoft.Compute/disks', "
                "'d1')]`,`disks`]}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        assert_int_equal(rp_tpl_plan_count(p), 3);
        find_res(p, "d0");
        find_res(p, "d2");
        /* dependencies on dropped resources are ignored; the loop name keeps what is left */
        deps_are(p, "last", "d0,d2");

        _cleanup_tpl_plan_ rp_tpl_plan *q = t_plan_ok(tpl, "{`make`:{`value`:true}}");
        assert_int_equal(rp_tpl_plan_count(q), 5);
        deps_are(q, "last", "c,c/rp,d0,d2");

        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`d`,`condition`:`true`}]"),
                     NULL, IT, "The resource 'condition' must be a Boolean, found 'String'",
                     "resources[0].condition");
}

static void test_template_res__depends_on(void **state)
{
        const char *tpl = TPL("`resources`:[" DISK("d1") "," DISK("d2") "," DISK(
                "d3") ",{`type`:`Microsoft.Compute/disks`,"
                      "`apiVersion`:`1`,`name`:`[concat('l', "
                      "copyIndex())]`,`copy`:{`name`:`loop`,`count`:2}},"
                      "{`type`:`Microsoft.Compute/"
                      "snapshots`,`apiVersion`:`1`,`name`:`s`,`dependsOn`:["
                      "`d1`,`[resourceId('Microsoft.Compute/disks', "
                      "'d2')]`,`Microsoft.Compute/disks/d3`,"
                      "`LOOP`]},"
                      "{`type`:`Microsoft.Compute/"
                      "snapshots`,`apiVersion`:`1`,`name`:`t`,`dependsOn`:["
                      "`" DISKS "D1`,`d1`]}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        deps_are(p, "s", "d1,d2,d3,l0,l1");
        deps_are(p, "t", "d1");

        t_plan_fails(TPL("`resources`:[" DISK(
                             "d1") ",{`type`:`Microsoft.Compute/snapshots`,"
                                   "`apiVersion`:`1`,`name`:`s`,`dependsOn`:[`d1`,`nope`]}]"),
                     NULL, IT, "The resource 'nope' is not defined in the template",
                     "resources[1]");
        t_plan_fails(TPL("`resources`:[" DISK(
                             "d1") ",{`type`:`Microsoft.Compute/snapshots`,"
                                   "`apiVersion`:`1`,`name`:`s`,`dependsOn`:[`d1`,`nope`]}]"),
                     NULL, IT, "at 'resources[1].dependsOn[1]'", NULL);
}

static void test_template_res__cycles(void **state)
{
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`a`,`dependsOn`:[`b`]},{`type`:`Microsoft.Compute/disks`,"
                         "`apiVersion`:`1`,`name`:`b`,`dependsOn`:[`c`]},"
                         "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,`name`:`c`,"
                         "`dependsOn`:[`a`]}]"),
                     NULL, IT,
                     "Deployment template validation failed: 'Circular dependency detected on "
                     "resource: '" DISKS "a'.",
                     "resources[0]");
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`a`,`dependsOn`:[`a`]}]"),
                     NULL, IT, "Circular dependency detected on resource: '" DISKS "a'", NULL);
        /* a child that names its parent's dependent */
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/restorePointCollections`,"
                         "`apiVersion`:`1`,`name`:`c`,`dependsOn`:[`c/rp`],`resources`:["
                         "{`type`:`restorePoints`,`apiVersion`:`1`,`name`:`rp`}]}]"),
                     NULL, IT, "Circular dependency detected", NULL);
        /* the loop depending on itself */
        t_plan_fails(TPL("`resources`:[{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,"
                         "`name`:`[concat('d', copyIndex())]`,`copy`:{`name`:`l`,`count`:2},"
                         "`dependsOn`:[`l`]}]"),
                     NULL, IT, "Circular dependency detected", NULL);
}

static void test_template_res__reference(void **state)
{
        const char *tpl = TPL("`resources`:[" DISK(
                "d1") ",{`type`:`Microsoft.Compute/snapshots`,`apiVersion`:`2`,"
                      "`name`:`s`,`properties`:{`a`:`[reference('d1').answer]`,"
                      "`b`:`[reference(resourceId('Microsoft.Compute/disks', 'd2'), "
                      "'2020-01-01').echo]`,"
                      "`c`:`[reference('Microsoft.Compute/disks/d1', '2021-01-01', "
                      "'Full').location]`}}," DISK(
                              "d2") ",{`type`:`Microsoft.Compute/"
                                    "snapshots`,`apiVersion`:`2`,`name`:`m`,"
                                    "`properties`:{`x`:`[reference(resourceId('Microsoft.Compute/"
                                    "disks', 'missing'))]`}}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);
        _cleanup_json_ json_t *b = NULL;
        rp_tpl_error err = { 0 };

        /* implicit dependencies from reference() to resources of the template */
        deps_are(p, "s", "d1,d2");
        deps_are(p, "m", "");
        body_is(p, "s", "{`properties`:{`a`:42,`b`:`" DISKS "d2`,`c`:`eastus`}}");
        assert_string_equal(t_ref_last_id, DISKS "d1");
        assert_string_equal(t_ref_last_api, "2021-01-01");

        assert_int_equal(rp_tpl_plan_body(p, find_res(p, "m"), &b, &err), -EINVAL);
        assert_null(b);
        t_err_is(&err, "ResourceNotFound",
                 "Unable to process template language expressions for resource '"
                 "/subscriptions/" T_SUB "/resourceGroups/rg1/providers/Microsoft.Compute/"
                 "snapshots/m' at 'resources[3].properties.x'");
        assert_string_equal(err.target, "resources[3].properties.x");
        t_err_is(&err, "ResourceNotFound", "was not found");

        /* reference() by a name uses the resource's own apiVersion */
        _cleanup_tpl_plan_ rp_tpl_plan *q =
                t_plan_ok(TPL("`resources`:[" DISK("d1") "],`outputs`:{`o`:{`type`:`int`,"
                                                         "`value`:`[reference('d1').answer]`}}"),
                          NULL);
        outputs_are(q, "{`o`:{`type`:`Int`,`value`:42}}");
        assert_string_equal(t_ref_last_api, "2023-04-02");
}

static void test_template_res__body_errors_and_property_copy(void **state)
{
        const char *tpl = TPL(
                "`resources`:[{`type`:`Microsoft.Compute/virtualMachines`,`apiVersion`:`1`,"
                "`name`:`[concat('vm', copyIndex())]`,`copy`:{`name`:`vms`,`count`:2},"
                "`properties`:{`storageProfile`:{`copy`:[{`name`:`dataDisks`,`count`:2,"
                "`input`:{`lun`:`[copyIndex('dataDisks')]`,"
                "`name`:`[format('vm{0}-disk{1}', copyIndex(), copyIndex('dataDisks', 1))]`}}]}}},"
                "{`type`:`Microsoft.Compute/disks`,`apiVersion`:`1`,`name`:`bad`,"
                "`properties`:{`x`:[1,{`y`:`[div(1, 0)]`}]}}]");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);
        _cleanup_json_ json_t *b = NULL;
        rp_tpl_error err = { 0 };

        body_is(p, "vm1",
                "{`properties`:{`storageProfile`:{`dataDisks`:[{`lun`:0,`name`:`vm1-disk1`},"
                "{`lun`:1,`name`:`vm1-disk2`}]}}}");
        assert_int_equal(rp_tpl_plan_body(p, find_res(p, "bad"), &b, &err), -EINVAL);
        t_err_is(&err, IT,
                 "Unable to process template language expressions for resource '" DISKS
                 "bad' at 'resources[1].properties.x[1].y'. The language expression "
                 "'[div(1, 0)]' failed at position 1: Unable to evaluate template language "
                 "function 'div': the divisor must not be zero.");
        assert_string_equal(err.target, "resources[1].properties.x[1].y");
}

/* ------------------------------------------------------------------------------------------ */
/* Outputs                                                                                     */

static void test_template_outputs__values(void **state)
{
        const char *tpl = TPL(
                "`parameters`:{`pw`:{`type`:`securestring`,`defaultValue`:`s3cret`}},"
                "`resources`:[" DISK(
                        "d1") "],`outputs`:{"
                              "`id`:{`type`:`string`,`value`:`[resourceId('Microsoft.Compute/"
                              "disks', 'd1')]`},"
                              "`n`:{`type`:`Int`,`value`:3},`b`:{`type`:`bool`,`value`:`[true()]`},"
                              "`o`:{`type`:`object`,`value`:{`k`:`[concat('v', '1')]`}},"
                              "`a`:{`type`:`array`,`value`:[`[parameters('pw')]`]},"
                              "`hidden`:{`type`:`string`,`value`:`x`,`condition`:`[equals(1, 2)]`},"
                              "`shown`:{`type`:`string`,`value`:`y`,`condition`:`[equals(1, 1)]`},"
                              "`loop`:{`type`:`array`,`copy`:{`count`:3,`input`:`[mul(copyIndex(), "
                              "2)]`}},"
                              "`secret`:{`type`:`securestring`,`value`:`[parameters('pw')]`}}");
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(tpl, NULL);

        outputs_are(p, "{`id`:{`type`:`String`,`value`:`" DISKS "d1`},"
                       "`n`:{`type`:`Int`,`value`:3},`b`:{`type`:`Bool`,`value`:true},"
                       "`o`:{`type`:`Object`,`value`:{`k`:`v1`}},"
                       "`a`:{`type`:`Array`,`value`:[`s3cret`]},"
                       "`shown`:{`type`:`String`,`value`:`y`},"
                       "`loop`:{`type`:`Array`,`value`:[0,2,4]},"
                       "`secret`:{`type`:`SecureString`}}");
}

static void test_template_outputs__errors(void **state)
{
        _cleanup_tpl_plan_ rp_tpl_plan *p = t_plan_ok(
                TPL("`resources`:[],`outputs`:{`o`:{`type`:`string`,`value`:`[add(1, 2)]`}}"),
                NULL);
        _cleanup_json_ json_t *out = NULL;
        rp_tpl_error err = { 0 };

        assert_int_equal(rp_tpl_plan_outputs(p, &out, &err), -EINVAL);
        assert_null(out);
        t_err_is(&err, IT,
                 "Template output JToken type is not valid. Expected 'String'. Actual "
                 "'Integer'.");
        assert_string_equal(err.target, "outputs.o");

        _cleanup_tpl_plan_ rp_tpl_plan *q = t_plan_ok(
                TPL("`resources`:[],`outputs`:{`o`:{`type`:`int`,`value`:`[div(1, 0)]`}}"), NULL);
        assert_int_equal(rp_tpl_plan_outputs(q, &out, &err), -EINVAL);
        t_err_is(&err, IT, "Unable to evaluate the template output 'o' at 'outputs.o.value'");

        t_plan_fails(TPL("`resources`:[],`outputs`:{`o`:{`type`:`text`,`value`:1}}"), NULL, IT,
                     "The output 'type' must be one of", "outputs.o");
        t_plan_fails(TPL("`resources`:[],`outputs`:{`o`:{`type`:`int`}}"), NULL, IT,
                     "The output has no 'value'", "outputs.o");
        t_plan_fails(TPL("`resources`:[],`outputs`:{`o`:1}"), NULL, IT,
                     "An output must be an Object", NULL);
}

/* ------------------------------------------------------------------------------------------ */
/* OOM torture                                                                                 */

static void test_template_plan__oom_torture(void **state)
{
        const char *tpl = TPL(
                "`parameters`:{`n`:{`type`:`int`,`defaultValue`:2,`allowedValues`:[1,2]},"
                "`s`:{`type`:`string`,`defaultValue`:`[concat(resourceGroup().name, '-', "
                "utcNow())]`}},"
                "`variables`:{`v`:{`copy`:[{`name`:`l`,`count`:2,`input`:`[copyIndex('l')]`}]},"
                "`w`:`[union(variables('v'), createObject('k', parameters('s')))]`},"
                "`resources`:[{`type`:`Microsoft.Compute/restorePointCollections`,`apiVersion`:`1`,"
                "`name`:`[concat('c', "
                "copyIndex())]`,`copy`:{`name`:`cs`,`count`:`[parameters('n')]`,"
                "`mode`:`serial`},`location`:`[resourceGroup().location]`,"
                "`properties`:{`x`:`[reference('d').answer]`,`g`:`[guid(parameters('s'))]`},"
                "`resources`:[{`type`:`restorePoints`,`apiVersion`:`1`,`name`:`rp`}]}," DISK(
                        "d") "],"
                             "`outputs`:{`o`:{`type`:`object`,`value`:`[variables('w')]`},"
                             "`u`:{`type`:`string`,`value`:`[uniqueString(resourceGroup().id)]`}}");
        _cleanup_json_ json_t *t = t_json(tpl);
        unsigned long n;

        for (n = 1; n < 100000; n++) {
                rp_tpl_plan *p = NULL;
                json_t *body = NULL, *out = NULL;
                rp_tpl_error err = { 0 };
                int r;

                rp_alloc_fail_at(n);
                r = rp_tpl_plan_new(t, NULL, &t_ctx, &p, &err);
                for (size_t i = 0; r >= 0 && i < rp_tpl_plan_count(p); i++) {
                        r = rp_tpl_plan_body(p, i, &body, &err);
                        if (r >= 0)
                                json_decref(TAKE_PTR(body));
                }
                if (r >= 0)
                        r = rp_tpl_plan_outputs(p, &out, &err);
                rp_alloc_fail_at(0);
                assert_null(body);
                rp_tpl_plan_free(p);
                if (r >= 0) {
                        assert_non_null(out);
                        json_decref(out);
                        break;
                }
                assert_null(out);
        }
        assert_true(n > 10 && n < 100000);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_plan__minimal),
                cmocka_unit_test(test_template_plan__shape_errors),
                cmocka_unit_test(test_template_params__given_and_defaults),
                cmocka_unit_test(test_template_params__missing_and_unknown),
                cmocka_unit_test(test_template_params__types),
                cmocka_unit_test(test_template_params__allowed_values),
                cmocka_unit_test(test_template_params__min_max),
                cmocka_unit_test(test_template_params__secure_values_are_not_shown),
                cmocka_unit_test(test_template_params__default_expressions),
                cmocka_unit_test(test_template_vars__chains_copies_cycles),
                cmocka_unit_test(test_template_res__simple),
                cmocka_unit_test(test_template_res__declaration_errors),
                cmocka_unit_test(test_template_res__static_check_names_the_path),
                cmocka_unit_test(test_template_res__copy_loop),
                cmocka_unit_test(test_template_res__serial_copy),
                cmocka_unit_test(test_template_res__nested_children),
                cmocka_unit_test(test_template_res__conditions),
                cmocka_unit_test(test_template_res__depends_on),
                cmocka_unit_test(test_template_res__cycles),
                cmocka_unit_test(test_template_res__reference),
                cmocka_unit_test(test_template_res__body_errors_and_property_copy),
                cmocka_unit_test(test_template_outputs__values),
                cmocka_unit_test(test_template_outputs__errors),
                cmocka_unit_test(test_template_plan__oom_torture),
        };
        rp_json_init(); /* jansson allocates through rp_malloc, so the OOM hook reaches it */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
