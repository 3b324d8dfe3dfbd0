/* Tests for src/util/svg (the one SVG chart writer): well-formed output,
 * escaping, log axis ticks, bars, grouped bar charts, markers, x tick labels
 * from arrays and callbacks, and errors on empty or degenerate input. */
#include "testutil.h"

#include "util/status.h"
#include "util/strbuf.h"
#include "util/svg.h"

#include <math.h>
#include <string.h>

static size_t count(const char *s, const char *needle) {
  size_t k = 0;
  for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
    k++;
  return k;
}

/* A tiny XML well-formedness check: every start tag is closed in order,
 * self-closing tags are allowed, attribute values are quoted and hold no
 * '<', text holds no '<' or '>' and every '&' starts an entity. Exactly one
 * root element, <svg>. Returns true when well formed. */
static bool well_formed(const char *s) {
  char stack[64][16];
  int depth = 0, roots = 0;
  const char *p = s;
  while (*p) {
    if (*p == '&') {
      const char *ents[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
      bool ok = false;
      for (size_t i = 0; i < 5; i++)
        ok = ok || strncmp(p, ents[i], strlen(ents[i])) == 0;
      if (!ok) return false;
      p++;
      continue;
    }
    if (*p == '>') return false;
    if (*p != '<') {
      p++;
      continue;
    }
    bool closing = p[1] == '/';
    const char *n = p + 1 + closing;
    size_t len = strspn(n, "abcdefghijklmnopqrstuvwxyz");
    if (len == 0 || len >= 16) return false;
    const char *q = n + len;
    bool self = false;
    char quote = 0;
    for (; *q; q++) { /* to the end of the tag, skipping quoted values */
      if (quote) {
        if (*q == quote)
          quote = 0;
        else if (*q == '<')
          return false;
      } else if (*q == '"' || *q == '\'') {
        quote = *q;
      } else if (*q == '>') {
        self = q[-1] == '/';
        break;
      } else if (*q == '<') {
        return false;
      }
    }
    if (!*q) return false;
    if (closing) {
      if (depth == 0 || strlen(stack[depth - 1]) != len || strncmp(stack[depth - 1], n, len))
        return false;
      depth--;
    } else if (!self) {
      if (depth == 0) {
        if (roots++ || strncmp(n, "svg", len) != 0) return false;
      }
      if (depth == 64) return false;
      memcpy(stack[depth], n, len);
      stack[depth++][len] = '\0';
    }
    p = q + 1;
  }
  return depth == 0 && roots == 1;
}

static void test_checker(void **state) {
  (void)state; /* the checker itself must be able to fail */
  assert_true(well_formed("<svg a=\"1\"><g><rect/></g><text>a &amp; b</text></svg>\n"));
  assert_false(well_formed("<svg><g></svg>"));
  assert_false(well_formed("<svg><text>a & b</text></svg>"));
  assert_false(well_formed("<svg><text>a < b</text></svg>"));
  assert_false(well_formed("<svg><text x=\"<\">a</text></svg>"));
  assert_false(well_formed("<svg></svg><svg></svg>"));
  assert_false(well_formed("<svg>"));
}

static void test_lines_escaping_log_axis(void **state) {
  (void)state;
  double x[] = {1, 10, 100, 1000}, y[] = {5, 3, 2, 1}, y2[] = {100, 200, 300, 150};
  eco_svg_series s[] = {
      {.name = "a<b & \"c\"", .x = x, .y = y, .n = 4},
      {.name = "pts", .x = x, .y = y, .n = 4, .points = true},
      {.name = "right", .x = x, .y = y2, .n = 4, .right_axis = true, .dashed = true},
  };
  eco_svg_chart c = {
      .title = "T & <U>", .xlabel = "rate 'x'", .ylabel = "y", .y2label = "y2 > 0", .xlog = true};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c, s, 3), 0);
  const char *t = eco_sb_str(&sb);
  assert_true(strncmp(t, "<svg", 4) == 0);
  assert_true(well_formed(t));
  assert_non_null(strstr(t, "a&lt;b &amp; &quot;c&quot;"));
  assert_non_null(strstr(t, "T &amp; &lt;U&gt;"));
  assert_non_null(strstr(t, "rate &apos;x&apos;"));
  assert_non_null(strstr(t, "y2 &gt; 0"));
  assert_null(strstr(t, "a<b"));
  /* decade ticks 1..1000 on the log axis, and nothing in between */
  assert_non_null(strstr(t, ">1</text>"));
  assert_non_null(strstr(t, ">10</text>"));
  assert_non_null(strstr(t, ">100</text>"));
  assert_non_null(strstr(t, ">1000</text>"));
  assert_null(strstr(t, ">500</text>"));
  /* two polylines (one dashed), four markers, three legend entries */
  assert_int_equal(count(t, "<polyline"), 2);
  assert_int_equal(count(t, "stroke-dasharray=\"5,3\""), 1);
  assert_int_equal(count(t, "<circle"), 4);
  eco_sb_free(&sb);
}

