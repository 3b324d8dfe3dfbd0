/* ecoinfer: SVG chart writer (see svg.h). */
#include "util/svg.h"

#include "util/status.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const colors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                     "#66a61e", "#e6ab02", "#a6761d", "#666666"};
#define NCOLORS (sizeof colors / sizeof colors[0])

typedef struct range {
  double lo, hi;
} range;

/* Plot geometry, px. */
typedef struct frame {
  double W, H, L, R, T, B;
  range rx, ry, ry2;
  bool xlog;
} frame;

static void esc(eco_strbuf *sb, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<': eco_sb_puts(sb, "&lt;"); break;
    case '>': eco_sb_puts(sb, "&gt;"); break;
    case '&': eco_sb_puts(sb, "&amp;"); break;
    case '"': eco_sb_puts(sb, "&quot;"); break;
    case '\'': eco_sb_puts(sb, "&apos;"); break;
    default: eco_sb_append(sb, s, 1);
    }
  }
}

/* A "nice" tick step for a span: 1, 2 or 5 x 10^k. */
static double nice_step(double span, int want) {
  double raw = span / want;
  double mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  double nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nf * mag;
}

static range fit(range r, bool logscale) {
  if (logscale) {
    if (!(r.lo > 0)) r.lo = 1e-3;
    if (!(r.hi > r.lo)) r.hi = r.lo * 10;
    r.lo = pow(10, floor(log10(r.lo)));
    r.hi = pow(10, ceil(log10(r.hi)));
    return r;
  }
  if (!(r.hi > r.lo)) r.hi = r.lo + 1;
  double st = nice_step(r.hi - r.lo, 5);
  r.lo = floor(r.lo / st) * st;
  r.hi = ceil(r.hi / st) * st;
  return r;
}

/* v in r to px in [a, b], linear or (v, r > 0) logarithmic. */
static double map(double v, range r, bool logscale, double a, double b) {
  double f = (v - r.lo) / (r.hi - r.lo);
  if (logscale && v > 0 && r.lo > 0) f = log10(v / r.lo) / log10(r.hi / r.lo);
  return a + f * (b - a);
}

static double px_x(const frame *f, double v) { return map(v, f->rx, f->xlog, f->L, f->R); }

static void fmt_num(char *buf, size_t cap, double v) {
  double a = fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3))
    snprintf(buf, cap, "%.0e", v);
  else
    snprintf(buf, cap, "%g", a < 1e-12 ? 0.0 : v);
}

static bool in_x(const frame *f, double x) {
  return isfinite(x) && (!f->xlog || x > 0) && x >= f->rx.lo - 1e-9 * fabs(f->rx.hi - f->rx.lo) &&
         x <= f->rx.hi + 1e-9 * fabs(f->rx.hi - f->rx.lo);
}

/* One x tick: grid line and label (label NULL: none). */
static void xtick(eco_strbuf *sb, const frame *f, const eco_svg_chart *c, double v,
                  const char *label) {
  double px = px_x(f, v);
  eco_sb_printf(sb, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>", px,
                f->T, px, f->B);
  if (label) {
    if (c->xtick_rotate)
      eco_sb_printf(sb,
                    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"end\" "
                    "transform=\"rotate(-35 %.1f %.0f)\">",
                    px, f->B + 14, px, f->B + 14);
    else
      eco_sb_printf(sb, "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", px, f->B + 16);
    esc(sb, label);
    eco_sb_puts(sb, "</text>");
  }
  eco_sb_puts(sb, "\n");
}

static const char *tick_label(const eco_svg_chart *c, double v, char *buf, size_t cap) {
  if (c->xtick_fmt) {
    buf[0] = '\0';
    return c->xtick_fmt(v, buf, cap, c->xtick_ctx) == 0 ? buf : NULL;
  }
  fmt_num(buf, cap, v);
  return buf;
}

