/* ecoinfer node server: the node's dashboard feed (see srv_internal.h). */
#include "server/srv_internal.h"

#include "util/timeutil.h"

#include <stdio.h>
#include <string.h>

void srv_dash_update(eco_server *s) {
  if (!s->dash) return;
  double now = eco_time_wall_s();
  eco_backend_info info;
  memset(&info, 0, sizeof info);
  (void)s->backend->vt->info(s->backend->self, &info);
  eco_acct_intensity in;
  memset(&in, 0, sizeof in);
  snprintf(in.zone, sizeof in.zone, "unknown");
  bool have_in =
      s->have_acct && s->acct.intensity(s->acct.intensity_user, now, &in) == 0 && in.zone[0];
  if (have_in) {
    eco_dash_zone z;
    memset(&z, 0, sizeof z);
    snprintf(z.zone, sizeof z.zone, "%s", in.zone);
    z.gco2_kwh = in.gco2_kwh;
    snprintf(z.source, sizeof z.source, "%s", in.source);
    z.estimated = in.estimated;
    (void)eco_dash_set_zone(s->dash, &z);
  }
  double busy = s->busy_s;
  if (s->busy_since_ns) busy += (double)(eco_time_mono_ns() - s->busy_since_ns) / 1e9;
  eco_dash_node n;
  memset(&n, 0, sizeof n);
  snprintf(n.id, sizeof n.id, "%s:%d", s->cfg.host, s->port);
  snprintf(n.device, sizeof n.device, "%s", info.device[0] ? info.device : "unknown");
  snprintf(n.zone, sizeof n.zone, "%s", have_in ? in.zone : "unknown");
  snprintf(n.health, sizeof n.health, "%s",
           s->draining ? "down" : (info.loaded ? "up" : "degraded"));
  n.queue = (uint32_t)(info.queue_len > 0 ? info.queue_len : 0);
  n.batch = (uint32_t)(info.active > 0 ? info.active : 0);
  n.tokens_per_s = busy > 0 ? s->gen_tokens_total / busy : 0;
  n.j_per_token = s->gen_tokens_total > 0 ? s->energy_j_total / s->gen_tokens_total : 0;
  /* average power while generating: tokens/s x J/token */
  n.power_w = n.tokens_per_s * n.j_per_token;
  const char *lab = s->last_emeasured ? "measured" : "estimated";
  snprintf(n.power_source, sizeof n.power_source, "%s", lab);
  snprintf(n.energy_source, sizeof n.energy_source, "%.18s (%s)",
           s->last_esrc[0] ? s->last_esrc : "none", lab);
  (void)eco_dash_set_node(s->dash, &n);
}

static void on_dash_timer(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  srv_dash_update(arg);
}

void srv_dash_record(eco_server *s, const gen_req *g, double wall, const eco_receipt *rc) {
  if (!s->dash) return;
  eco_dash_decision x;
  memset(&x, 0, sizeof x);
  x.t = eco_time_wall_s();
  snprintf(x.request_id, sizeof x.request_id, "%s", g->id);
  snprintf(x.policy, sizeof x.policy, "node");
  snprintf(x.node, sizeof x.node, "%s:%d", s->cfg.host, s->port);
  x.latency_ms = wall * 1e3;
  x.tokens = (uint32_t)(g->st.prompt_tokens + g->st.generated_tokens);
  x.output_tokens = (uint32_t)g->st.generated_tokens;
  if (rc) {
    x.receipt = *rc;
    snprintf(s->last_esrc, sizeof s->last_esrc, "%s", rc->energy_source);
    s->last_emeasured = !rc->energy_estimated;
  }
  /* a node makes no routing prediction: its receipt stands in, and no
   * counterfactual is claimed */
  x.predicted_g = rc ? rc->total_g : 0;
  x.counterfactual_g = -1;
  x.directive_level = s->cfg.directive ? g->directive_level : -1;
  (void)eco_dash_record(s->dash, &x);
  srv_dash_update(s);
}

int srv_dash_setup(eco_server *s, eco_error *err) {
  /* GET /dashboard: exact paths take precedence over on_public */
  s->dash_timer = event_new(s->base, -1, EV_PERSIST, on_dash_timer, s);
  if (!s->dash_timer || eco_dash_new("node", &s->dash) != 0 ||
      eco_dash_attach(s->dash, s->base, s->http, "/dashboard", 1.0) != 0)
    return eco_error_set(err, ECO_ENOMEM, "cannot attach the dashboard");
  if (eco_auth_on(&s->auth)) eco_dash_set_auth(s->dash, srv_dash_auth, s);
  struct timeval dtv = {2, 0};
  event_add(s->dash_timer, &dtv);
  srv_dash_update(s);
  return 0;
}
