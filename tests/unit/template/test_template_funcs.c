/* test_template_funcs.c: the expression language: literals, the "[[" escape, property access and
 * indexing, syntax errors with positions, and every template function with its error cases. */
#include "template_test.h"

#define IT "InvalidTemplate"

/* The plan every test evaluates in: a few parameters and variables, no resources. */
static const char *const fixture =
        T_HEAD "\"parameters\":{"
               "\"s\":{\"type\":\"string\",\"defaultValue\":\"Hello\"},"
               "\"n\":{\"type\":\"int\",\"defaultValue\":42},"
               "\"o\":{\"type\":\"object\",\"defaultValue\":{\"a\":{\"b\":[1,2,3]},\"Key\":\"v\"}},"
               "\"arr\":{\"type\":\"array\",\"defaultValue\":[\"x\",\"y\",\"z\"]},"
               "\"flag\":{\"type\":\"bool\",\"defaultValue\":true}},"
               "\"variables\":{\"v1\":\"[concat(parameters('s'), '-v')]\","
               "\"v2\":\"[variables('v1')]\",\"lit\":{\"k\":[1,\"[parameters('n')]\"]}},"
               "\"resources\":[]}";

static int setup(void **state)
{
        *state = t_plan_ok(fixture, NULL);
        return 0;
}

static int teardown(void **state)
{
        rp_tpl_plan_free(*state);
        return 0;
}

static void test_template_expr__literals(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "plain", "\"plain\"");
        t_eval_is(p, "['it''s']", "\"it's\"");
        t_eval_is(p, "['']", "\"\"");
        t_eval_is(p, "[42]", "42");
        t_eval_is(p, "[-7]", "-7");
        t_eval_is(p, "[ -9223372036854775808 ]", "-9223372036854775808");
        t_eval_is(p, "[9223372036854775807]", "9223372036854775807");
        t_eval_is(p, "[  concat( 'a' ,  'b' )  ]", "\"ab\"");
        t_eval_is(p, "[CONCAT('a')]", "\"a\"");
        t_eval_is(p, "[true()]", "true");
        t_eval_is(p, "[false()]", "false");
        t_eval_is(p, "[null()]", "null");
}

static void test_template_expr__escape(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[[notAnExpression]", "\"[notAnExpression]\"");
        t_eval_is(p, "[[concat('a')]", "\"[concat('a')]\"");
        t_eval_is(p, "[not closed", "\"[not closed\"");
        t_eval_is(p, "trailing]", "\"trailing]\"");
        t_eval_is(p, "[", "\"[\"");
        /* "[[" without a closing ']' is not an expression either: left as is (ARM) */
        t_eval_is(p, "[[x", "\"[[x\"");
}

static void test_template_expr__syntax_errors(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_fails(p, "[concat('a]", IT, "not terminated");
        t_eval_fails(p, "[concat('a]", IT, "position 8");
        t_eval_fails(p, "[concat('a', foo())]", IT, "The template function 'foo' is not valid");
        t_eval_fails(p, "[concat('a', foo())]", IT, "failed at position 13");
        t_eval_fails(p, "[concat('a', foo())]", IT, "'[concat('a', foo())]'");
        t_eval_fails(p, "[]", IT, "empty");
        t_eval_fails(p, "[concat('a' ]", IT,
                     "',' or ')' expected at position '12' but the expression ends");
        t_eval_fails(p, "[concat('a') 'b']", IT, "after the end of the expression");
        t_eval_fails(p, "[concat('a' 'b')]", IT, "',' or ')' expected at position '12'");
        t_eval_fails(p, "[concat]", IT, "'(' expected");
        t_eval_fails(p, "[concat(,)]", IT, "a function call, string or integer expected");
        t_eval_fails(p, "[concat('a')#]", IT, "the character '#' at position '12'");
        t_eval_fails(p, "[9223372036854775808]", IT, "out of range");
        t_eval_fails(p, "[12abc]", IT, "not expected");
        t_eval_fails(p, "[-]", IT, "not expected");
        t_eval_fails(p, "[parameters('o').]", IT, "a property name expected");
        t_eval_fails(p, "[parameters('o')[0]", IT, "']' expected");
        t_eval_fails(p, "[\"a\"]", IT, "is not expected");
        /* arity: exact, at least, at most */
        t_eval_fails(p, "[not(true(), false())]", IT, "'not' must have exactly 1 parameter(s)");
        t_eval_fails(p, "[concat()]", IT, "'concat' must have at least 1 parameter(s)");
        t_eval_fails(p, "[substring('a', 0, 1, 2)]", IT,
                     "'substring' must have at most 3 parameter(s)");

        /* nesting is capped */
        char deep[2000] = "[";
        for (int i = 0; i < 80; i++)
                strcat(deep, "not("); /* checksrc: allow strcat -- sized test buffer */
        strcat(deep, "true()");       /* checksrc: allow strcat -- sized test buffer */
        for (int i = 0; i < 80; i++)
                strcat(deep, ")"); /* checksrc: allow strcat -- sized test buffer */
        strcat(deep, "]");         /* checksrc: allow strcat -- sized test buffer */
        t_eval_fails(p, deep, IT, "nests deeper than");
}