static void x_axis(eco_strbuf *sb, const frame *f, const eco_svg_chart *c) {
  char buf[64];
  if (c->xticks) {
    /* thin the labels so they do not overlap */
    double room = floor((f->R - f->L) / (c->xtick_rotate ? 18 : 50)) + 1;
    size_t every = (double)c->n_xticks > room ? (size_t)ceil((double)c->n_xticks / room) : 1;
    for (size_t i = 0; i < c->n_xticks; i++) {
      double v = c->xticks[i];
      if (!in_x(f, v)) continue;
      const char *lab = NULL;
      if (i % every == 0)
        lab = c->xtick_labels ? c->xtick_labels[i] : tick_label(c, v, buf, sizeof buf);
      xtick(sb, f, c, v, lab);
    }
  } else if (f->xlog) {
    for (int k = 0; k < 40; k++) {
      double v = f->rx.lo * pow(10, k);
      if (v > f->rx.hi * 1.0001) break;
      xtick(sb, f, c, v, tick_label(c, v, buf, sizeof buf));
    }
  } else {
    double st = nice_step(f->rx.hi - f->rx.lo, 6);
    double v0 = ceil(f->rx.lo / st - 1e-9) * st;
    for (int k = 0; k < 1000; k++) {
      double v = v0 + k * st;
      if (v > f->rx.hi + st * 1e-6) break;
      xtick(sb, f, c, v, tick_label(c, v, buf, sizeof buf));
    }
  }
}

static void y_axis(eco_strbuf *sb, const frame *f, range r, bool right, const char *col) {
  char buf[32];
  double st = nice_step(r.hi - r.lo, 5);
  for (int k = 0; k < 1000; k++) {
    double v = r.lo + k * st;
    if (v > r.hi + st * 1e-6) break;
    double py = map(v, r, false, f->B, f->T);
    fmt_num(buf, sizeof buf, v);
    if (right)
      eco_sb_printf(sb, "<text x=\"%.0f\" y=\"%.1f\" fill=\"%s\">%s</text>\n", f->R + 5, py + 4,
                    col, buf);
    else
      eco_sb_printf(sb,
                    "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"%s\"/>"
                    "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                    f->L, py, f->R, py, fabs(v) < st * 1e-6 && r.lo < 0 ? "#000" : "#ddd", f->L - 5,
                    py + 4, buf);
  }
}

static const char *series_color(const eco_svg_series *s, size_t k) {
  if (s->color) return s->color;
  return s->right_axis ? "#999" : colors[k % NCOLORS];
}

/* Bars of series s (index bi of nb bar series), slot px wide per x. */
static void bars(eco_strbuf *sb, const frame *f, const eco_svg_chart *c, const eco_svg_series *s,
                 const char *col, size_t bi, size_t nb, double slot) {
  range yr = s->right_axis ? f->ry2 : f->ry;
  double bw = slot * 0.8 / (double)nb, y0 = map(0, yr, false, f->B, f->T);
  for (size_t i = 0; i < s->n; i++) {
    double x = s->x[i], v = s->y[i];
    if (!in_x(f, x) || !isfinite(v)) continue;
    double px = px_x(f, x) - slot * 0.4 + bw * (double)bi, py = map(v, yr, false, f->B, f->T);
    double top = v >= 0 ? py : y0;
    eco_sb_printf(sb,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                  "fill-opacity=\"0.85\"><title>",
                  px, top, bw * 0.92, fabs(py - y0), col);
    if (s->tips)
      esc(sb, s->tips[i]);
    else
      eco_sb_printf(sb, "%.4g", v);
    eco_sb_puts(sb, "</title></rect>\n");
    if (c->bar_values)
      eco_sb_printf(sb,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\">%.3g"
                    "</text>\n",
                    px + bw * 0.46, top - 3, v);
  }
}

