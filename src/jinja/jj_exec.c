/* ecoinfer: the Jinja evaluator's statements, macro bodies and the render
 * entry point (expressions are in jj_eval.c). Scoping follows Jinja2: a for
 * loop and a macro call open a scope (so `set` inside a loop does not leak
 * out, hence namespace()), an if block does not; macros see the template's
 * top level. */
#include "jinja/jj_eval_internal.h"

#include <string.h>

static int emit(jj_rt *rt, const char *p, size_t n) {
  if (rt->out->len + n > rt->lim.max_output)
    return jj_fail(rt, ECO_EOVERFLOW, "template output over the limit of %zu bytes",
                   rt->lim.max_output);
  if (eco_sb_append(rt->out, p, n) != ECO_OK) return jj_fail(rt, ECO_ENOMEM, "out of memory");
  return ECO_OK;
}

static int assign(jj_rt *rt, jj_scope *s, const jj_str *name, jv v) {
  jv k = jv_strv(name);
  return jj_dict_set(&rt->arena, &s->vars, k, v) == ECO_OK ? ECO_OK : jj_oom(rt);
}

/* ---- macros ----------------------------------------------------------------------- */

static int exec_body(jj_rt *rt, const jj_node *body);

/* Runs body with output captured into a string value. */
static jv capture(jj_rt *rt, const jj_node *body) {
  eco_strbuf buf, *saved = rt->out;
  eco_sb_init(&buf);
  rt->out = &buf;
  exec_body(rt, body);
  rt->out = saved;
  jv r = rt->rc ? jv_undef(NULL) : jj_mkstr(rt, eco_sb_str(&buf), buf.len);
  eco_sb_free(&buf);
  return r;
}

jv jj_call_macro(jj_rt *rt, const jj_node *m, jv *args, size_t npos, const jj_str **kw,
                 size_t nkw) {
  if (npos > m->nkids) {
    jj_fail(rt, ECO_EINVAL, "macro '%s' takes not more than %u argument(s)", m->name->p, m->nkids);
    return jv_undef(NULL);
  }
  for (size_t k = 0; k < nkw; k++) {
    bool known = false;
    for (uint32_t p = 0; p < m->nkids && !known; p++)
      known = !strcmp(m->kids[p]->name->p, kw[k]->p);
    if (!known) {
      jj_fail(rt, ECO_EINVAL, "macro '%s' takes no keyword argument '%s'", m->name->p, kw[k]->p);
      return jv_undef(NULL);
    }
  }
  if (rt->call_depth >= 64) {
    jj_fail(rt, ECO_EOVERFLOW, "macro calls nested more than 64 deep");
    return jv_undef(NULL);
  }
  jj_scope *scope = jj_arena_alloc(&rt->arena, sizeof *scope), *saved = rt->scope;
  if (!scope) {
    jj_oom(rt);
    return jv_undef(NULL);
  }
  scope->parent = rt->globals;
  rt->scope = scope;
  rt->call_depth++;
  for (uint32_t p = 0; p < m->nkids && !rt->rc; p++) {
    const jj_node *prm = m->kids[p];
    jv *given = jj_arg(args, npos, kw, nkw, p, prm->name->p);
    jv v = given ? *given : prm->b ? jj_eval(rt, prm->b) : jv_undef(prm->name);
    assign(rt, scope, prm->name, v);
  }
  jv r = rt->rc ? jv_undef(NULL) : capture(rt, m->body);
  rt->call_depth--;
  rt->scope = saved;
  return r;
}

/* ---- statements --------------------------------------------------------------------- */

static int bind(jj_rt *rt, const jj_node *target, jv v) {
  if (target->kind == N_NAME) return assign(rt, rt->scope, target->name, v);
  if (v.t != JV_LIST && v.t != JV_STR)
    return jj_fail(rt, ECO_EINVAL, "cannot unpack non-iterable %s object", jv_type_name(v));
  jj_list *l;
  if (jv_iter(rt, v, &l)) return rt->rc;
  if (l->n != target->nkids)
    return jj_fail(rt, ECO_EINVAL, "%s values to unpack (expected %u, got %zu)",
                   l->n > target->nkids ? "too many" : "not enough", target->nkids, l->n);
  for (uint32_t k = 0; k < target->nkids; k++)
    if (assign(rt, rt->scope, target->kids[k]->name, l->v[k])) return rt->rc;
  return ECO_OK;
}

