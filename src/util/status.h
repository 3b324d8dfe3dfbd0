/* ecoinfer: result codes.
 *
 * Every fallible function returns 0 (ECO_OK) or one of the negative codes
 * below. eco_strerror() gives a short text for a code. Where a caller needs
 * more than the code (which key, which byte offset), functions take an
 * optional eco_error * that receives a formatted message as well.
 */
#ifndef ECO_UTIL_STATUS_H
#define ECO_UTIL_STATUS_H

#include <stddef.h>

typedef enum eco_status {
  ECO_OK = 0,
  ECO_EINVAL = -1,       /* invalid argument */
  ECO_ENOMEM = -2,       /* out of memory or over a memory budget */
  ECO_EIO = -3,          /* read/write failed */
  ECO_ENOENT = -4,       /* no such file, key or object */
  ECO_EACCES = -5,       /* permission denied */
  ECO_EFORMAT = -6,      /* malformed input data */
  ECO_ERANGE = -7,       /* value out of range */
  ECO_EUNSUPPORTED = -8, /* valid but not supported (architecture, type) */
  ECO_ECONFIG = -9,      /* configuration error */
  ECO_EBUSY = -10,       /* queue full / resource busy: retry later */
  ECO_ETIMEOUT = -11,    /* timed out */
  ECO_ENET = -12,        /* network / connection error */
  ECO_EHTTP = -13,       /* HTTP error status from a peer */
  ECO_ECANCELED = -14,   /* canceled by the caller */
  ECO_ENOTIMPL = -15,    /* not implemented yet */
  ECO_EOVERFLOW = -16,   /* arithmetic overflow or size limit */
  ECO_ESTATE = -17,      /* call not valid in the object's current state */
  ECO_EAGAIN = -18,      /* no data yet: try again */
  ECO_EINTERNAL = -19,   /* internal invariant broken (a bug) */
  ECO_ECONTEXT = -20,    /* context length exceeded */
  ECO_ENUMERIC = -21,    /* a computation gave NaN or infinity (a broken model file) */
} eco_status;

/* Short English text for a result code; never NULL. */
const char *eco_strerror(int code);

/* Maps an errno value to the closest eco_status. */
int eco_status_from_errno(int err);

/* A code plus a human-readable message, for errors that need detail
 * ("tensor 'blk.0.attn_q.weight': offset 123 past end of file"). */
typedef struct eco_error {
  int code;      /* eco_status */
  char msg[512]; /* NUL-terminated message, "" if none */
} eco_error;

/* Records code and message in *e (if e is non-NULL) and returns code, so
 * that callers can write: return eco_error_set(e, ECO_EFORMAT, "..."). */
int eco_error_set(eco_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the message already in e with "prefix: ". */
void eco_error_prefix(eco_error *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message if set, else eco_strerror(code). */
const char *eco_error_text(const eco_error *e);

#endif