static void line(eco_strbuf *sb, const frame *f, const eco_svg_series *s, const char *col) {
  range yr = s->right_axis ? f->ry2 : f->ry;
  if (s->points) {
    for (size_t i = 0; i < s->n; i++) {
      if (!in_x(f, s->x[i]) || !isfinite(s->y[i])) continue;
      eco_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\">", px_x(f, s->x[i]),
                    map(s->y[i], yr, false, f->B, f->T), col);
      if (s->tips) {
        eco_sb_puts(sb, "<title>");
        esc(sb, s->tips[i]);
        eco_sb_puts(sb, "</title>");
      }
      eco_sb_puts(sb, "</circle>\n");
    }
    return;
  }
  eco_sb_printf(sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"", col,
                s->dashed ? " stroke-dasharray=\"5,3\"" : "");
  for (size_t i = 0; i < s->n; i++) {
    if (!in_x(f, s->x[i]) || !isfinite(s->y[i])) continue;
    eco_sb_printf(sb, "%.1f,%.1f ", px_x(f, s->x[i]), map(s->y[i], yr, false, f->B, f->T));
  }
  eco_sb_puts(sb, "\"/>\n");
}

static void legend(eco_strbuf *sb, const frame *f, const eco_svg_chart *c, const eco_svg_series *s,
                   size_t n) {
  for (size_t k = 0; k < n; k++) {
    double lx = f->L + 10, ly = f->T + 14 + 16.0 * (double)k;
    if (c->legend_below) {
      lx = f->L + 10 + (double)k * ((f->R - f->L) / (double)n);
      ly = f->H - 12;
    }
    eco_sb_printf(sb,
                  "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"%d\" fill=\"%s\"/>"
                  "<text x=\"%.0f\" y=\"%.0f\">",
                  lx, ly - (s[k].bars ? 10 : 4), s[k].bars ? 10 : 4, series_color(&s[k], k),
                  lx + 16, ly);
    esc(sb, s[k].name);
    eco_sb_puts(sb, "</text>\n");
  }
}

static void markers(eco_strbuf *sb, const frame *f, const eco_svg_chart *c) {
  for (size_t i = 0; i < c->n_markers; i++) {
    double x = c->markers[i].x;
    if (!in_x(f, x)) continue;
    double px = px_x(f, x);
    eco_sb_printf(sb,
                  "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#888\" "
                  "stroke-dasharray=\"4 3\"/>",
                  px, f->T, px, f->B);
    if (c->markers[i].label) {
      eco_sb_printf(sb, "<text x=\"%.1f\" y=\"%.0f\" fill=\"#555\">", px + 4, f->T + 14);
      esc(sb, c->markers[i].label);
      eco_sb_puts(sb, "</text>");
    }
    eco_sb_puts(sb, "\n");
  }
}

static int validate(const eco_svg_chart *c, const eco_svg_series *s, size_t n) {
  if (!c || !s || n == 0) return ECO_EINVAL;
  if (!isfinite(c->width) || !isfinite(c->height) || !isfinite(c->xmin) || !isfinite(c->xmax) ||
      !isfinite(c->ymax))
    return ECO_EINVAL;
  if (c->xlog && c->xmax > c->xmin && !(c->xmin > 0)) return ECO_EINVAL;
  if (c->n_xticks && !c->xticks) return ECO_EINVAL;
  if (c->n_markers && !c->markers) return ECO_EINVAL;
  for (size_t k = 0; k < n; k++) {
    if (s[k].n && (!s[k].x || !s[k].y)) return ECO_EINVAL;
    if (s[k].bars && c->xlog) return ECO_EINVAL;
  }
  return 0;
}

/* The plot area: margins from the chart's size and its slanted tick labels. ECO_EINVAL when
 * too small to draw in. */
