/* Tests for the live carbon-intensity providers (src/carbon/live.c) and
 * the cache and fallback wrappers (src/carbon/chain.c), against the real
 * loopback HTTP server in tests/helpers/httpd.h answering in each
 * provider's format, including 401, 429, 500, timeouts, dropped
 * connections and malformed JSON. A fake clock drives the backoff. */
#include "testutil.h"

#include "carbon/intensity.h"
#include "httpd.h"
#include "util/status.h"

#include <math.h>
#include <string.h>

#define NOW        1795255800.0 /* 2026-11-21T10:10:00Z */
#define T10        1795255200.0 /* 2026-11-21T10:00:00Z */
#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

typedef struct fake_clock {
  double now;
} fake_clock;

static double clock_fn(void *u) { return ((fake_clock *)u)->now; }

static void opts(eco_live_opts *o, eco_test_httpd *h, fake_clock *c) {
  eco_live_opts_default(o);
  o->base_url = eco_test_httpd_url(h);
  o->clock = clock_fn;
  o->clock_user = c;
  o->timeout_s = 2;
  o->backoff_s = 10;
  o->backoff_max_s = 100;
}

static void on(eco_test_httpd *h, const char *path, int status, const char *body) {
  eco_test_response r = {.status = status, .body = body};
  assert_int_equal(eco_test_httpd_on(h, "GET", path, &r), 0);
}

static const char *EM_LATEST =
    "{\"zone\":\"DE\",\"carbonIntensity\":302,\"datetime\":\"2026-11-21T10:00:00.000Z\","
    "\"updatedAt\":\"2026-11-21T10:05:11.000Z\",\"createdAt\":\"2026-11-18T10:00:00.000Z\","
    "\"emissionFactorType\":\"lifecycle\",\"isEstimated\":true,"
    "\"estimationMethod\":\"TIME_SLICER_AVERAGE\"}";

static const char *EM_HISTORY =
    "{\"zone\":\"DE\",\"history\":["
    "{\"zone\":\"DE\",\"carbonIntensity\":250,\"datetime\":\"2026-11-21T06:00:00.000Z\","
    "\"isEstimated\":false},"
    "{\"zone\":\"DE\",\"carbonIntensity\":260,\"datetime\":\"2026-11-21T07:00:00.000Z\","
    "\"isEstimated\":false},"
    "{\"zone\":\"DE\",\"carbonIntensity\":270,\"datetime\":\"2026-11-21T08:00:00.000Z\","
    "\"isEstimated\":false}]}";

static const char *EM_PAST = "{\"zone\":\"DE\",\"carbonIntensity\":411,\"datetime\":"
                             "\"2026-11-18T10:00:00.000Z\",\"isEstimated\":false}";

static const char *EM_FORECAST =
    "{\"zone\":\"DE\",\"forecast\":["
    "{\"carbonIntensity\":300,\"datetime\":\"2026-11-21T10:00:00.000Z\"},"
    "{\"carbonIntensity\":280,\"datetime\":\"2026-11-21T11:00:00.000Z\"},"
    "{\"carbonIntensity\":260,\"datetime\":\"2026-11-21T12:00:00.000Z\"},"
    "{\"carbonIntensity\":240,\"datetime\":\"2026-11-21T13:00:00.000Z\"}],"
    "\"updatedAt\":\"2026-11-21T10:00:00.000Z\"}";