static void test_template_expr__property_and_index(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[parameters('o').a.b[1]]", "2");
        t_eval_is(p, "[parameters('o')['Key']]", "\"v\"");
        t_eval_is(p, "[parameters('o').key]", "\"v\""); /* case-insensitive, as ARM */
        t_eval_is(p, "[parameters('arr')[add(1, 1)]]", "\"z\"");
        t_eval_is(p, "[createArray(createObject('k', createArray(5)))[0].k[0]]", "5");
        t_eval_fails(p, "[parameters('o').nope]", IT,
                     "property 'nope' doesn't exist, available properties are 'a, Key'");
        t_eval_fails(p, "[parameters('arr')[3]]", IT, "array index '3' is out of bounds");
        t_eval_fails(p, "[parameters('arr')[-1]]", IT, "out of bounds");
        t_eval_fails(p, "[parameters('arr')['x']]", IT, "can't index a value of type 'Array'");
        t_eval_fails(p, "[parameters('s').length]", IT,
                     "can't be evaluated on a value of type "
                     "'String'");
        t_eval_fails(p, "[parameters('o')[0]]", IT, "can't index a value of type 'Object'");
}

static void test_template_funcs__parameters_variables(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[parameters('s')]", "\"Hello\"");
        t_eval_is(p, "[PARAMETERS('N')]", "42");
        t_eval_is(p, "[variables('v2')]", "\"Hello-v\"");
        t_eval_is(p, "[variables('lit')]", "{\"k\":[1,42]}");
        t_eval_fails(p, "[parameters('nope')]", IT, "The template parameter 'nope' is not found");
        t_eval_fails(p, "[variables('nope')]", IT, "The template variable 'nope' is not found");
        t_eval_fails(p, "[parameters(1)]", IT, "argument 1 must be of type 'String'");
}

static void test_template_funcs__concat(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[concat('a', 'b', 'c')]", "\"abc\"");
        t_eval_is(p, "[concat('n', 1, true())]", "\"n1True\"");
        t_eval_is(p, "[concat(parameters('arr'), createArray(1))]", "[\"x\",\"y\",\"z\",1]");
        t_eval_is(p, "[concat(createArray())]", "[]");
        t_eval_fails(p, "[concat(createArray(1), 'a')]", IT, "argument 2 is 'String'");
        t_eval_fails(p, "[concat('a', createArray(1))]", IT, "argument 2 is 'Array'");
        t_eval_fails(p, "[concat('a', parameters('o'))]", IT, "argument 2 is 'Object'");
}

static void test_template_funcs__format(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[format('{0}-{1}', 'a', 2)]", "\"a-2\"");
        t_eval_is(p, "[format('{1}{0}{1}', 'a', 'b')]", "\"bab\"");
        t_eval_is(p, "[format('{{{0}}}', 'x')]", "\"{x}\"");
        t_eval_is(p, "[format('[{0,5}]', 'ab')]", "\"[   ab]\"");
        t_eval_is(p, "[format('[{0,-5}]', 'ab')]", "\"[ab   ]\"");
        t_eval_is(p, "[format('{0:D3}', 7)]", "\"007\"");
        t_eval_is(p, "[format('{0:d}', -7)]", "\"-7\"");
        t_eval_is(p, "[format('{0:X}', 255)]", "\"FF\"");
        t_eval_is(p, "[format('{0:x4}', 255)]", "\"00ff\"");
        t_eval_is(p, "[format('{0:N0}', 1234567)]", "\"1,234,567\"");
        t_eval_is(p, "[format('{0:N}', 1234)]", "\"1,234.00\"");
        t_eval_is(p, "[format('{0:F1}', 5)]", "\"5.0\"");
        t_eval_is(p, "[format('{0:000}', 5)]", "\"005\"");
        t_eval_is(p, "[format('{0} {1}', true(), 'x')]", "\"True x\"");
        t_eval_is(p, "[format('no items')]", "\"no items\"");
        t_eval_fails(p, "[format('{1}', 'a')]", IT, "refers to a missing argument");
        t_eval_fails(p, "[format('{x}', 'a')]", IT, "format item at offset 0 is not valid");
        t_eval_fails(p, "[format('{0', 'a')]", IT, "is not valid");
        t_eval_fails(p, "[format('a}b', 'a')]", IT, "unmatched '}'");
        t_eval_fails(p, "[format('{0:Q}', 1)]", IT, "format 'Q' is not supported");
        t_eval_fails(p, "[format(1)]", IT, "argument 1 must be of type 'String'");
}