static int layout(const eco_svg_chart *c, frame *f) {
  *f = (frame){.W = c->width > 0 ? c->width : 720, .H = c->height > 0 ? c->height : 420};
  f->xlog = c->xlog;
  /* slanted tick labels need room below the axis and left of the first tick */
  size_t maxlen = c->xtick_labels ? 0 : 10;
  for (size_t i = 0; c->xtick_labels && i < c->n_xticks; i++)
    if (c->xtick_labels[i] && strlen(c->xtick_labels[i]) > maxlen)
      maxlen = strlen(c->xtick_labels[i]);
  double rot = c->xtick_rotate ? fmin(160, 3.8 * (double)maxlen) : 0;
  f->L = c->xtick_rotate ? fmax(70, fmin(200, 5.4 * (double)maxlen)) : 70;
  f->R = c->y2label ? f->W - 70 : f->W - 20;
  f->T = 40;
  f->B = f->H - 50 - rot - (c->legend_below ? 24 : 0);
  return f->B - f->T < 40 || f->R - f->L < 40 ? ECO_EINVAL : 0;
}

/* The axes' ranges from the finite data points; returns the smallest x spacing of the bar
 * series (data units), and their count in *nbars. */
static double fit_ranges(const eco_svg_chart *c, const eco_svg_series *s, size_t n, frame *f,
                         size_t *nbars) {
  range rx = {INFINITY, -INFINITY}, ry = {INFINITY, -INFINITY}, ry2 = {INFINITY, -INFINITY};
  double slot = INFINITY;
  *nbars = 0;
  for (size_t k = 0; k < n; k++) {
    *nbars += s[k].bars;
    for (size_t i = 0; i < s[k].n; i++) {
      double x = s[k].x[i], y = s[k].y[i];
      if (!isfinite(x) || !isfinite(y) || (c->xlog && !(x > 0))) continue;
      range *yr = s[k].right_axis ? &ry2 : &ry;
      rx.lo = fmin(rx.lo, x);
      rx.hi = fmax(rx.hi, x);
      yr->lo = fmin(yr->lo, y);
      yr->hi = fmax(yr->hi, y);
      if (s[k].bars && i > 0 && isfinite(s[k].x[i - 1]) && fabs(x - s[k].x[i - 1]) > 0)
        slot = fmin(slot, fabs(x - s[k].x[i - 1]));
    }
  }
  if (!isfinite(slot)) slot = 1;
  if (!isfinite(rx.lo)) rx = (range){0, 1};
  if (!isfinite(ry.lo)) ry = (range){0, 1};
  if (!isfinite(ry2.lo)) ry2 = (range){0, 1};
  ry.lo = fmin(ry.lo, 0);
  ry2.lo = fmin(ry2.lo, 0);
  if (c->ymax > 0) ry.hi = c->ymax;
  if (*nbars) { /* room for the outermost bars */
    rx.lo -= slot / 2;
    rx.hi += slot / 2;
  }
  if (c->xmax > c->xmin)
    f->rx = (range){c->xmin, c->xmax};
  else
    f->rx = *nbars ? rx : fit(rx, c->xlog);
  if (!(f->rx.hi > f->rx.lo)) f->rx.hi = f->rx.lo + 1;
  f->ry = fit(ry, false);
  if (c->ymax > 0 && c->ymax > f->ry.lo) f->ry.hi = c->ymax;
  f->ry2 = fit(ry2, false);
  return slot;
}

/* Text at (x, y) with extra attributes, escaped. */
static void text_at(eco_strbuf *sb, double x, double y, const char *attrs, const char *txt) {
  eco_sb_printf(sb, "<text x=\"%.0f\" y=\"%.0f\" %s>", x, y, attrs);
  esc(sb, txt);
  eco_sb_puts(sb, "</text>\n");
}

