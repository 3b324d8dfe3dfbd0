/* ecoinfer: per-request energy bookkeeping on one device, for the server.
 *
 * The engine reports each request's progress (tokens processed, busy time)
 * as it happens; settle() closes an interval: it takes the meter's energy
 * since the previous settle and splits it among the requests that made
 * progress in that interval with eco_attribute() (the one rule, see
 * attribute.h). end() settles and hands back the request's total joules.
 * Energy of intervals in which nothing ran is added to the idle total.
 *
 *   eco_tracker_begin(t, id);
 *   ... eco_tracker_progress(t, id, prompt_tokens, output_tokens, busy_s) per step ...
 *   eco_tracker_end(t, id, &joules, &src);   // -> eco_receipt_build()
 *
 * Thread-safe (the engine thread reports, server threads begin/end). The
 * *_at variants take the meter total and the time from the caller, so
 * tests drive them with hand-written numbers. */
#ifndef ECO_ENERGY_TRACKER_H
#define ECO_ENERGY_TRACKER_H

#include "energy/attribute.h"
#include "energy/meter.h"
#include "util/status.h"

#include <stdint.h>

typedef struct eco_tracker eco_tracker;

/* meter may be NULL when only the *_at variants are used. The meter is
 * not owned. */
int eco_tracker_new(eco_meter *meter, const eco_attr_cfg *cfg, eco_tracker **out, eco_error *err);
void eco_tracker_free(eco_tracker *t);

/* A request starts holding the device. ECO_EBUSY if id is already active. */
int eco_tracker_begin(eco_tracker *t, uint64_t id);
/* Work done by request id since its previous report (tokens, s). */
int eco_tracker_progress(eco_tracker *t, uint64_t id, double prompt_tokens, double output_tokens,
                         double busy_s);
/* Closes the interval at meter total meter_j (J) and time now_s (s). */
int eco_tracker_settle_at(eco_tracker *t, double meter_j, double now_s);
/* Reads the meter and settles. */
int eco_tracker_settle(eco_tracker *t);
/* Settles, removes id, returns its joules (IT, before PUE) and the meter's
 * source. ECO_ENOENT for an unknown id. */
int eco_tracker_end_at(eco_tracker *t, uint64_t id, double meter_j, double now_s, double *joules);
int eco_tracker_end(eco_tracker *t, uint64_t id, double *joules, eco_energy_source *src);

/* Energy no request received so far, J; and the number of active requests. */
double eco_tracker_idle_j(eco_tracker *t);
size_t eco_tracker_active(eco_tracker *t);

#endif