static void test_template_funcs__resource_ids(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[resourceId('Microsoft.Compute/disks', 'd1')]",
                  "\"" T_RG_ID "/providers/Microsoft.Compute/disks/d1\"");
        t_eval_is(p, "[resourceId('other', 'Microsoft.Compute/disks', 'd1')]",
                  "\"/subscriptions/" T_SUB
                  "/resourceGroups/other/providers/Microsoft.Compute/disks/d1\"");
        t_eval_is(
                p, "[resourceId('sub2', 'rg2', 'Microsoft.Compute/disks', 'd1')]",
                "\"/subscriptions/sub2/resourceGroups/rg2/providers/Microsoft.Compute/disks/d1\"");
        t_eval_is(p,
                  "[resourceId('Microsoft.Compute/restorePointCollections/restorePoints', 'c', "
                  "'rp1')]",
                  "\"" T_RG_ID
                  "/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/rp1\"");
        t_eval_is(p,
                  "[resourceId('Microsoft.Compute/restorePointCollections/restorePoints', "
                  "'c/rp1')]",
                  "\"" T_RG_ID
                  "/providers/Microsoft.Compute/restorePointCollections/c/restorePoints/rp1\"");
        t_eval_fails(p, "[resourceId('Microsoft.Compute/disks')]", IT,
                     "'resourceId' must have at least 2 parameter(s)");
        t_eval_fails(p,
                     "[resourceId('Microsoft.Compute/restorePointCollections/restorePoints', "
                     "'c')]",
                     IT, "requires 2 resource name segment(s), found 1");
        t_eval_fails(p, "[resourceId('Microsoft.Compute/disks', 'a', 'b')]", IT,
                     "requires 1 resource name segment(s), found 2");
        t_eval_fails(p, "[resourceId('disks', 'd1')]", IT, "multi-segmented argument");
        t_eval_fails(p, "[resourceId('a', 'b', 'c', 'Microsoft.Compute/disks', 'd1')]", IT,
                     "after at most 2 scope argument(s)");
        t_eval_fails(p, "[resourceId('Microsoft.Compute//disks', 'd1')]", IT, "empty segments");
        t_eval_fails(p, "[resourceId('Microsoft.Compute/disks', 1)]", IT,
                     "argument 2 must be of type 'String'");

        t_eval_is(p, "[subscriptionResourceId('Microsoft.Resources/resourceGroups', 'rg9')]",
                  "\"/subscriptions/" T_SUB "/providers/Microsoft.Resources/resourceGroups/rg9\"");
        t_eval_is(p, "[subscriptionResourceId('s2', 'Microsoft.Resources/resourceGroups', 'rg9')]",
                  "\"/subscriptions/s2/providers/Microsoft.Resources/resourceGroups/rg9\"");
        t_eval_fails(p, "[subscriptionResourceId('a', 'b', 'Microsoft.X/y', 'n')]", IT,
                     "after at most 1 scope argument(s)");
        t_eval_is(p, "[tenantResourceId('Microsoft.Management/managementGroups', 'mg')]",
                  "\"/providers/Microsoft.Management/managementGroups/mg\"");
}

static void test_template_funcs__context(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[resourceGroup()]",
                  "{\"id\":\"" T_RG_ID "\",\"name\":\"rg1\",\"type\":"
                  "\"Microsoft.Resources/resourceGroups\",\"location\":\"eastus\","
                  "\"properties\":{\"provisioningState\":\"Succeeded\"}}");
        t_eval_is(p, "[resourceGroup().location]", "\"eastus\"");
        t_eval_is(p, "[subscription().subscriptionId]", "\"" T_SUB "\"");
        t_eval_is(p, "[subscription().id]", "\"/subscriptions/" T_SUB "\"");
        t_eval_is(p, "[subscription().tenantId]", "\"11111111-2222-3333-4444-555555555555\"");
        t_eval_is(p, "[subscription().displayName]", "\"" T_SUB "\"");
        t_eval_is(p, "[deployment().name]", "\"dep1\"");
        t_eval_is(p, "[deployment().properties.template.contentVersion]", "\"1.0.0.0\"");
        t_eval_is(p, "[deployment().properties.mode]", "\"Incremental\"");
        t_eval_fails(p, "[resourceGroup('x')]", IT, "exactly 0 parameter(s)");
}