/* Equal steps on a log axis are equally far apart. */
static void test_log_axis_positions(void **state) {
  (void)state;
  double x[] = {1, 10, 100}, y[] = {1, 1, 1};
  eco_svg_series s = {.name = "s", .x = x, .y = y, .n = 3};
  eco_svg_chart c = {.title = "t", .xlog = true, .width = 600};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c, &s, 1), 0);
  const char *pl = strstr(eco_sb_str(&sb), "points=\"");
  assert_non_null(pl);
  double a, b, d, ya, yb, yd;
  assert_int_equal(sscanf(pl, "points=\"%lf,%lf %lf,%lf %lf,%lf", &a, &ya, &b, &yb, &d, &yd), 6);
  assert_true(fabs((b - a) - (d - b)) < 0.2);
  assert_true(b > a && d > b);
  eco_sb_free(&sb);
}

static int hour_label(double v, char *buf, size_t cap, void *ctx) {
  const char *prefix = ctx;
  if (v < 0) return 1;
  snprintf(buf, cap, "%s%02d:00", prefix, (int)v);
  return 0;
}

static void test_bars_markers_labels(void **state) {
  (void)state;
  double x[] = {0, 1, 2}, g[] = {3, -1, 7}, ci[] = {200, 250, 180};
  const char *keys[] = {"2023-06-15T01:00Z", "2023-06-15T02:00Z", "A&B"};
  const char *tips[] = {"t0", "t<1>", "t2"};
  eco_svg_series s[] = {
      {.name = "carbon", .x = x, .y = g, .n = 3, .bars = true, .color = "#2a6", .tips = tips},
      {.name = "ci", .x = x, .y = ci, .n = 3, .right_axis = true, .color = "#c42"},
  };
  eco_svg_marker mk[] = {{.x = 1, .label = "knee: batch <4>"}, {.x = 99, .label = "outside"}};
  eco_svg_chart c = {.title = "bars",
                     .y2label = "ci",
                     .xmin = -0.5,
                     .xmax = 2.5,
                     .xticks = x,
                     .xtick_labels = keys,
                     .n_xticks = 3,
                     .xtick_rotate = true,
                     .markers = mk,
                     .n_markers = 2,
                     .bar_values = true};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c, s, 2), 0);
  const char *t = eco_sb_str(&sb);
  assert_true(well_formed(t));
  /* 3 bars + background + frame + 2 legend swatches */
  assert_int_equal(count(t, "<rect"), 7);
  assert_int_equal(count(t, "fill=\"#2a6\" fill-opacity"), 3);
  assert_non_null(strstr(t, "<title>t&lt;1&gt;</title>"));
  assert_non_null(strstr(t, ">2023-06-15T01:00Z</text>"));
  assert_non_null(strstr(t, ">A&amp;B</text>"));
  assert_non_null(strstr(t, "rotate(-35"));
  assert_non_null(strstr(t, ">7</text>")); /* bar value */
  /* one marker drawn (the other is off the axis), label escaped */
  assert_int_equal(count(t, "stroke-dasharray=\"4 3\""), 1);
  assert_non_null(strstr(t, "knee: batch &lt;4&gt;"));
  assert_null(strstr(t, "outside"));
  assert_int_equal(count(t, "<polyline"), 1);
  eco_sb_free(&sb);

  /* tick labels from a callback */
  eco_svg_series l = {.name = "l", .x = x, .y = ci, .n = 3};
  eco_svg_chart c2 = {.title = "cb", .xtick_fmt = hour_label, .xtick_ctx = "h"};
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c2, &l, 1), 0);
  t = eco_sb_str(&sb);
  assert_true(well_formed(t));
  assert_non_null(strstr(t, ">h00:00</text>"));
  assert_non_null(strstr(t, ">h02:00</text>"));
  eco_sb_free(&sb);
}

static void test_many_labels_thinned(void **state) {
  (void)state;
  enum { N = 200 };
  double x[N], y[N];
  const char *lab[N];
  for (int i = 0; i < N; i++) {
    x[i] = i;
    y[i] = i % 7;
    lab[i] = "L";
  }
  eco_svg_series s = {.name = "s", .x = x, .y = y, .n = N, .bars = true};
  eco_svg_chart c = {.title = "t", .xticks = x, .xtick_labels = lab, .n_xticks = N};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c, &s, 1), 0);
  size_t shown = count(eco_sb_str(&sb), ">L</text>");
  assert_true(shown >= 5 && shown <= 20);
  assert_true(well_formed(eco_sb_str(&sb)));
  eco_sb_free(&sb);
}