static void test_electricitymaps(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  o.token = "s3cret";
  o.emission_factor = "direct";
  eco_intensity_provider *p;
  eco_error err = {0};
  assert_int_equal(eco_intensity_electricitymaps_new(&o, &p, &err), 0);
  on(h, "/v3/carbon-intensity/latest", 200, EM_LATEST);
  on(h, "/v3/carbon-intensity/history", 200, EM_HISTORY);
  on(h, "/v3/carbon-intensity/past", 200, EM_PAST);
  on(h, "/v3/carbon-intensity/forecast", 200, EM_FORECAST);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "DE", NOW, &v, &err), 0);
  assert_true(v.gco2_kwh == 302 && v.time_s == T10 && v.period_s == 3600);
  assert_true(v.estimated);
  assert_int_equal(v.signal, ECO_SIGNAL_AVERAGE);
  assert_string_equal(v.source, "electricitymaps");
  eco_test_request rq;
  assert_int_equal(eco_test_httpd_last(h, "/v3/carbon-intensity/latest", &rq), 0);
  assert_non_null(strstr(rq.headers, "auth-token: s3cret"));
  assert_string_equal(rq.query, "zone=DE&emissionFactorType=direct");
  eco_test_request_free(&rq);
  /* 3 h ago: from the history */
  assert_int_equal(eco_intensity_get(p, "DE", T10 - 3 * 3600 + 60, &v, &err), 0);
  assert_true(v.gco2_kwh == 260 && !v.estimated);
  /* 3 days ago: the past endpoint */
  assert_int_equal(eco_intensity_get(p, "DE", NOW - 3 * 86400, &v, &err), 0);
  assert_true(v.gco2_kwh == 411);
  assert_int_equal(eco_test_httpd_last(h, "/v3/carbon-intensity/past", &rq), 0);
  assert_non_null(strstr(rq.query, "datetime=2026-11-18T10:10:00Z"));
  eco_test_request_free(&rq);
  /* future: the forecast */
  assert_int_equal(eco_intensity_get(p, "DE", T10 + 2 * 3600 + 5, &v, &err), 0);
  assert_true(v.gco2_kwh == 260 && v.estimated);
  eco_intensity fc[8];
  size_t n = 8;
  assert_int_equal(eco_intensity_forecast(p, "DE", NOW, NOW + 2 * 3600, fc, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_true(fc[0].gco2_kwh == 300 && fc[2].gco2_kwh == 260 && fc[2].period_s == 3600);
  eco_intensity_free(p);
  eco_test_httpd_stop(h);
}

typedef struct flaky {
  int calls;
  int fail_first; /* answer 500 this many times */
} flaky;

static void flaky_handler(const eco_test_request *req, eco_test_response *resp, void *user) {
  (void)req;
  flaky *f = user;
  f->calls++;
  resp->status = f->calls <= f->fail_first ? 500 : 200;
  resp->body = f->calls <= f->fail_first ? "oops" : EM_LATEST;
}

static void test_errors_and_backoff(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  o.timeout_s = 0.3;
  eco_intensity_provider *p;
  eco_error err = {0};
  eco_intensity v;
  const char *path = "/v3/carbon-intensity/latest";
  assert_int_equal(eco_intensity_electricitymaps_new(&o, &p, &err), 0);

  on(h, path, 401, "{\"error\":\"unauthorized\"}");
  assert_int_equal(eco_intensity_get(p, "DE", NOW, &v, &err), ECO_EACCES);
  /* backing off: no request reaches the server for 10 s */
  size_t before = eco_test_httpd_count(h, path);
  c.now += 5;
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EAGAIN);
  assert_non_null(strstr(err.msg, "backing off"));
  assert_int_equal(eco_test_httpd_count(h, path), before);
  /* after 10 s it tries again: a 500; the next delay doubles to 20 s */
  c.now += 6;
  on(h, path, 500, "internal");
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EHTTP);
  assert_int_equal(eco_test_httpd_count(h, path), before + 1);
  c.now += 15;
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EAGAIN);
  c.now += 6;
  /* 429 with Retry-After longer than the backoff */
  eco_test_response r429 = {.status = 429, .headers = "Retry-After: 120\n", .body = "{}"};
  assert_int_equal(eco_test_httpd_on(h, "GET", path, &r429), 0);
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EBUSY);
  c.now += 100; /* beyond the 40 s backoff, within Retry-After */
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EAGAIN);
  c.now += 21;
  /* malformed JSON, then a JSON answer without the fields */
  on(h, path, 200, "{\"zone\": \"DE\", \"carbonIntensity\": 3");
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EFORMAT);
  assert_non_null(strstr(err.msg, "malformed JSON"));
  c.now += 1000;
  on(h, path, 200, "{\"zone\": \"DE\", \"carbonIntensity\": \"high\"}");
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_EFORMAT);
  c.now += 1000;
  /* a timeout */
  eco_test_response slow = {.status = 200, .body = EM_LATEST, .delay_ms = 1500};
  assert_int_equal(eco_test_httpd_on(h, "GET", path, &slow), 0);
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_ETIMEOUT);
  c.now += 1000;
  /* a dropped connection */
  on(h, path, 0, NULL);
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), ECO_ENET);
  c.now += 1000;
  /* back to normal: succeeds and resets the backoff */
  on(h, path, 200, EM_LATEST);
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), 0);
  eco_intensity_free(p);

  /* in-call retries with exponential sleeps */
  o.retries = 2;
  o.backoff_s = 0.01;
  flaky f = {.fail_first = 2};
  assert_int_equal(eco_test_httpd_handler(h, "GET", path, flaky_handler, &f), 0);
  assert_int_equal(eco_intensity_electricitymaps_new(&o, &p, &err), 0);
  c.now = NOW;
  assert_int_equal(eco_intensity_get(p, "DE", c.now, &v, &err), 0);
  assert_int_equal(f.calls, 3);
  assert_true(v.gco2_kwh == 302);
  eco_intensity_free(p);
  eco_test_httpd_stop(h);
}