static void test_template_funcs__reference(void **state)
{
        rp_tpl_plan *p = *state;
        unsigned calls = t_ref_calls;

        t_eval_is(p, "[reference(resourceId('Microsoft.Compute/disks', 'd1')).answer]", "42");
        assert_int_equal(t_ref_calls, calls + 1);
        assert_string_equal(t_ref_last_id, T_RG_ID "/providers/Microsoft.Compute/disks/d1");
        assert_string_equal(t_ref_last_api, "(null)");
        t_eval_is(p, "[reference('/subscriptions/x/d', '2023-01-01', 'Full').location]",
                  "\"eastus\"");
        assert_string_equal(t_ref_last_api, "2023-01-01");
        t_eval_is(p, "[reference('/subscriptions/x/d', '2023-01-01', 'full').properties.echo]",
                  "\"/subscriptions/x/d\"");
        t_eval_fails(p, "[reference('/subscriptions/x/d', '2023-01-01', 'Partial')]", IT,
                     "the third argument must be 'Full'");
        t_eval_fails(p, "[reference('/subscriptions/missing')]", "ResourceNotFound",
                     "The Resource '/subscriptions/missing' was not found.");
        t_eval_fails(p, "[reference('notInTemplate')]", IT,
                     "could not find template resource or resource copy with this name");
        t_eval_fails(p, "[reference(1)]", IT, "argument 1 must be of type 'String'");
}

static void test_template_funcs__unique_string(void **state)
{
        rp_tpl_plan *p = *state;
        /* Values Azure produced. */
        t_eval_is(p, "[uniqueString('test')]", "\"rbgf3xv4ufgzg\"");
        t_eval_is(p, "[uniqueString('hello', 'world')]", "\"a7wkljktk6wne\"");
        t_eval_is(p, "[uniqueString('abc')]", "\"cgtzqvhu4i23s\"");
        t_eval_is(p, "[uniqueString('foo', 'bar', 'baz')]", "\"xzi4ioaxtmth4\"");
        t_eval_is(p,
                  "[uniqueString('/subscriptions/00000000-0000-0000-0000-000000000000/"
                  "resourceGroups/my-rg')]",
                  "\"bmg7c6xu4tw46\"");
        /* Joining with '-' is the whole story: */
        t_eval_is(p, "[equals(uniqueString('a', 'b'), uniqueString('a-b'))]", "true");
        t_eval_is(p, "[length(uniqueString(''))]", "13");
        t_eval_fails(p, "[uniqueString(1)]", IT, "argument 1 must be of type 'String'");
        t_eval_fails(p, "[uniqueString()]", IT, "at least 1 parameter(s)");
}

static void test_template_funcs__guid(void **state)
{
        rp_tpl_plan *p = *state;
        /* RFC 4122 v5 in ARM's namespace: python3 -c "import uuid; print(uuid.uuid5(
         * uuid.UUID('11fb06fb-712d-4ddd-98c7-e71bbd588830'), 'a-b'))" */
        t_eval_is(p, "[guid('a', 'b')]", "\"2d796349-8c7e-55ec-9624-54ece82ed031\"");
        t_eval_is(p, "[equals(guid('a-b'), guid('a', 'b'))]", "true");
        t_eval_is(p, "[equals(guid('a'), guid('b'))]", "false");
        t_eval_fails(p, "[guid(createArray())]", IT, "argument 1 must be of type 'String'");
        t_eval_fails(p, "[guid()]", IT, "at least 1 parameter(s)");
}