static void test_grouped_bars(void **state) {
  (void)state;
  const char *groups[] = {"GB 24h", "A&B <4h>"};
  const char *series[] = {"oracle", "seasonal-naive"};
  double v[4] = {37.0, 14.9, 8.8, -1.5};
  eco_svg_bars b = {.title = "t",
                    .y_label = "saving, %",
                    .n_groups = 2,
                    .n_series = 2,
                    .group_labels = groups,
                    .series_labels = series,
                    .values = v};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_bar_chart(&sb, &b), 0);
  const char *t = eco_sb_str(&sb);
  assert_true(strncmp(t, "<svg", 4) == 0);
  assert_true(well_formed(t));
  assert_non_null(strstr(t, "A&amp;B &lt;4h&gt;"));
  assert_null(strstr(t, "A&B"));
  /* 4 bars + 2 legend swatches + background + frame */
  assert_int_equal(count(t, "<rect"), 8);
  assert_non_null(strstr(t, "<title>37</title>"));
  assert_non_null(strstr(t, "<title>-1.5</title>"));
  assert_non_null(strstr(t, ">seasonal-naive</text>"));
  /* a fixed axis top */
  b.y_max = 50;
  eco_sb_reset(&sb);
  assert_int_equal(eco_svg_bar_chart(&sb, &b), 0);
  assert_non_null(strstr(eco_sb_str(&sb), ">50</text>"));
  /* empty */
  eco_sb_reset(&sb);
  b.n_groups = 0;
  assert_int_equal(eco_svg_bar_chart(&sb, &b), ECO_EINVAL);
  b.n_groups = 2;
  b.values = NULL;
  assert_int_equal(eco_svg_bar_chart(&sb, &b), ECO_EINVAL);
  assert_int_equal(eco_svg_bar_chart(&sb, NULL), ECO_EINVAL);
  assert_int_equal(sb.len, 0);
  eco_sb_free(&sb);
}

static void test_degenerate(void **state) {
  (void)state;
  double x[] = {1, 2}, y[] = {NAN, INFINITY};
  eco_svg_chart c = {.title = "t"};
  eco_svg_series s = {.name = "s", .x = x, .y = y, .n = 2};
  eco_strbuf sb;
  eco_sb_init(&sb);
  assert_int_equal(eco_svg_chart_write(&sb, &c, NULL, 0), ECO_EINVAL);
  assert_int_equal(eco_svg_chart_write(&sb, &c, &s, 0), ECO_EINVAL);
  assert_int_equal(eco_svg_chart_write(&sb, NULL, &s, 1), ECO_EINVAL);
  assert_int_equal(eco_svg_chart_write(NULL, &c, &s, 1), ECO_EINVAL);
  eco_svg_series bad = {.name = "s", .n = 2}; /* no data */
  assert_int_equal(eco_svg_chart_write(&sb, &c, &bad, 1), ECO_EINVAL);
  eco_svg_chart tiny = {.title = "t", .width = 10, .height = 10};
  assert_int_equal(eco_svg_chart_write(&sb, &tiny, &s, 1), ECO_EINVAL);
  eco_svg_chart nanw = {.title = "t", .width = NAN};
  assert_int_equal(eco_svg_chart_write(&sb, &nanw, &s, 1), ECO_EINVAL);
  eco_svg_chart logbar = {.title = "t", .xlog = true};
  eco_svg_series b = {.name = "b", .x = x, .y = x, .n = 2, .bars = true};
  assert_int_equal(eco_svg_chart_write(&sb, &logbar, &b, 1), ECO_EINVAL);
  eco_svg_chart logneg = {.title = "t", .xlog = true, .xmin = -1, .xmax = 10};
  assert_int_equal(eco_svg_chart_write(&sb, &logneg, &s, 1), ECO_EINVAL);
  eco_svg_chart noticks = {.title = "t", .n_xticks = 3};
  assert_int_equal(eco_svg_chart_write(&sb, &noticks, &s, 1), ECO_EINVAL);
  assert_int_equal(sb.len, 0);
  /* only non-finite points, a single point, NULL names, a note: still a chart */
  assert_int_equal(eco_svg_chart_write(&sb, &c, &s, 1), 0);
  assert_true(well_formed(eco_sb_str(&sb)));
  eco_sb_reset(&sb);
  double one = 5;
  eco_svg_series p = {.x = &one, .y = &one, .n = 1, .points = true};
  eco_svg_chart cn = {.note = "no data & none", .xlog = true};
  assert_int_equal(eco_svg_chart_write(&sb, &cn, &p, 1), 0);
  assert_true(well_formed(eco_sb_str(&sb)));
  assert_non_null(strstr(eco_sb_str(&sb), "no data &amp; none"));
  assert_int_equal(count(eco_sb_str(&sb), "<circle"), 1);
  eco_sb_reset(&sb);
  eco_svg_series empty = {.name = "empty"};
  assert_int_equal(eco_svg_chart_write(&sb, &c, &empty, 1), 0);
  assert_true(well_formed(eco_sb_str(&sb)));
  eco_sb_free(&sb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_checker),
      cmocka_unit_test(test_lines_escaping_log_axis),
      cmocka_unit_test(test_log_axis_positions),
      cmocka_unit_test(test_bars_markers_labels),
      cmocka_unit_test(test_many_labels_thinned),
      cmocka_unit_test(test_grouped_bars),
      cmocka_unit_test(test_degenerate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
