/* ecoinfer simulator: SVG chart writer (see svg.h). */
#include "sim/svg.h"

#include "util/status.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const colors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                     "#66a61e", "#e6ab02", "#a6761d", "#666666"};
#define NCOLORS (sizeof colors / sizeof colors[0])

typedef struct range {
  double lo, hi;
} range;

static void esc(eco_strbuf *sb, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '<': eco_sb_puts(sb, "&lt;"); break;
    case '>': eco_sb_puts(sb, "&gt;"); break;
    case '&': eco_sb_puts(sb, "&amp;"); break;
    case '"': eco_sb_puts(sb, "&quot;"); break;
    default: eco_sb_append(sb, s, 1);
    }
  }
}

/* A "nice" tick step for a span. */
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
  if (!(r.hi > r.lo)) {
    r.hi = r.lo + 1;
  }
  double st = nice_step(r.hi - r.lo, 5);
  r.lo = floor(r.lo / st) * st;
  r.hi = ceil(r.hi / st) * st;
  return r;
}

static double map(double v, range r, bool logscale, double a, double b) {
  double f = logscale ? (log10(v) - log10(r.lo)) / (log10(r.hi) - log10(r.lo))
                      : (v - r.lo) / (r.hi - r.lo);
  return a + f * (b - a);
}

static void fmt_num(char *buf, size_t cap, double v) {
  double a = fabs(v);
  if (a != 0 && (a >= 1e5 || a < 1e-3))
    snprintf(buf, cap, "%.0e", v);
  else
    snprintf(buf, cap, "%g", v);
}

int eco_svg_chart_write(eco_strbuf *sb, const eco_svg_chart *c, const eco_svg_series *s, size_t n) {
  if (!sb || !c || (!s && n)) return ECO_EINVAL;
  double W = c->width > 0 ? c->width : 720, H = c->height > 0 ? c->height : 420;
  double L = 70, R = c->y2label ? W - 70 : W - 20, T = 40, B = H - 50;
  range rx = {INFINITY, -INFINITY}, ry = {INFINITY, -INFINITY}, ry2 = {INFINITY, -INFINITY};
  for (size_t k = 0; k < n; k++)
    for (size_t i = 0; i < s[k].n; i++) {
      double x = s[k].x[i], y = s[k].y[i];
      if (!isfinite(x) || !isfinite(y) || (c->xlog && !(x > 0))) continue;
      range *yr = s[k].right_axis ? &ry2 : &ry;
      if (x < rx.lo) rx.lo = x;
      if (x > rx.hi) rx.hi = x;
      if (y < yr->lo) yr->lo = y;
      if (y > yr->hi) yr->hi = y;
    }
  if (!isfinite(rx.lo)) rx = (range){0, 1};
  if (!isfinite(ry.lo)) ry = (range){0, 1};
  if (!isfinite(ry2.lo)) ry2 = (range){0, 1};
  if (ry.lo > 0) ry.lo = 0;
  if (ry2.lo > 0) ry2.lo = 0;
  rx = fit(rx, c->xlog);
  ry = fit(ry, false);
  ry2 = fit(ry2, false);
  eco_sb_printf(sb,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  eco_sb_printf(sb, "<text x=\"%.0f\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">", W / 2);
  esc(sb, c->title);
  eco_sb_puts(sb, "</text>\n");
  /* grid and ticks */
  char buf[32];
  if (c->xlog) {
    for (int k = 0; k < 40; k++) {
      double v = rx.lo * pow(10, k);
      if (v > rx.hi * 1.0001) break;
      double px = map(v, rx, true, L, R);
      fmt_num(buf, sizeof buf, v);
      eco_sb_printf(sb,
                    "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
                    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                    px, T, px, B, px, B + 16, buf);
    }
  } else {
    double st = nice_step(rx.hi - rx.lo, 6);
    for (int k = 0; k < 1000; k++) {
      double v = rx.lo + k * st;
      if (v > rx.hi + st * 1e-6) break;
      double px = map(v, rx, false, L, R);
      fmt_num(buf, sizeof buf, v);
      eco_sb_printf(sb,
                    "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"#ddd\"/>"
                    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
                    px, T, px, B, px, B + 16, buf);
    }
  }
  double st = nice_step(ry.hi - ry.lo, 5);
  for (int k = 0; k < 1000; k++) {
    double v = ry.lo + k * st;
    if (v > ry.hi + st * 1e-6) break;
    double py = map(v, ry, false, B, T);
    fmt_num(buf, sizeof buf, v);
    eco_sb_printf(sb,
                  "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  L, py, R, py, L - 5, py + 4, buf);
  }
  if (c->y2label) {
    double st2 = nice_step(ry2.hi - ry2.lo, 5);
    for (int k = 0; k < 1000; k++) {
      double v = ry2.lo + k * st2;
      if (v > ry2.hi + st2 * 1e-6) break;
      double py = map(v, ry2, false, B, T);
      fmt_num(buf, sizeof buf, v);
      eco_sb_printf(sb, "<text x=\"%.0f\" y=\"%.1f\" fill=\"#888\">%s</text>\n", R + 5, py + 4,
                    buf);
    }
    eco_sb_printf(sb,
                  "<text transform=\"translate(%.0f,%.0f) rotate(90)\" text-anchor=\"middle\" "
                  "fill=\"#888\">",
                  W - 15, (T + B) / 2);
    esc(sb, c->y2label);
    eco_sb_puts(sb, "</text>\n");
  }
  eco_sb_printf(sb,
                "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
                "stroke=\"#333\"/>\n",
                L, T, R - L, B - T);
  eco_sb_printf(sb, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", (L + R) / 2, H - 12);
  esc(sb, c->xlabel);
  eco_sb_puts(sb, "</text>\n");
  eco_sb_printf(sb, "<text transform=\"translate(16,%.0f) rotate(-90)\" text-anchor=\"middle\">",
                (T + B) / 2);
  esc(sb, c->ylabel);
  eco_sb_puts(sb, "</text>\n");
  /* series */
  for (size_t k = 0; k < n; k++) {
    const char *col = s[k].right_axis ? "#999" : colors[k % NCOLORS];
    range yr = s[k].right_axis ? ry2 : ry;
    if (s[k].points) {
      for (size_t i = 0; i < s[k].n; i++) {
        if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) continue;
        eco_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"5\" fill=\"%s\"/>\n",
                      map(s[k].x[i], rx, c->xlog, L, R), map(s[k].y[i], yr, false, B, T), col);
      }
    } else {
      eco_sb_printf(sb, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s points=\"",
                    col, s[k].dashed ? " stroke-dasharray=\"5,3\"" : "");
      for (size_t i = 0; i < s[k].n; i++) {
        if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i]) || (c->xlog && !(s[k].x[i] > 0))) continue;
        eco_sb_printf(sb, "%.1f,%.1f ", map(s[k].x[i], rx, c->xlog, L, R),
                      map(s[k].y[i], yr, false, B, T));
      }
      eco_sb_puts(sb, "\"/>\n");
    }
    /* legend */
    double ly = T + 14 + 16.0 * (double)k;
    eco_sb_printf(sb,
                  "<rect x=\"%.0f\" y=\"%.0f\" width=\"12\" height=\"4\" fill=\"%s\"/>"
                  "<text x=\"%.0f\" y=\"%.0f\">",
                  L + 10, ly - 4, col, L + 26, ly);
    esc(sb, s[k].name);
    eco_sb_puts(sb, "</text>\n");
  }
  eco_sb_puts(sb, "</svg>\n");
  return sb->oom ? ECO_ENOMEM : 0;
}