static void test_template_funcs__case_and_substrings(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[toLower('AbC-Ä')]", "\"abc-Ä\"");
        t_eval_is(p, "[toUpper('AbC')]", "\"ABC\"");
        t_eval_fails(p, "[toLower(1)]", IT, "argument 1 must be of type 'String'");
        t_eval_is(p, "[substring('hello', 1, 3)]", "\"ell\"");
        t_eval_is(p, "[substring('hello', 2)]", "\"llo\"");
        t_eval_is(p, "[substring('hello', 5)]", "\"\"");
        t_eval_is(p, "[substring('héllo', 1, 2)]", "\"él\"");
        t_eval_fails(p, "[substring('hello', 6)]", IT, "start index 6 must be between 0");
        t_eval_fails(p, "[substring('hello', -1)]", IT, "start index -1");
        t_eval_fails(p, "[substring('hello', 2, 4)]", IT, "must refer to a location within");
        t_eval_fails(p, "[substring('hello', 'a')]", IT, "argument 2 must be of type 'Integer'");
        t_eval_is(p, "[replace('a-b-c', '-', '+')]", "\"a+b+c\"");
        t_eval_is(p, "[replace('aaa', 'a', 'aa')]", "\"aaaaaa\"");
        t_eval_is(p, "[replace('abc', 'X', 'y')]", "\"abc\"");
        t_eval_fails(p, "[replace('abc', '', 'y')]", IT, "must not be empty");
        t_eval_fails(p, "[replace('abc', 'a')]", IT, "exactly 3 parameter(s)");
        t_eval_is(p, "[split('a,b,,c', ',')]", "[\"a\",\"b\",\"\",\"c\"]");
        t_eval_is(p, "[split('a,b;c', createArray(',', ';'))]", "[\"a\",\"b\",\"c\"]");
        t_eval_is(p, "[split('abc', ',')]", "[\"abc\"]");
        t_eval_is(p, "[split('', ',')]", "[\"\"]");
        t_eval_is(p, "[split('a::b', '::')]", "[\"a\",\"b\"]");
        t_eval_fails(p, "[split('a', 1)]", IT, "argument 2 must be of type 'String or Array'");
        t_eval_fails(p, "[split('a', createArray(1))]", IT, "delimiters must be Strings");
        t_eval_is(p, "[indexOf('abcABC', 'B')]", "1");
        t_eval_is(p, "[lastIndexOf('abcABC', 'b')]", "4");
        t_eval_is(p, "[indexOf('abc', 'z')]", "-1");
        t_eval_is(p, "[startsWith('Hello', 'he')]", "true");
        t_eval_is(p, "[endsWith('Hello', 'LO')]", "true");
        t_eval_is(p, "[endsWith('Hello', 'x')]", "false");
        t_eval_is(p, "[trim('  a b \t')]", "\"a b\"");
        t_eval_is(p, "[padLeft('7', 3, '0')]", "\"007\"");
        t_eval_is(p, "[padLeft(7, 2)]", "\" 7\"");
        t_eval_is(p, "[padLeft('long', 2)]", "\"long\"");
        t_eval_fails(p, "[padLeft('7', 3, '00')]", IT, "one character");
}

static void test_template_funcs__length_contains_empty(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[length('héllo')]", "5");
        t_eval_is(p, "[length(parameters('arr'))]", "3");
        t_eval_is(p, "[length(parameters('o'))]", "2");
        t_eval_is(p, "[length('')]", "0");
        t_eval_fails(p, "[length(1)]", IT, "argument 1 must be of type 'String, Array or Object'");
        t_eval_is(p, "[contains('Hello', 'ell')]", "true");
        t_eval_is(p, "[contains('Hello', 'ELL')]", "false");
        t_eval_is(p, "[contains('a1', 1)]", "true");
        t_eval_is(p, "[contains(parameters('arr'), 'y')]", "true");
        t_eval_is(p, "[contains(parameters('arr'), 'Y')]", "false");
        t_eval_is(p, "[contains(createArray(1, createArray(2)), createArray(2))]", "true");
        t_eval_is(p, "[contains(parameters('o'), 'KEY')]", "true");
        t_eval_is(p, "[contains(parameters('o'), 'zz')]", "false");
        t_eval_fails(p, "[contains(1, 1)]", IT, "argument 1 must be of type");
        t_eval_fails(p, "[contains(parameters('o'), 1)]", IT,
                     "argument 2 must be of type 'String'");
        t_eval_is(p, "[empty('')]", "true");
        t_eval_is(p, "[empty('a')]", "false");
        t_eval_is(p, "[empty(createArray())]", "true");
        t_eval_is(p, "[empty(parameters('arr'))]", "false");
        t_eval_is(p, "[empty(createObject())]", "true");
        t_eval_is(p, "[empty(null())]", "true");
        t_eval_fails(p, "[empty(1)]", IT, "argument 1 must be of type");
}

static void test_template_funcs__first_last_skip_take(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[first(parameters('arr'))]", "\"x\"");
        t_eval_is(p, "[last(parameters('arr'))]", "\"z\"");
        t_eval_is(p, "[first('héllo')]", "\"h\"");
        t_eval_is(p, "[last('hellé')]", "\"é\"");
        t_eval_is(p, "[first('')]", "\"\"");
        t_eval_is(p, "[first(createArray())]", "null");
        t_eval_fails(p, "[first(1)]", IT, "argument 1 must be of type 'String or Array'");
        t_eval_fails(p, "[last(parameters('o'))]", IT, "argument 1 must be of type");
        t_eval_is(p, "[skip(parameters('arr'), 1)]", "[\"y\",\"z\"]");
        t_eval_is(p, "[take(parameters('arr'), 2)]", "[\"x\",\"y\"]");
        t_eval_is(p, "[take(parameters('arr'), 10)]", "[\"x\",\"y\",\"z\"]");
        t_eval_is(p, "[skip('hello', -2)]", "\"hello\"");
        t_eval_is(p, "[take('hello', 2)]", "\"he\"");
        t_eval_fails(p, "[skip('hello', 'a')]", IT, "argument 2 must be of type 'Integer'");
}

