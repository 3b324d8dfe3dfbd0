/* ecoinfer simulator: a small SVG chart writer (line charts and scatter
 * plots with axes, ticks and a legend). No dependencies; text output into
 * an eco_strbuf. */
#ifndef ECO_SIM_SVG_H
#define ECO_SIM_SVG_H

#include "util/strbuf.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct eco_svg_series {
  const char *name;
  const double *x, *y;
  size_t n;
  bool right_axis; /* plot against the right-hand y axis */
  bool points;     /* draw markers instead of a line */
  bool dashed;
} eco_svg_series;

typedef struct eco_svg_chart {
  const char *title;
  const char *xlabel, *ylabel, *y2label; /* y2label: right axis, or NULL */
  double width, height;                  /* px */
  bool xlog;                             /* logarithmic x axis */
} eco_svg_chart;

/* Appends a complete SVG document. Returns 0 or ECO_ENOMEM / ECO_EINVAL. */
int eco_svg_chart_write(eco_strbuf *sb, const eco_svg_chart *c, const eco_svg_series *s, size_t n);

#endif
