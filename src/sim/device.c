/* ecoinfer simulator: device profiles (see device.h). */
#include "sim/device.h"

#include "carbon/sci.h"
#include "util/config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const top_keys[] = {"device", "provenance"};
static const char *const dev_keys[] = {
    "name",           "description", "memory_gb", "usable_memory_gb", "idle_w",     "embodied_kg",
    "lifetime_years", "max_batch",   "model",     "points",           "provenance", "notes"};
static const char *const model_keys[] = {"name", "weights_gb", "kv_bytes_per_token", "source"};
static const char *const point_keys[] = {"batch", "prefill_tok_s", "decode_tok_s", "power_w",
                                         "source"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

int eco_sim_device_validate(const eco_sim_device *dev, eco_error *err) {
  if (dev->n_points == 0)
    return eco_error_set(err, ECO_EINVAL, "device '%s': no rate points", dev->name);
  for (size_t i = 0; i < dev->n_points; i++) {
    if (dev->batch[i] < 1 || (i > 0 && dev->batch[i] <= dev->batch[i - 1]))
      return eco_error_set(err, ECO_EINVAL, "device '%s': batch sizes must increase from >= 1",
                           dev->name);
    if (!(dev->prefill_tok_s[i] > 0) || !(dev->decode_tok_s[i] > 0) || !(dev->power_w[i] >= 0) ||
        !isfinite(dev->prefill_tok_s[i]) || !isfinite(dev->decode_tok_s[i]) ||
        !isfinite(dev->power_w[i]))
      return eco_error_set(err, ECO_EINVAL,
                           "device '%s': point %zu needs positive rates and power >= 0", dev->name,
                           i);
  }
  if (dev->max_batch < 1)
    return eco_error_set(err, ECO_EINVAL, "device '%s': max_batch must be >= 1", dev->name);
  if (!(dev->usable_mem_bytes > 0) || dev->weights_bytes < 0 || dev->kv_bytes_per_token < 0)
    return eco_error_set(err, ECO_EINVAL, "device '%s': bad memory figures", dev->name);
  if (dev->idle_w < 0 || dev->embodied.total_g < 0 || !(dev->embodied.lifetime_s > 0))
    return eco_error_set(err, ECO_EINVAL, "device '%s': bad idle power, embodied or lifetime",
                         dev->name);
  return 0;
}

static int load_cfg(eco_cfg *cfg, eco_sim_device *dev, eco_error *err) {
  memset(dev, 0, sizeof *dev);
  const eco_cfg_node *d = eco_cfg_find(cfg, NULL, "device");
  int rc = eco_cfg_check_keys(cfg, eco_cfg_find(cfg, NULL, ""), top_keys, NKEYS(top_keys), err);
  if (rc) return rc;
  if (!d || d->kind != ECO_CFG_MAP)
    return eco_error_set(err, ECO_ECONFIG, "%s: missing 'device' map", eco_cfg_source(cfg));
  if ((rc = eco_cfg_check_keys(cfg, d, dev_keys, NKEYS(dev_keys), err))) return rc;
  const char *name;
  double mem_gb, usable_gb, life_y, emb_kg, w_gb, kv;
  int64_t maxb;
  if ((rc = eco_cfg_str(cfg, d, "name", NULL, &name, err))) return rc;
  if (!name) return eco_error_set(err, ECO_ECONFIG, "%s: device.name missing", eco_cfg_source(cfg));
  snprintf(dev->name, sizeof dev->name, "%s", name);
  if ((rc = eco_cfg_double(cfg, d, "memory_gb", 0, &mem_gb, err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "usable_memory_gb", mem_gb, &usable_gb, err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "idle_w", 0, &dev->idle_w, err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "embodied_kg", 0, &emb_kg, err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "lifetime_years", 5, &life_y, err))) return rc;
  if ((rc = eco_cfg_int(cfg, d, "max_batch", 16, &maxb, err))) return rc;
  const eco_cfg_node *m = eco_cfg_find(cfg, d, "model");
  if ((rc = eco_cfg_check_keys(cfg, m, model_keys, NKEYS(model_keys), err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "model.weights_gb", 0, &w_gb, err))) return rc;
  if ((rc = eco_cfg_double(cfg, d, "model.kv_bytes_per_token", 0, &kv, err))) return rc;
  dev->usable_mem_bytes = usable_gb * 1e9;
  dev->weights_bytes = w_gb * 1e9;
  dev->kv_bytes_per_token = kv;
  dev->embodied = (eco_embodied){
      .total_g = emb_kg * 1000.0, .lifetime_s = life_y * ECO_SECONDS_PER_YEAR, .share = 1};
  dev->max_batch = maxb > 1000000 ? 1000000 : (int)maxb;
  const eco_cfg_node *pts = eco_cfg_find(cfg, d, "points");
  if (!pts || pts->kind != ECO_CFG_SEQ)
    return eco_error_set(err, ECO_ECONFIG, "%s: device.points must be a list", eco_cfg_source(cfg));
  if (pts->n_items > ECO_SIM_DEV_MAX_POINTS)
    return eco_error_set(err, ECO_ECONFIG, "%s: at most %d points", eco_cfg_source(cfg),
                         ECO_SIM_DEV_MAX_POINTS);
  for (size_t i = 0; i < pts->n_items; i++) {
    const eco_cfg_node *p = pts->items[i];
    if ((rc = eco_cfg_check_keys(cfg, p, point_keys, NKEYS(point_keys), err))) return rc;
    int64_t b;
    if ((rc = eco_cfg_int(cfg, p, "batch", 0, &b, err))) return rc;
    dev->batch[i] = b > 1000000 ? 1000000 : (int)b;
    if ((rc = eco_cfg_double(cfg, p, "prefill_tok_s", 0, &dev->prefill_tok_s[i], err))) return rc;
    if ((rc = eco_cfg_double(cfg, p, "decode_tok_s", 0, &dev->decode_tok_s[i], err))) return rc;
    if ((rc = eco_cfg_double(cfg, p, "power_w", -1, &dev->power_w[i], err))) return rc;
  }
  dev->n_points = pts->n_items;
  rc = eco_sim_device_validate(dev, err);
  if (rc) eco_error_prefix(err, "%s", eco_cfg_source(cfg));
  return rc;
}

int eco_sim_device_load(const char *path, eco_sim_device *dev, eco_error *err) {
  eco_cfg *cfg = NULL;
  int rc = eco_cfg_load_file(path, &cfg, err);
  if (rc) return rc;
  eco_cfg_use_env(cfg, false);
  rc = load_cfg(cfg, dev, err);
  eco_cfg_free(cfg);
  return rc;
}

int eco_sim_device_load_string(const char *text, const char *name, eco_sim_device *dev,
                               eco_error *err) {
  eco_cfg *cfg = NULL;
  int rc = eco_cfg_load_string(text, name, &cfg, err);
  if (rc) return rc;
  eco_cfg_use_env(cfg, false);
  rc = load_cfg(cfg, dev, err);
  eco_cfg_free(cfg);
  return rc;
}

static double json_num(const json_t *o, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const json_t *v = json_object_get(o, keys[i]);
    if (v && json_is_number(v)) return json_number_value(v);
  }
  return NAN;
}