static void test_template_funcs__if_is_lazy(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[if(true(), 'a', 'b')]", "\"a\"");
        t_eval_is(p, "[if(equals(1, 2), 'a', 'b')]", "\"b\"");
        /* the branch not taken is never evaluated: no division by zero, no missing parameter */
        t_eval_is(p, "[if(true(), 1, div(1, 0))]", "1");
        t_eval_is(p, "[if(false(), parameters('nope'), 2)]", "2");
        t_eval_fails(p, "[if(false(), 1, div(1, 0))]", IT, "the divisor must not be zero");
        t_eval_fails(p, "[if('true', 1, 2)]", IT, "argument 1 must be of type 'Boolean'");
        t_eval_fails(p, "[if(true(), 1)]", IT, "exactly 3 parameter(s)");
}

static void test_template_funcs__logic_and_comparison(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[equals('a', 'a')]", "true");
        t_eval_is(p, "[equals('a', 'A')]", "false");
        t_eval_is(p, "[equals(1, 1)]", "true");
        t_eval_is(p, "[equals(1, '1')]", "false");
        t_eval_is(p, "[equals(parameters('o'), json('{\"Key\":\"v\",\"a\":{\"b\":[1,2,3]}}'))]",
                  "true");
        t_eval_is(p, "[equals(createArray(1, 2), createArray(2, 1))]", "false");
        t_eval_is(p, "[not(true())]", "false");
        t_eval_fails(p, "[not('x')]", IT, "argument 1 must be of type 'Boolean'");
        t_eval_is(p, "[and(true(), true(), false())]", "false");
        t_eval_is(p, "[and(true(), true())]", "true");
        t_eval_is(p, "[or(false(), false(), true())]", "true");
        t_eval_is(p, "[or(false(), false())]", "false");
        t_eval_fails(p, "[and(true())]", IT, "at least 2 parameter(s)");
        t_eval_fails(p, "[or(true(), 1)]", IT, "argument 2 must be of type 'Boolean'");
        t_eval_is(p, "[greater(2, 1)]", "true");
        t_eval_is(p, "[greater('b', 'a')]", "true");
        t_eval_is(p, "[greater('A', 'a')]", "false"); /* ordinal */
        t_eval_is(p, "[less(1, 2)]", "true");
        t_eval_is(p, "[less('ab', 'abc')]", "true");
        t_eval_is(p, "[greaterOrEquals(2, 2)]", "true");
        t_eval_is(p, "[lessOrEquals(3, 2)]", "false");
        t_eval_fails(p, "[greater(1, 'a')]", IT, "two Integers or two Strings");
        t_eval_fails(p, "[less(true(), false())]", IT, "two Integers or two Strings");
}

static void test_template_funcs__numeric(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[add(2, 3)]", "5");
        t_eval_is(p, "[sub(2, 3)]", "-1");
        t_eval_is(p, "[mul(-4, 3)]", "-12");
        t_eval_is(p, "[div(7, 2)]", "3");
        t_eval_is(p, "[div(-7, 2)]", "-3");
        t_eval_is(p, "[mod(7, 3)]", "1");
        t_eval_is(p, "[mod(-7, 3)]", "-1");
        t_eval_fails(p, "[div(1, 0)]", IT, "the divisor must not be zero");
        t_eval_fails(p, "[mod(1, 0)]", IT, "the divisor must not be zero");
        t_eval_fails(p, "[add(9223372036854775807, 1)]", IT, "does not fit a 64-bit integer");
        t_eval_fails(p, "[mul(9223372036854775807, 2)]", IT, "does not fit");
        t_eval_fails(p, "[div(-9223372036854775808, -1)]", IT, "does not fit");
        t_eval_fails(p, "[add('1', 2)]", IT, "argument 1 must be of type 'Integer'");
        t_eval_fails(p, "[sub(1)]", IT, "exactly 2 parameter(s)");
        t_eval_is(p, "[min(3, 1, 2)]", "1");
        t_eval_is(p, "[max(createArray(3, 9, 2))]", "9");
        t_eval_fails(p, "[max(createArray())]", IT, "must not be empty");
        t_eval_fails(p, "[min(1, 'a')]", IT, "value 2 must be an Integer");
        t_eval_is(p, "[range(5, 3)]", "[5,6,7]");
        t_eval_is(p, "[range(0, 0)]", "[]");
        t_eval_fails(p, "[range(0, 10001)]", IT, "between 0 and 10000");
}

