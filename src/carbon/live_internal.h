/* ecoinfer: the live carbon-intensity providers' shared state (live.c: the four APIs;
 * live_http.c: HTTP, auth, retries and the backoff gate). Carbon module files only. */
#ifndef ECO_CARBON_LIVE_INTERNAL_H
#define ECO_CARBON_LIVE_INTERNAL_H

#include "carbon/intensity.h"

#include <jansson.h>
#include <pthread.h>

#define LIVE_MAX_BODY (16u * 1024u * 1024u)

/* Which API a provider speaks. */
typedef enum { K_EMAPS, K_WATTTIME, K_UKCI, K_CASDK } live_kind;

typedef struct live {
  eco_intensity_provider base;
  live_kind kind;
  eco_live_opts o; /* strings below are owned copies */
  char *base_url, *token, *username, *password, *emission_factor;
  pthread_mutex_t mu;
  int fails;         /* consecutive failed calls */
  double retry_at;   /* no network before this clock time, epoch s */
  char bearer[2048]; /* WattTime token from /login */
} live;

/* The provider's clock: o.clock when set, else the wall clock, epoch s. */
double eco_live_now(const live *L);

/* GET base_url + path_query and parse its JSON into *out. Applies the backoff gate, the
 * provider's auth (WattTime: log in, and again once when the token expired), in-call retries
 * and the mapping of HTTP statuses to ECO_E* codes. Thread-safe. */
int eco_live_fetch_json(live *L, const char *path_query, json_t **out, eco_error *err);

#endif