typedef struct wt_state {
  int logins;
} wt_state;

static void wt_login_h(const eco_test_request *req, eco_test_response *resp, void *user) {
  wt_state *s = user;
  /* user:pass in base64 is dXNlcjpwYXNz */
  if (!strstr(req->headers, "Authorization: Basic dXNlcjpwYXNz")) {
    resp->status = 403;
    resp->body = "{}";
    return;
  }
  s->logins++;
  resp->status = 200;
  resp->body = s->logins == 1 ? "{\"token\":\"tok1\"}" : "{\"token\":\"tok2\"}";
}

static const char *WT_FC =
    "{\"data\":[{\"point_time\":\"2026-11-21T10:10:00+00:00\",\"value\":1000.0},"
    "{\"point_time\":\"2026-11-21T10:15:00+00:00\",\"value\":800.0},"
    "{\"point_time\":\"2026-11-21T10:20:00+00:00\",\"value\":600.0}],"
    "\"meta\":{\"data_point_period_seconds\":300,\"region\":\"CAISO_NORTH\","
    "\"signal_type\":\"co2_moer\",\"units\":\"lbs_co2_per_mwh\","
    "\"generated_at\":\"2026-11-21T10:10:00+00:00\"}}";

static void wt_fc_h(const eco_test_request *req, eco_test_response *resp, void *user) {
  (void)user;
  /* tok1 has "expired" */
  if (!strstr(req->headers, "Authorization: Bearer tok2")) {
    resp->status = 401;
    resp->body = "{\"error\":\"expired\"}";
    return;
  }
  resp->status = 200;
  resp->body = WT_FC;
}