static int exec_set(jj_rt *rt, const jj_node *target, jv v) {
  if (rt->rc) return rt->rc;
  if (target->kind != N_GETATTR) return bind(rt, target, v);
  jv ns = jj_lookup(rt, target->a->name);
  if (ns.t != JV_NS)
    return jj_fail(rt, ECO_EINVAL, "cannot assign attribute on non-namespace object");
  return jj_dict_set(&rt->arena, ns.u.d, jv_strv(target->name), v) ? jj_oom(rt) : ECO_OK;
}

static int exec_for(jj_rt *rt, const jj_node *n) {
  jv it = jj_eval(rt, n->b);
  jj_list *items;
  if (rt->rc || jv_iter(rt, it, &items)) return rt->rc;
  jj_scope *scope = jj_arena_alloc(&rt->arena, sizeof *scope), *saved = rt->scope;
  jj_loop *L = jj_arena_alloc(&rt->arena, sizeof *L);
  if (!scope || !L) return jj_oom(rt);
  scope->parent = saved;
  rt->scope = scope;
  if (n->c) { /* {% for x in xs if cond %}: filter first, so loop.* count the kept items */
    jj_list *kept = jj_list_new(rt, 0);
    for (size_t i = 0; kept && i < items->n && !rt->rc; i++) {
      if (!jj_step(rt) || bind(rt, n->a, items->v[i])) break;
      jv c = jj_eval(rt, n->c);
      if (!rt->rc && jv_truthy(c)) jj_list_push(rt, kept, items->v[i]);
    }
    items = kept;
  }
  L->items = items;
  L->depth0 = rt->loop_depth++;
  jv loopv = {.t = JV_LOOP, .u.loop = L};
  for (size_t i = 0; items && i < items->n && !rt->rc; i++) {
    if (!jj_step(rt)) break;
    L->index0 = i;
    if (bind(rt, n->a, items->v[i]) || assign(rt, scope, rt->loop_name, loopv)) break;
    exec_body(rt, n->body);
    int flow = rt->flow;
    rt->flow = 0;
    if (flow == 1) break;
  }
  rt->loop_depth--;
  if (!rt->rc && (!items || !items->n) && n->orelse) exec_body(rt, n->orelse);
  rt->scope = saved;
  return rt->rc;
}

static int exec_stmt(jj_rt *rt, const jj_node *n) {
  switch ((jj_kind)n->kind) {
  case N_TEXT: return emit(rt, n->lit.u.s->p, n->lit.u.s->len);
  case N_OUTPUT: {
    jv v = jj_eval(rt, n->a);
    if (rt->rc) return rt->rc;
    if (v.t == JV_STR) return emit(rt, v.u.s->p, v.u.s->len);
    eco_strbuf sb;
    eco_sb_init(&sb);
    if (!jv_str(rt, v, &sb)) emit(rt, eco_sb_str(&sb), sb.len);
    eco_sb_free(&sb);
    return rt->rc;
  }
  case N_IF: {
    jv c = jj_eval(rt, n->a);
    if (rt->rc) return rt->rc;
    if (jv_truthy(c)) return exec_body(rt, n->body);
    if (!n->orelse) return ECO_OK;
    return n->orelse->kind == N_IF ? exec_stmt(rt, n->orelse) : exec_body(rt, n->orelse);
  }
  case N_FOR: return exec_for(rt, n);
  case N_SET: {
    jv v = jj_eval(rt, n->b);
    return exec_set(rt, n->a, v);
  }
  case N_SETBLOCK: {
    jv v = capture(rt, n->body);
    if (!rt->rc && n->c) {
      const jv *saved = rt->filter_input;
      rt->filter_input = &v;
      v = jj_eval(rt, n->c);
      rt->filter_input = saved;
    }
    return exec_set(rt, n->a, v);
  }
  case N_MACRO: return assign(rt, rt->scope, n->name, (jv){.t = JV_MACRO, .u.node = n});
  case N_BREAK:
  case N_CONTINUE:
    if (!rt->loop_depth)
      return jj_fail(rt, ECO_EFORMAT, "'%s' outside a loop",
                     n->kind == N_BREAK ? "break" : "continue");
    rt->flow = n->kind == N_BREAK ? 1 : 2;
    return ECO_OK;
  case N_FILTERBLOCK: {
    jv v = capture(rt, n->body);
    if (rt->rc) return rt->rc;
    const jv *saved = rt->filter_input;
    rt->filter_input = &v;
    jv r = jj_eval(rt, n->a);
    rt->filter_input = saved;
    if (rt->rc) return rt->rc;
    r = jv_to_str(rt, r);
    return rt->rc ? rt->rc : emit(rt, r.u.s->p, r.u.s->len);
  }
  case N_BODY: return exec_body(rt, n);
  default: return jj_fail(rt, ECO_EINTERNAL, "not a statement");
  }
}

