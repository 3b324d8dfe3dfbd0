/* ecoinfer: a minimal SVG grouped bar chart for the sim shift figures. */
#include "sim/shift.h"

#include "util/strbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void esc(eco_strbuf *sb, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&': eco_sb_puts(sb, "&amp;"); break;
    case '<': eco_sb_puts(sb, "&lt;"); break;
    case '>': eco_sb_puts(sb, "&gt;"); break;
    case '"': eco_sb_puts(sb, "&quot;"); break;
    default: eco_sb_append(sb, s, 1);
    }
  }
}

static const char *const PALETTE[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                      "#66a61e", "#e6ab02", "#a6761d", "#666666"};

int eco_svg_bar_chart(const eco_svg_bars *b, char **out, eco_error *err) {
  if (!b || !out || !b->values || b->n_groups == 0 || b->n_series == 0)
    return eco_error_set(err, ECO_EINVAL, "svg: empty chart");
  *out = NULL;
  double lo = 0, hi = b->y_max;
  for (size_t i = 0; i < b->n_groups * b->n_series; i++) {
    double v = b->values[i];
    if (!isfinite(v)) continue;
    if (b->y_max <= 0 && v > hi) hi = v;
    if (v < lo) lo = v;
  }
  if (hi <= lo) hi = lo + 1;
  /* a "nice" tick step: 1, 2 or 5 x 10^k giving 4..10 ticks */
  double span = hi - lo, step = pow(10, floor(log10(span)));
  if (span / step < 4) step /= 2;
  if (span / step < 4) step /= 2.5;
  hi = ceil(hi / step) * step;
  lo = floor(lo / step) * step;
  span = hi - lo;
  const double W = 960, H = 500, L = 70, R = 20, T = 50, B = 140;
  double pw = W - L - R, ph = H - T - B, gw = pw / (double)b->n_groups;
  double bw = gw * 0.8 / (double)b->n_series;
  eco_strbuf sb;
  eco_sb_init(&sb);
  eco_sb_printf(&sb,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  eco_sb_printf(&sb, "<text x=\"%.1f\" y=\"24\" font-size=\"16\" text-anchor=\"middle\">", W / 2);
  esc(&sb, b->title);
  eco_sb_puts(&sb, "</text>\n");
  /* y grid and labels */
  int n_ticks = (int)floor(span / step + 0.5);
  for (int t = 0; t <= n_ticks; t++) {
    double v = lo + step * t;
    double y = T + ph * (1 - (v - lo) / span);
    eco_sb_printf(&sb,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                  L, W - R, y, y, fabs(v) < step * 1e-6 ? "#000" : "#ddd", L - 6, y + 4,
                  fabs(v) < step * 1e-6 ? 0.0 : v);
  }
  eco_sb_printf(&sb, "<text transform=\"translate(18 %.1f) rotate(-90)\" text-anchor=\"middle\">",
                T + ph / 2);
  esc(&sb, b->y_label);
  eco_sb_puts(&sb, "</text>\n");
  double y0 = T + ph * (1 - (0 - lo) / span);
  for (size_t g = 0; g < b->n_groups; g++) {
    double gx = L + gw * (double)g + gw * 0.1;
    for (size_t k = 0; k < b->n_series; k++) {
      double v = b->values[g * b->n_series + k];
      if (!isfinite(v)) continue;
      double y = T + ph * (1 - (v - lo) / span);
      double x = gx + bw * (double)k;
      eco_sb_printf(&sb,
                    "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                    "<title>%.1f</title></rect>\n",
                    x, v >= 0 ? y : y0, bw * 0.92, fabs(y - y0),
                    PALETTE[k % (sizeof PALETTE / sizeof PALETTE[0])], v);
      eco_sb_printf(&sb,
                    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"9\" text-anchor=\"middle\">%.0f"
                    "</text>\n",
                    x + bw * 0.46, (v >= 0 ? y : y0) - 3, v);
    }
    eco_sb_printf(&sb,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" "
                  "transform=\"rotate(-35 %.1f %.1f)\">",
                  L + gw * ((double)g + 0.5), T + ph + 16, L + gw * ((double)g + 0.5), T + ph + 16);
    esc(&sb, b->group_labels ? b->group_labels[g] : "");
    eco_sb_puts(&sb, "</text>\n");
  }
  /* legend */
  for (size_t k = 0; k < b->n_series; k++) {
    double x = L + 10 + (double)k * ((W - L - R) / (double)b->n_series);
    eco_sb_printf(&sb,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\">",
                  x, H - 22, PALETTE[k % (sizeof PALETTE / sizeof PALETTE[0])], x + 16, H - 12);
    esc(&sb, b->series_labels ? b->series_labels[k] : "");
    eco_sb_puts(&sb, "</text>\n");
  }
  eco_sb_puts(&sb, "</svg>\n");
  if (sb.oom) {
    eco_sb_free(&sb);
    return eco_error_set(err, ECO_ENOMEM, "svg: out of memory");
  }
  *out = sb.data ? sb.data : strdup("");
  return *out ? 0 : eco_error_set(err, ECO_ENOMEM, "svg: out of memory");
}