static void test_watttime(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  o.username = "user";
  o.password = "pass";
  wt_state s = {0};
  assert_int_equal(eco_test_httpd_handler(h, "GET", "/login", wt_login_h, &s), 0);
  assert_int_equal(eco_test_httpd_handler(h, "GET", "/v3/forecast", wt_fc_h, NULL), 0);
  eco_intensity_provider *p;
  eco_error err = {0};
  assert_int_equal(eco_intensity_watttime_new(&o, &p, &err), 0);
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "CAISO_NORTH", NOW, &v, &err), 0);
  assert_int_equal(s.logins, 2); /* the first token was refused: logged in again */
  /* 1000 lbs/MWh = 453.59237 g/kWh */
  assert_true(NEAR(v.gco2_kwh, 453.59237));
  assert_int_equal(v.signal, ECO_SIGNAL_MARGINAL);
  assert_true(v.period_s == 300);
  assert_false(v.estimated);
  eco_test_request rq;
  assert_int_equal(eco_test_httpd_last(h, "/v3/forecast", &rq), 0);
  assert_non_null(strstr(rq.query, "region=CAISO_NORTH"));
  assert_non_null(strstr(rq.query, "signal_type=co2_moer"));
  eco_test_request_free(&rq);
  eco_intensity fc[8];
  size_t n = 8;
  assert_int_equal(eco_intensity_forecast(p, "CAISO_NORTH", NOW + 300, NOW + 900, fc, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(NEAR(fc[0].gco2_kwh, 800 * 0.45359237) && fc[1].estimated);
  /* historical */
  on(h, "/v3/historical", 200,
     "{\"data\":[{\"point_time\":\"2026-11-20T10:00:00+00:00\",\"value\":500},"
     "{\"point_time\":\"2026-11-20T10:05:00+00:00\",\"value\":510}],"
     "\"meta\":{\"data_point_period_seconds\":300,\"units\":\"lbs_co2_per_mwh\"}}");
  assert_int_equal(eco_intensity_get(p, "CAISO_NORTH", T10 - 86400 + 301, &v, &err), 0);
  assert_true(NEAR(v.gco2_kwh, 510 * 0.45359237));
  /* units it does not know are refused, not misconverted */
  on(h, "/v3/historical", 200,
     "{\"data\":[{\"point_time\":\"2026-11-20T10:00:00+00:00\",\"value\":500}],"
     "\"meta\":{\"units\":\"kg_co2_per_mwh\"}}");
  assert_int_equal(eco_intensity_get(p, "CAISO_NORTH", T10 - 86400 + 1, &v, &err), ECO_EFORMAT);
  eco_intensity_free(p);

  /* wrong password: 403 at login */
  c.now = NOW;
  o.password = "wrong";
  assert_int_equal(eco_intensity_watttime_new(&o, &p, &err), 0);
  assert_int_equal(eco_intensity_get(p, "CAISO_NORTH", NOW, &v, &err), ECO_EACCES);
  eco_intensity_free(p);
  o.username = NULL;
  assert_int_equal(eco_intensity_watttime_new(&o, &p, &err), ECO_ECONFIG);
  eco_test_httpd_stop(h);
}

static void test_ukci(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  eco_intensity_provider *p;
  eco_error err = {0};
  assert_int_equal(eco_intensity_ukci_new(&o, &p, &err), 0);
  on(h, "/intensity", 200,
     "{\"data\":[{\"from\":\"2026-11-21T10:00Z\",\"to\":\"2026-11-21T10:30Z\","
     "\"intensity\":{\"forecast\":266,\"actual\":263,\"index\":\"moderate\"}}]}");
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "GB", NOW, &v, &err), 0);
  assert_true(v.gco2_kwh == 263 && !v.estimated && v.period_s == 1800 && v.time_s == T10);
  on(h, "/intensity", 200,
     "{\"data\":[{\"from\":\"2026-11-21T10:00Z\",\"to\":\"2026-11-21T10:30Z\","
     "\"intensity\":{\"forecast\":266,\"actual\":null,\"index\":\"moderate\"}}]}");
  assert_int_equal(eco_intensity_get(p, "GB", NOW, &v, &err), 0);
  assert_true(v.gco2_kwh == 266 && v.estimated);
  /* regional, current */
  on(h, "/regional/regionid/13", 200,
     "{\"data\":[{\"regionid\":13,\"dnoregion\":\"UKPN London\",\"shortname\":\"London\","
     "\"data\":[{\"from\":\"2026-11-21T10:00Z\",\"to\":\"2026-11-21T10:30Z\","
     "\"intensity\":{\"forecast\":180,\"index\":\"moderate\"},\"generationmix\":[]}]}]}");
  assert_int_equal(eco_intensity_get(p, "GB-13", NOW, &v, &err), 0);
  assert_true(v.gco2_kwh == 180 && v.estimated);
  /* national forecast */
  on(h, "/intensity/2026-11-21T10:10Z/fw48h", 200,
     "{\"data\":[{\"from\":\"2026-11-21T10:00Z\",\"to\":\"2026-11-21T10:30Z\","
     "\"intensity\":{\"forecast\":200,\"actual\":null,\"index\":\"low\"}},"
     "{\"from\":\"2026-11-21T10:30Z\",\"to\":\"2026-11-21T11:00Z\","
     "\"intensity\":{\"forecast\":190,\"actual\":null,\"index\":\"low\"}},"
     "{\"from\":\"2026-11-21T11:00Z\",\"to\":\"2026-11-21T11:30Z\","
     "\"intensity\":{\"forecast\":180,\"actual\":null,\"index\":\"low\"}}]}");
  eco_intensity fc[8];
  size_t n = 8;
  assert_int_equal(eco_intensity_forecast(p, "GB", NOW, NOW + 3060, fc, &n, &err), 0);
  assert_int_equal(n, 3);
  assert_true(fc[1].gco2_kwh == 190 && fc[1].period_s == 1800);
  /* regional forecast answers with an object under "data" */
  on(h, "/regional/intensity/2026-11-21T10:10Z/fw48h/regionid/3", 200,
     "{\"data\":{\"regionid\":3,\"shortname\":\"North Scotland\",\"data\":["
     "{\"from\":\"2026-11-21T10:00Z\",\"to\":\"2026-11-21T10:30Z\","
     "\"intensity\":{\"forecast\":20,\"index\":\"very low\"}}]}}");
  n = 8;
  assert_int_equal(eco_intensity_forecast(p, "GB-3", NOW, NOW + 600, fc, &n, &err), 0);
  assert_int_equal(n, 1);
  assert_true(fc[0].gco2_kwh == 20);
  assert_int_equal(eco_intensity_get(p, "FR", NOW, &v, &err), ECO_ENOENT);
  assert_int_equal(eco_intensity_get(p, "GB-99", NOW, &v, &err), ECO_ENOENT);
  /* no "intensity" object */
  on(h, "/intensity", 200, "{\"data\":[{\"from\":\"2026-11-21T10:00Z\",\"to\":\"x\"}]}");
  assert_int_equal(eco_intensity_get(p, "GB", NOW, &v, &err), ECO_EFORMAT);
  eco_intensity_free(p);
  eco_test_httpd_stop(h);
}