static void test_template_funcs__conversions(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[int('42')]", "42");
        t_eval_is(p, "[int('-3')]", "-3");
        t_eval_is(p, "[int(5)]", "5");
        t_eval_fails(p, "[int('4x')]", IT, "the string '4x' is not an integer");
        t_eval_fails(p, "[int(true())]", IT, "argument 1 must be of type 'Integer or String'");
        t_eval_is(p, "[string(5)]", "\"5\"");
        t_eval_is(p, "[string(true())]", "\"True\"");
        t_eval_is(p, "[string(false())]", "\"False\"");
        t_eval_is(p, "[string('s')]", "\"s\"");
        t_eval_is(p, "[string(createArray(1, 'a'))]", "\"[1,\\\"a\\\"]\"");
        t_eval_is(p, "[string(createObject('a', 1))]", "\"{\\\"a\\\":1}\"");
        t_eval_is(p, "[string(null())]", "\"\"");
        t_eval_is(p, "[bool('true')]", "true");
        t_eval_is(p, "[bool('FALSE')]", "false");
        t_eval_is(p, "[bool(1)]", "true");
        t_eval_is(p, "[bool(0)]", "false");
        t_eval_is(p, "[bool(true())]", "true");
        t_eval_fails(p, "[bool('yes')]", IT, "is not 'true' or 'false'");
        t_eval_fails(p, "[bool(createArray())]", IT, "argument 1 must be of type");
        t_eval_is(p, "[json('{\"a\":[1,true,null]}')]", "{\"a\":[1,true,null]}");
        t_eval_is(p, "[json('null')]", "null");
        t_eval_is(p, "[json('3')]", "3");
        t_eval_is(p, "[json('{\"a\":1}').a]", "1");
        t_eval_fails(p, "[json('{bad')]", IT, "the string is not valid JSON");
        t_eval_fails(p, "[json(1)]", IT, "argument 1 must be of type 'String'");
        t_eval_is(p, "[array('a')]", "[\"a\"]");
        t_eval_is(p, "[array(createArray(1))]", "[1]");
        t_eval_is(p, "[coalesce(null(), null(), 'x', 'y')]", "\"x\"");
        t_eval_is(p, "[coalesce(null())]", "null");
}

static void test_template_funcs__arrays_objects(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_is(p, "[createArray(1, 'a', createArray())]", "[1,\"a\",[]]");
        t_eval_is(p, "[createArray()]", "[]");
        t_eval_is(p, "[createObject('a', 1, 'b', createArray(2))]", "{\"a\":1,\"b\":[2]}");
        t_eval_is(p, "[createObject()]", "{}");
        t_eval_fails(p, "[createObject('a')]", IT, "key and value pairs");
        t_eval_fails(p, "[createObject(1, 2)]", IT, "argument 1 must be of type 'String'");
        t_eval_is(p, "[union(createObject('a', 1, 'b', 2), createObject('b', 3, 'c', 4))]",
                  "{\"a\":1,\"b\":3,\"c\":4}");
        t_eval_is(p,
                  "[union(json('{\"o\":{\"x\":1,\"y\":2}}'), json('{\"o\":{\"y\":3,\"z\":4}}'))]",
                  "{\"o\":{\"x\":1,\"y\":3,\"z\":4}}");
        t_eval_is(p, "[union(createArray(1, 2, 2), createArray(2, 3))]", "[1,2,3]");
        t_eval_is(p, "[union(createArray(1))]", "[1]");
        t_eval_fails(p, "[union(createArray(1), createObject())]", IT,
                     "all Objects or all Arrays; argument 2 is 'Object'");
        t_eval_fails(p, "[union('a', 'b')]", IT, "argument 1 is 'String'");
        /* union does not modify its inputs (values may be shared) */
        t_eval_is(p, "[union(parameters('o'), json('{\"a\":{\"c\":1}}')).a]",
                  "{\"b\":[1,2,3],\"c\":1}");
        t_eval_is(p, "[parameters('o').a]", "{\"b\":[1,2,3]}");
}

static void test_template_funcs__copy_index_and_utc_now_placement(void **state)
{
        rp_tpl_plan *p = *state;
        t_eval_fails(p, "[copyIndex()]", IT, "'copyIndex' is not expected at this location");
        t_eval_fails(p, "[copyIndex('loop')]", IT, "refers to the copy loop 'loop'");
        t_eval_fails(p, "[copyIndex(true())]", IT, "argument 1 must be of type");
        t_eval_fails(p, "[copyIndex('a', 'b')]", IT, "argument 2 must be of type 'Integer'");
        t_eval_fails(p, "[utcNow()]", IT, "can only be used in the default value of a parameter");
}