static int exec_body(jj_rt *rt, const jj_node *body) {
  if (++rt->depth > rt->lim.max_depth * 3) {
    rt->depth--;
    return jj_fail(rt, ECO_EOVERFLOW, "blocks nested too deeply");
  }
  for (uint32_t k = 0; k < body->nkids && !rt->rc && !rt->flow; k++) {
    if (!jj_step(rt)) break;
    const jj_node *saved = rt->at;
    rt->at = body->kids[k];
    exec_stmt(rt, body->kids[k]);
    if (!rt->rc) rt->at = saved;
  }
  rt->depth--;
  return rt->rc;
}

int eco_jinja_render(const eco_jinja_tmpl *t, const json_t *vars, const eco_jinja_render_opts *opts,
                     eco_strbuf *out, eco_error *err) {
  static const eco_jinja_render_opts k_default = {0};
  if (!t || !out) return eco_error_set(err, ECO_EINVAL, "no template or output");
  if (vars && !json_is_object(vars))
    return eco_error_set(err, ECO_EINVAL, "variables must be an object");
  jj_rt rt = {.t = t, .opts = opts ? opts : &k_default, .err = err};
  rt.lim = t->limits;
  if (opts) {
    const eco_jinja_limits *l = &opts->limits;
    if (l->max_output) rt.lim.max_output = l->max_output;
    if (l->max_memory) rt.lim.max_memory = l->max_memory;
    if (l->max_steps) rt.lim.max_steps = l->max_steps;
    if (l->max_depth) rt.lim.max_depth = l->max_depth;
  }
  jj_limits_fill(&rt.lim);
  rt.arena.limit = rt.lim.max_memory;
  eco_strbuf buf;
  eco_sb_init(&buf);
  rt.out = &buf;
  jj_scope *top = jj_arena_alloc(&rt.arena, sizeof *top);
  rt.loop_name = jj_str_new(&rt.arena, "loop", 4);
  if (!top || !rt.loop_name) {
    jj_oom(&rt);
    goto done;
  }
  rt.globals = rt.scope = top;
  if (vars) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)vars, key, val) {
      jv k = jj_mkstr(&rt, key, strlen(key)), v;
      if (rt.rc || jv_from_json(&rt, val, &v, 0)) break;
      if (jj_dict_set(&rt.arena, &rt.ctx, k, v)) {
        jj_oom(&rt);
        break;
      }
    }
  }
  if (!rt.rc) exec_body(&rt, t->root);
done:
  if (!rt.rc && eco_sb_append(out, eco_sb_str(&buf), buf.len) != ECO_OK)
    rt.rc = eco_error_set(err, ECO_ENOMEM, "out of memory");
  eco_sb_free(&buf);
  jj_arena_free(&rt.arena);
  return rt.rc;
}