static void test_carbon_aware_sdk(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  o.signal = ECO_SIGNAL_MARGINAL;
  eco_intensity_provider *p;
  eco_error err = {0};
  assert_int_equal(eco_intensity_carbonaware_new(&o, &p, &err), 0);
  on(h, "/emissions/bylocation", 200,
     "[{\"location\":\"eastus\",\"time\":\"2026-11-21T10:00:00+00:00\",\"rating\":540.5,"
     "\"duration\":\"00:05:00\"},{\"location\":\"eastus\",\"time\":\"2026-11-21T10:05:00+00:00\","
     "\"rating\":545.67,\"duration\":\"00:05:00\"}]");
  eco_intensity v;
  assert_int_equal(eco_intensity_get(p, "eastus", NOW, &v, &err), 0);
  assert_true(v.gco2_kwh == 545.67 && v.period_s == 300);
  assert_int_equal(v.signal, ECO_SIGNAL_MARGINAL);
  assert_string_equal(v.source, "carbon-aware-sdk");
  on(h, "/emissions/forecasts/current", 200,
     "[{\"generatedAt\":\"2026-11-21T10:05:00+00:00\",\"location\":\"eastus\",\"windowSize\":5,"
     "\"optimalDataPoints\":[],\"forecastData\":["
     "{\"location\":\"eastus\",\"timestamp\":\"2026-11-21T10:10:00+00:00\",\"duration\":5,"
     "\"value\":547.3},"
     "{\"location\":\"eastus\",\"timestamp\":\"2026-11-21T10:15:00+00:00\",\"duration\":5,"
     "\"value\":547.6}]}]");
  eco_intensity fc[4];
  size_t n = 4;
  assert_int_equal(eco_intensity_forecast(p, "eastus", NOW, NOW + 600, fc, &n, &err), 0);
  assert_int_equal(n, 2);
  assert_true(fc[1].gco2_kwh == 547.6 && fc[1].period_s == 300 && fc[1].estimated);
  eco_test_request rq;
  assert_int_equal(eco_test_httpd_last(h, "/emissions/forecasts/current", &rq), 0);
  assert_non_null(strstr(rq.query, "location=eastus"));
  assert_non_null(strstr(rq.query, "dataStartAt=2026-11-21T10:10:00Z"));
  eco_test_request_free(&rq);
  on(h, "/emissions/bylocation", 200, "{\"not\":\"an array\"}");
  c.now += 1; /* not backing off: the last call succeeded */
  assert_int_equal(eco_intensity_get(p, "eastus", c.now, &v, &err), ECO_EFORMAT);
  eco_intensity_free(p);
  eco_test_httpd_stop(h);
}