static void test_template_funcs__size_limits(void **state)
{
        rp_tpl_plan *p = *state;
        char expr[4096], want[256];
        size_t len = 0, wl = 0;

        /* deep but small values are fine */
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "[string(");
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "\"");
        for (int i = 0; i < 40; i++) {
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, "createArray(");
                wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "[");
        }
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "1");
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "1");
        for (int i = 0; i < 40; i++) {
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, ")");
                wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "]");
        }
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, ")]");
        wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "\"");
        t_eval_is(p, expr, want);

        /* a container of more than 100000 values (shared ones counted per use) is refused */
        len = (size_t)snprintf(expr, sizeof(expr), "[length(createArray(range(0, 10000)");
        for (int i = 1; i < 9; i++)
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, ", range(0, 10000)");
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "))]");
        t_eval_is(p, expr, "9");
        len = (size_t)snprintf(expr, sizeof(expr), "[length(concat(range(0, 10000)");
        for (int i = 1; i < 11; i++)
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, ", range(0, 10000)");
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "))]");
        t_eval_fails(p, expr, IT, "the result has more than 100000 values");

        /* strings: replace() doubling stops at RP_TPL_MAX_STRING */
        len = (size_t)snprintf(expr, sizeof(expr), "[length(");
        for (int i = 0; i < 30; i++)
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, "replace(");
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, "'aa'");
        for (int i = 0; i < 30; i++)
                len += (size_t)snprintf(expr + len, sizeof(expr) - len, ", 'a', 'aa')");
        len += (size_t)snprintf(expr + len, sizeof(expr) - len, ")]");
        t_eval_fails(p, expr, IT, "the result is longer than");
}

static void test_template_funcs__eval_string_rejects_bad_utf8(void **state)
{
        rp_tpl_plan *p = *state;
        _cleanup_json_ json_t *v = NULL;
        rp_tpl_error err = { 0 };
        assert_int_equal(rp_tpl_eval_string(p, "[concat('\xff')]", &v, &err), -EINVAL);
        assert_null(v);
        t_err_is(&err, IT, "not valid UTF-8");
}

static void test_template_expr__messages_stay_valid_utf8(void **state)
{
        rp_tpl_plan *p = *state;
        char expr[512];
        _cleanup_json_ json_t *v = NULL, *m = NULL;
        rp_tpl_error err = { 0 };
        int len;

        /* the message quotes the first 200 bytes of the expression: byte 200 is inside an 'é' */
        len = snprintf(expr, sizeof(expr), "[concat('");
        while (len < 199)
                expr[len++] = 'a';
        snprintf(expr + len, sizeof(expr) - (size_t)len, "\xc3\xa9\xc3\xa9', foo())]");
        assert_int_equal(rp_tpl_eval_string(p, expr, &v, &err), -EINVAL);
        t_err_is(&err, IT, "aaa?...' failed at position");
        m = json_string(err.message);
        assert_non_null(m);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_template_expr__literals),
                cmocka_unit_test(test_template_expr__escape),
                cmocka_unit_test(test_template_expr__syntax_errors),
                cmocka_unit_test(test_template_expr__property_and_index),
                cmocka_unit_test(test_template_funcs__parameters_variables),
                cmocka_unit_test(test_template_funcs__concat),
                cmocka_unit_test(test_template_funcs__format),
                cmocka_unit_test(test_template_funcs__resource_ids),
                cmocka_unit_test(test_template_funcs__context),
                cmocka_unit_test(test_template_funcs__reference),
                cmocka_unit_test(test_template_funcs__unique_string),
                cmocka_unit_test(test_template_funcs__guid),
                cmocka_unit_test(test_template_funcs__case_and_substrings),
                cmocka_unit_test(test_template_funcs__length_contains_empty),
                cmocka_unit_test(test_template_funcs__first_last_skip_take),
                cmocka_unit_test(test_template_funcs__if_is_lazy),
                cmocka_unit_test(test_template_funcs__logic_and_comparison),
                cmocka_unit_test(test_template_funcs__numeric),
                cmocka_unit_test(test_template_funcs__conversions),
                cmocka_unit_test(test_template_funcs__arrays_objects),
                cmocka_unit_test(test_template_funcs__copy_index_and_utc_now_placement),
                cmocka_unit_test(test_template_funcs__size_limits),
                cmocka_unit_test(test_template_funcs__eval_string_rejects_bad_utf8),
                cmocka_unit_test(test_template_expr__messages_stay_valid_utf8),
        };
        rp_json_init();
        return cmocka_run_group_tests(tests, setup, teardown);
}
