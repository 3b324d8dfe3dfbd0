/* ecoinfer: a small SVG chart writer, the one used by every figure (simulator
 * plots, sim shift bar charts, bench batch, report --svg). Line, scatter and
 * bar series on linear or log x axes, an optional right-hand y axis, x tick
 * labels from numbers, a label array or a callback, vertical marker lines and
 * a legend. Pure text output appended to an eco_strbuf; all text is XML
 * escaped. No dependencies, no I/O. */
#ifndef ECO_UTIL_SVG_H
#define ECO_UTIL_SVG_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_svg_series {
  const char *name;        /* legend text */
  const double *x, *y;     /* [n] data units; non-finite points are skipped */
  size_t n;                /* points */
  bool right_axis;         /* plot against the right-hand y axis */
  bool points;             /* draw markers instead of a line */
  bool dashed;             /* dashed line */
  bool bars;               /* bars from y = 0 at each x (linear x axis only);
                              several bar series sit side by side */
  const char *color;       /* "#rrggbb", or NULL for the palette */
  const char *const *tips; /* [n] hover text per point/bar, or NULL */
} eco_svg_series;

/* A dashed vertical line across the plot at x, labelled at its top. */
typedef struct eco_svg_marker {
  double x;          /* data units */
  const char *label; /* or NULL */
} eco_svg_marker;

/* Formats the x tick at v into buf (NUL-terminated, at most cap bytes).
 * Returns 0, or nonzero to leave that tick unlabelled. */
typedef int (*eco_svg_tick_fn)(double v, char *buf, size_t cap, void *ctx);

typedef struct eco_svg_chart {
  const char *title;
  const char *xlabel, *ylabel, *y2label; /* y2label: right axis, or NULL */
  double width, height;                  /* px; <= 0: 720 x 420 */
  bool xlog;                             /* logarithmic x axis (decade ticks) */
  double xmin, xmax;                     /* x axis range, data units; used when xmax > xmin,
                                            else fitted to the data */
  double ymax;                           /* left y axis top, data units; <= 0: from the data */
  /* explicit x ticks: when xticks is non-NULL they replace the automatic
   * ones (n_xticks may be 0: no ticks); positions [n_xticks] and labels
   * [n_xticks] (NULL: formatted numbers); labels are thinned to every k-th
   * when they would overlap */
  const double *xticks;
  const char *const *xtick_labels;
  size_t n_xticks;
  eco_svg_tick_fn xtick_fmt;     /* labels of the automatic or explicit ticks
                                    without a label array; NULL: %g */
  void *xtick_ctx;               /* passed to xtick_fmt */
  bool xtick_rotate;             /* slant x tick labels (long dates, names) */
  const eco_svg_marker *markers; /* [n_markers] vertical marker lines */
  size_t n_markers;
  bool bar_values;   /* print each bar's value above it */
  bool legend_below; /* legend in a row under the axis, not inside the plot */
  const char *note;  /* text in the middle of the plot (e.g. "no data"), or NULL */
} eco_svg_chart;

/* Appends a complete SVG document. n >= 1 series; a series with n > 0 points
 * needs x and y. Returns 0, ECO_EINVAL (no series, NULL data, bad size or
 * range, bars on a log axis) or ECO_ENOMEM. */
int eco_svg_chart_write(eco_strbuf *sb, const eco_svg_chart *c, const eco_svg_series *s, size_t n);

/* A grouped bar chart: one group per x-axis label, one bar per series in
 * each group (drawn with eco_svg_chart_write). */
typedef struct eco_svg_bars {
  const char *title, *y_label;      /* text */
  size_t n_groups, n_series;        /* values[group][series] */
  const char *const *group_labels;  /* [n_groups] x-axis groups, or NULL */
  const char *const *series_labels; /* [n_series] legend, or NULL */
  const double *values;             /* [n_groups * n_series] */
  double y_max;                     /* axis top; <= 0: from the data */
} eco_svg_bars;

/* Appends a grouped bar chart (960 x 500 px). Returns 0, ECO_EINVAL (no
 * groups, series or values) or ECO_ENOMEM. */
int eco_svg_bar_chart(eco_strbuf *sb, const eco_svg_bars *b);

#endif