/* The frame: title, axes (the right one in its series' colour), plot box, axis labels. */
static void draw_frame(eco_strbuf *sb, const frame *f, const eco_svg_chart *c,
                       const eco_svg_series *s, size_t n) {
  eco_sb_printf(sb,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                f->W, f->H, f->W, f->H);
  eco_sb_printf(sb, "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", f->W / 2);
  esc(sb, c->title);
  eco_sb_puts(sb, "</text>\n");
  x_axis(sb, f, c);
  y_axis(sb, f, f->ry, false, "#000");
  if (c->y2label) {
    const char *col2 = "#888";
    for (size_t k = 0; k < n; k++)
      if (s[k].right_axis) {
        col2 = series_color(&s[k], k);
        break;
      }
    y_axis(sb, f, f->ry2, true, col2);
    eco_sb_printf(sb,
                  "<text transform=\"translate(%.0f,%.0f) rotate(90)\" text-anchor=\"middle\" "
                  "fill=\"%s\">",
                  f->W - 15, (f->T + f->B) / 2, col2);
    esc(sb, c->y2label);
    eco_sb_puts(sb, "</text>\n");
  }
  eco_sb_printf(sb,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                "stroke=\"#333\"/>\n",
                f->L, f->T, f->R - f->L, f->B - f->T);
  text_at(sb, (f->L + f->R) / 2, f->H - 12 - (c->legend_below ? 24 : 0), "text-anchor=\"middle\"",
          c->xlabel);
  eco_sb_printf(sb, "<text transform=\"translate(16,%.0f) rotate(-90)\" text-anchor=\"middle\">",
                (f->T + f->B) / 2);
  esc(sb, c->ylabel);
  eco_sb_puts(sb, "</text>\n");
}

int eco_svg_chart_write(eco_strbuf *sb, const eco_svg_chart *c, const eco_svg_series *s, size_t n) {
  if (!sb || validate(c, s, n)) return ECO_EINVAL;
  frame f;
  if (layout(c, &f)) return ECO_EINVAL;
  size_t nbars;
  double slot = fit_ranges(c, s, n, &f, &nbars);
  draw_frame(sb, &f, c, s, n);
  double slot_px = slot * (f.R - f.L) / (f.rx.hi - f.rx.lo);
  for (size_t k = 0, bi = 0; k < n; k++) {
    if (s[k].bars)
      bars(sb, &f, c, &s[k], series_color(&s[k], k), bi++, nbars, slot_px);
    else
      line(sb, &f, &s[k], series_color(&s[k], k));
  }
  markers(sb, &f, c);
  legend(sb, &f, c, s, n);
  if (c->note)
    text_at(sb, (f.L + f.R) / 2, (f.T + f.B) / 2, "text-anchor=\"middle\" fill=\"#555\"", c->note);
  eco_sb_puts(sb, "</svg>\n");
  return sb->oom ? ECO_ENOMEM : 0;
}

int eco_svg_bar_chart(eco_strbuf *sb, const eco_svg_bars *b) {
  if (!sb || !b || !b->values || b->n_groups == 0 || b->n_series == 0 ||
      b->n_series > SIZE_MAX / b->n_groups / sizeof(double))
    return ECO_EINVAL;
  size_t ng = b->n_groups, ns = b->n_series;
  double *xs = calloc(ng, sizeof *xs), *ys = calloc(ng * ns, sizeof *ys);
  eco_svg_series *s = calloc(ns, sizeof *s);
  int rc = ECO_ENOMEM;
  if (!xs || !ys || !s) goto fail;
  for (size_t g = 0; g < ng; g++)
    xs[g] = (double)g;
  for (size_t k = 0; k < ns; k++) {
    for (size_t g = 0; g < ng; g++) /* series-major copy of values[group][series] */
      ys[k * ng + g] = b->values[g * ns + k];
    s[k] = (eco_svg_series){.name = b->series_labels ? b->series_labels[k] : "",
                            .x = xs,
                            .y = ys + k * ng,
                            .n = ng,
                            .bars = true};
  }
  eco_svg_chart c = {.title = b->title,
                     .ylabel = b->y_label,
                     .width = 960,
                     .height = 500,
                     .ymax = b->y_max,
                     .xticks = xs,
                     .xtick_labels = b->group_labels,
                     .n_xticks = ng,
                     .xtick_rotate = true,
                     .bar_values = true,
                     .legend_below = true};
  rc = eco_svg_chart_write(sb, &c, s, ns);
fail:
  free(xs);
  free(ys);
  free(s);
  return rc;
}