int eco_sim_device_import_bench(const char *path, eco_sim_device *dev, eco_error *err) {
  json_error_t je;
  json_t *root = json_load_file(path, 0, &je);
  if (!root) return eco_error_set(err, ECO_EFORMAT, "%s:%d: %s", path, je.line, je.text);
  int rc = 0;
  const json_t *arr = json_is_array(root) ? root : json_object_get(root, "results");
  if (!arr || !json_is_array(arr) || json_array_size(arr) == 0 ||
      json_array_size(arr) > ECO_SIM_DEV_MAX_POINTS) {
    rc = eco_error_set(err, ECO_EFORMAT, "%s: expected a 'results' list of 1..%d entries", path,
                       ECO_SIM_DEV_MAX_POINTS);
    goto fail;
  }
  static const char *const kb[] = {"batch", "batch_size"};
  static const char *const kp[] = {"prefill_tok_s", "prompt_tok_s"};
  static const char *const kd[] = {"decode_tok_s", "gen_tok_s", "tokens_per_s"};
  static const char *const kw[] = {"power_w", "avg_power_w"};
  eco_sim_device tmp = *dev;
  size_t n = json_array_size(arr);
  for (size_t i = 0; i < n; i++) {
    const json_t *o = json_array_get(arr, i);
    double b = json_num(o, kb, 2), p = json_num(o, kp, 2), d = json_num(o, kd, 3),
           w = json_num(o, kw, 2);
    if (!isfinite(b) || !isfinite(p) || !isfinite(d) || !isfinite(w) || b < 1 || b > 1e6) {
      rc = eco_error_set(err, ECO_EFORMAT,
                         "%s: result %zu needs batch, prefill_tok_s, decode_tok_s, power_w", path,
                         i);
      goto fail;
    }
    tmp.batch[i] = (int)b;
    tmp.prefill_tok_s[i] = p;
    tmp.decode_tok_s[i] = d;
    tmp.power_w[i] = w;
  }
  tmp.n_points = n;
  const json_t *nm = json_is_object(root) ? json_object_get(root, "device") : NULL;
  if (nm && json_is_string(nm)) snprintf(tmp.name, sizeof tmp.name, "%s", json_string_value(nm));
  if ((rc = eco_sim_device_validate(&tmp, err))) goto fail;
  *dev = tmp;
fail:
  json_decref(root);
  return rc;
}

void eco_sim_device_at(const eco_sim_device *dev, int b, double *prefill_tok_s,
                       double *decode_tok_s, double *power_w) {
  size_t n = dev->n_points;
  size_t i = 0;
  if (b <= dev->batch[0] || n == 1) {
    i = 0;
  } else if (b >= dev->batch[n - 1]) {
    i = n - 1;
  } else {
    while (i + 1 < n && dev->batch[i + 1] < b)
      i++;
    /* batch[i] < b <= batch[i+1] */
    double f = (double)(b - dev->batch[i]) / (double)(dev->batch[i + 1] - dev->batch[i]);
    *prefill_tok_s =
        dev->prefill_tok_s[i] + f * (dev->prefill_tok_s[i + 1] - dev->prefill_tok_s[i]);
    *decode_tok_s = dev->decode_tok_s[i] + f * (dev->decode_tok_s[i + 1] - dev->decode_tok_s[i]);
    *power_w = dev->power_w[i] + f * (dev->power_w[i + 1] - dev->power_w[i]);
    return;
  }
  *prefill_tok_s = dev->prefill_tok_s[i];
  *decode_tok_s = dev->decode_tok_s[i];
  *power_w = dev->power_w[i];
}

double eco_sim_device_mem_need(const eco_sim_device *dev, double tokens) {
  return dev->weights_bytes + dev->kv_bytes_per_token * tokens;
}