static void test_cache_and_fallback(void **state) {
  (void)state;
  eco_test_httpd *h;
  assert_int_equal(eco_test_httpd_start(&h), 0);
  fake_clock c = {NOW};
  eco_live_opts o;
  opts(&o, h, &c);
  o.backoff_s = 1;
  o.backoff_max_s = 1;
  const char *latest = "/v3/carbon-intensity/latest";
  const char *fcp = "/v3/carbon-intensity/forecast";
  on(h, latest, 200, EM_LATEST);
  on(h, fcp, 200, EM_FORECAST);
  eco_intensity_provider *em, *cached, *st, *chain;
  eco_error err = {0};
  assert_int_equal(eco_intensity_electricitymaps_new(&o, &em, &err), 0);
  assert_int_equal(eco_intensity_cache_new(em, 300, &cached, &err), 0);
  eco_intensity v;
  /* the value's period is 10:00-11:00: one request serves both calls */
  assert_int_equal(eco_intensity_get(cached, "DE", NOW, &v, &err), 0);
  c.now = T10 + 3000;
  assert_int_equal(eco_intensity_get(cached, "DE", c.now, &v, &err), 0);
  assert_int_equal(eco_test_httpd_count(h, latest), 1);
  /* past the period: asks again */
  c.now = T10 + 3600;
  assert_int_equal(eco_intensity_get(cached, "DE", c.now, &v, &err), 0);
  assert_int_equal(eco_test_httpd_count(h, latest), 2);
  /* forecasts are cached until their first period ends */
  eco_intensity fc[8];
  size_t n = 8;
  c.now = NOW;
  assert_int_equal(eco_intensity_forecast(cached, "DE", NOW, NOW + 7200, fc, &n, &err), 0);
  n = 8;
  assert_int_equal(eco_intensity_forecast(cached, "DE", NOW + 60, NOW + 3600, fc, &n, &err), 0);
  assert_int_equal(eco_test_httpd_count(h, fcp), 1);

  /* the chain: cache(EM) -> last known -> forecast -> static */
  eco_static_entry tab[] = {{"DE", 999}};
  assert_int_equal(eco_intensity_static_new(tab, 1, 500, &st, &err), 0);
  assert_int_equal(eco_intensity_fallback_new(cached, st, 3700, &chain, &err), 0);
  c.now = T10 + 7200; /* 12:00: outside the cached period */
  on(h, latest, 200,
     "{\"zone\":\"DE\",\"carbonIntensity\":123,\"datetime\":\"2026-11-21T12:00:00.000Z\","
     "\"isEstimated\":false}");
  assert_int_equal(eco_intensity_get(chain, "DE", c.now, &v, &err), 0);
  assert_true(v.gco2_kwh == 123 && !v.estimated);
  assert_string_equal(v.source, "electricitymaps");
  /* the provider goes down */
  on(h, latest, 500, "down");
  on(h, fcp, 500, "down");
  c.now = T10 + 3 * 3600 + 60; /* 13:01, 1 h after the last good value */
  assert_int_equal(eco_intensity_get(chain, "DE", c.now, &v, &err), 0);
  assert_true(v.gco2_kwh == 123 && v.estimated);
  assert_string_equal(v.source, "last-known:electricitymaps");
  /* too old for last-known: the forecast remembered by the chain */
  n = 8;
  c.now += 10;
  on(h, fcp, 200, EM_FORECAST);
  assert_int_equal(eco_intensity_forecast(chain, "DE", T10, T10 + 4 * 3600, fc, &n, &err), 0);
  on(h, fcp, 500, "down");
  c.now = T10 + 3 * 3600 + 1900; /* 13:31:40: the last good value is 91 min old */
  assert_int_equal(eco_intensity_get(chain, "DE", c.now, &v, &err), 0);
  assert_true(v.gco2_kwh == 240 && v.estimated);
  assert_string_equal(v.source, "forecast:electricitymaps");
  /* beyond the forecast: the static table */
  c.now = T10 + 6 * 3600;
  assert_int_equal(eco_intensity_get(chain, "DE", c.now, &v, &err), 0);
  assert_true(v.gco2_kwh == 999 && v.estimated);
  assert_string_equal(v.source, "static");
  /* an unknown zone falls through to the world default, never an error */
  assert_int_equal(eco_intensity_get(chain, "XX", c.now, &v, &err), 0);
  assert_true(v.gco2_kwh == 500);
  eco_intensity_free(chain);
  eco_test_httpd_stop(h);
}

