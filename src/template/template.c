/* template.c: plan building (stub; the implementation follows). */
#include "template.h"

#include <errno.h>

int rp_tpl_plan_new(const json_t *tpl, const json_t *parameters, const rp_tpl_ctx *ctx,
                    rp_tpl_plan **ret, rp_tpl_error *reterr)
{
        return -EOPNOTSUPP;
}

size_t rp_tpl_plan_count(const rp_tpl_plan *p)
{
        return 0;
}

const rp_tpl_resource *rp_tpl_plan_resource(const rp_tpl_plan *p, size_t i)
{
        return NULL;
}

int rp_tpl_plan_body(rp_tpl_plan *p, size_t i, json_t **ret, rp_tpl_error *reterr)
{
        return -EOPNOTSUPP;
}

int rp_tpl_plan_outputs(rp_tpl_plan *p, json_t **ret, rp_tpl_error *reterr)
{
        return -EOPNOTSUPP;
}

int rp_tpl_plan_parameters(const rp_tpl_plan *p, json_t **ret)
{
        return -EOPNOTSUPP;
}

rp_tpl_plan *rp_tpl_plan_free(rp_tpl_plan *p)
{
        return NULL;
}

int rp_tpl_eval_string(rp_tpl_plan *p, const char *s, json_t **ret, rp_tpl_error *reterr)
{
        return -EOPNOTSUPP;
}
