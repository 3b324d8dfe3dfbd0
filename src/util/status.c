#include "util/status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *eco_strerror(int code) {
  switch (code) {
  case ECO_OK: return "success";
  case ECO_EINVAL: return "invalid argument";
  case ECO_ENOMEM: return "out of memory";
  case ECO_EIO: return "input/output error";
  case ECO_ENOENT: return "not found";
  case ECO_EACCES: return "permission denied";
  case ECO_EFORMAT: return "malformed data";
  case ECO_ERANGE: return "value out of range";
  case ECO_EUNSUPPORTED: return "not supported";
  case ECO_ECONFIG: return "configuration error";
  case ECO_EBUSY: return "busy, try again later";
  case ECO_ETIMEOUT: return "timed out";
  case ECO_ENET: return "network error";
  case ECO_EHTTP: return "HTTP error from peer";
  case ECO_ECANCELED: return "canceled";
  case ECO_ENOTIMPL: return "not implemented yet";
  case ECO_EOVERFLOW: return "size or arithmetic overflow";
  case ECO_ESTATE: return "invalid state for this call";
  case ECO_EAGAIN: return "no data yet, try again";
  case ECO_EINTERNAL: return "internal error";
  case ECO_ECONTEXT: return "context length exceeded";
  case ECO_ENUMERIC: return "the model produced non-finite values (NaN or infinity)";
  default: return "unknown error";
  }
}

int eco_status_from_errno(int err) {
  switch (err) {
  case 0: return ECO_OK;
  case ENOMEM: return ECO_ENOMEM;
  case ENOENT:
  case ENOTDIR: return ECO_ENOENT;
  case EACCES:
  case EPERM: return ECO_EACCES;
  case EINVAL: return ECO_EINVAL;
  case ERANGE: return ECO_ERANGE;
  case EOVERFLOW:
  case EFBIG: return ECO_EOVERFLOW;
  case ETIMEDOUT: return ECO_ETIMEOUT;
  case EAGAIN: return ECO_EAGAIN;
  case EBUSY: return ECO_EBUSY;
  case ECONNREFUSED:
  case ECONNRESET:
  case EHOSTUNREACH:
  case ENETUNREACH:
  case EPIPE: return ECO_ENET;
  case ECANCELED: return ECO_ECANCELED;
  default: return ECO_EIO;
  }
}

int eco_error_set(eco_error *e, int code, const char *fmt, ...) {
  if (!e) return code;
  e->code = code;
  if (!fmt) {
    e->msg[0] = '\0';
    return code;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

void eco_error_prefix(eco_error *e, const char *fmt, ...) {
  if (!e) return;
  char pre[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  char old[sizeof e->msg];
  memcpy(old, e->msg, sizeof old);
  if (old[0])
    snprintf(e->msg, sizeof e->msg, "%s: %s", pre, old);
  else
    snprintf(e->msg, sizeof e->msg, "%s: %s", pre, eco_strerror(e->code));
}

const char *eco_error_text(const eco_error *e) {
  if (!e) return "unknown error";
  return e->msg[0] ? e->msg : eco_strerror(e->code);
}