/* Every provider maps the same failures to the same codes. */
typedef int (*ctor_fn)(const eco_live_opts *, eco_intensity_provider **, eco_error *);

static void test_all_providers_errors(void **state) {
  (void)state;
  struct {
    ctor_fn ctor;
    const char *zone;
    const char *path; /* the "now" endpoint */
  } provs[] = {
      {eco_intensity_electricitymaps_new, "DE", "/v3/carbon-intensity/latest"},
      {eco_intensity_watttime_new, "CAISO_NORTH", "/v3/forecast"},
      {eco_intensity_ukci_new, "GB", "/intensity"},
      {eco_intensity_carbonaware_new, "eastus", "/emissions/bylocation"},
  };
  struct {
    int status;
    const char *body;
    int delay_ms;
    int want;
  } cases[] = {
      {401, "{}", 0, ECO_EACCES},
      {429, "{}", 0, ECO_EBUSY},
      {500, "{}", 0, ECO_EHTTP},
      {503, "", 0, ECO_EHTTP},
      {200, "{\"data\": [", 0, ECO_EFORMAT},
      {200, "[1, 2", 0, ECO_EFORMAT},
      {200, "{}", 900, ECO_ETIMEOUT},
      {0, NULL, 0, ECO_ENET},
  };
  for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++) {
    eco_test_httpd *h;
    assert_int_equal(eco_test_httpd_start(&h), 0);
    fake_clock c = {NOW};
    eco_live_opts o;
    opts(&o, h, &c);
    o.timeout_s = 0.3;
    o.token = "t"; /* WattTime: a ready bearer token, no login */
    eco_intensity_provider *p;
    eco_error err = {0};
    assert_int_equal(provs[i].ctor(&o, &p, &err), 0);
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      eco_test_response r = {
          .status = cases[k].status, .body = cases[k].body, .delay_ms = cases[k].delay_ms};
      assert_int_equal(eco_test_httpd_on(h, "GET", provs[i].path, &r), 0);
      c.now += 10000; /* past any backoff */
      eco_intensity v;
      int rc = eco_intensity_get(p, provs[i].zone, c.now, &v, &err);
      if (rc != cases[k].want)
        fail_msg("%s case %zu (HTTP %d): got %d (%s), want %d", p->name, k, cases[k].status, rc,
                 err.msg, cases[k].want);
      /* and the next call backs off without touching the network */
      size_t before = eco_test_httpd_count(h, provs[i].path);
      assert_int_equal(eco_intensity_get(p, provs[i].zone, c.now + 1, &v, &err), ECO_EAGAIN);
      assert_int_equal(eco_test_httpd_count(h, provs[i].path), before);
    }
    eco_intensity_free(p);
    eco_test_httpd_stop(h);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_electricitymaps),
      cmocka_unit_test(test_errors_and_backoff),
      cmocka_unit_test(test_watttime),
      cmocka_unit_test(test_ukci),
      cmocka_unit_test(test_carbon_aware_sdk),
      cmocka_unit_test(test_cache_and_fallback),
      cmocka_unit_test(test_all_providers_errors),
  };
  return cmocka_run_group_tests_name("carbon_live", tests, NULL, NULL);
}
