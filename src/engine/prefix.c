/* ecoinfer: the engine's prefix cache (see prefix.h). */
#include "engine/prefix.h"

#include "util/status.h"

#include <stdlib.h>
#include <string.h>

struct eco_prefix_block {
  uint64_t key;
  eco_prefix_block *parent;        /* block before it, NULL for the first */
  eco_prefix_block *next;          /* next in its hash bucket */
  eco_prefix_block *newer, *older; /* LRU list */
  uint32_t n_children;             /* cached blocks that continue this one */
  uint32_t pins;                   /* matched, not yet copied */
  void *data;                      /* block_bytes of KV */
  int32_t tokens[];                /* [block_tokens] */
};

struct eco_prefix {
  uint32_t block_tokens;
  uint64_t block_bytes;
  eco_prefix_block **buckets; /* [n_buckets], a power of two */
  size_t n_buckets;
  eco_prefix_block *newest, *oldest;
  eco_prefix_usage usage;
};

#define ROOT_KEY 0x6a09e667f3bcc908ULL

/* the key of a block from its parent's key and its tokens */
static uint64_t block_key(uint64_t parent, const int32_t *t, uint32_t n) {
  uint64_t h = parent ^ ((uint64_t)n << 32);
  for (uint32_t i = 0; i < n; i++) {
    h = (h ^ (uint32_t)t[i]) * 0x9E3779B97F4A7C15ULL;
    h ^= h >> 29;
  }
  h ^= h >> 33; /* splitmix64 finalizer */
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

int eco_prefix_new(uint32_t block_tokens, uint64_t block_bytes, eco_prefix **out) {
  if (!out || block_tokens == 0 || block_bytes == 0 || block_bytes > SIZE_MAX / 2)
    return ECO_EINVAL;
  eco_prefix *p = calloc(1, sizeof *p);
  if (!p) return ECO_ENOMEM;
  p->block_tokens = block_tokens;
  p->block_bytes = block_bytes;
  p->n_buckets = 64;
  p->buckets = calloc(p->n_buckets, sizeof *p->buckets);
  if (!p->buckets) {
    free(p);
    return ECO_ENOMEM;
  }
  *out = p;
  return ECO_OK;
}

static void block_free(eco_prefix_block *b) {
  if (!b) return;
  free(b->data);
  free(b);
}

void eco_prefix_free(eco_prefix *p) {
  if (!p) return;
  for (eco_prefix_block *b = p->newest, *nx; b; b = nx) {
    nx = b->older;
    block_free(b);
  }
  free(p->buckets);
  free(p);
}

uint32_t eco_prefix_block_tokens(const eco_prefix *p) { return p->block_tokens; }
const void *eco_prefix_block_data(const eco_prefix_block *b) { return b->data; }

static eco_prefix_block *lookup(const eco_prefix *p, uint64_t key, const eco_prefix_block *parent,
                                const int32_t *tokens) {
  for (eco_prefix_block *b = p->buckets[key & (p->n_buckets - 1)]; b; b = b->next)
    if (b->key == key && b->parent == parent &&
        memcmp(b->tokens, tokens, p->block_tokens * sizeof *tokens) == 0)
      return b;
  return NULL;
}

static void lru_unlink(eco_prefix *p, eco_prefix_block *b) {
  if (b->newer)
    b->newer->older = b->older;
  else
    p->newest = b->older;
  if (b->older)
    b->older->newer = b->newer;
  else
    p->oldest = b->newer;
  b->newer = b->older = NULL;
}

static void lru_push(eco_prefix *p, eco_prefix_block *b) {
  b->newer = NULL;
  b->older = p->newest;
  if (p->newest) p->newest->newer = b;
  p->newest = b;
  if (!p->oldest) p->oldest = b;
}

static void touch(eco_prefix *p, eco_prefix_block *b) {
  lru_unlink(p, b);
  lru_push(p, b);
}

/* Doubles the bucket array (load factor 1); a failure keeps the old one. */
static void maybe_grow(eco_prefix *p) {
  if (p->usage.blocks < p->n_buckets || p->n_buckets > SIZE_MAX / 4 / sizeof *p->buckets) return;
  const size_t nb = p->n_buckets * 2;
  eco_prefix_block **bk = calloc(nb, sizeof *bk);
  if (!bk) return;
  for (size_t i = 0; i < p->n_buckets; i++)
    for (eco_prefix_block *b = p->buckets[i], *nx; b; b = nx) {
      nx = b->next;
      b->next = bk[b->key & (nb - 1)];
      bk[b->key & (nb - 1)] = b;
    }
  free(p->buckets);
  p->buckets = bk;
  p->n_buckets = nb;
}

static void remove_block(eco_prefix *p, eco_prefix_block *b) {
  eco_prefix_block **pp = &p->buckets[b->key & (p->n_buckets - 1)];
  while (*pp != b)
    pp = &(*pp)->next;
  *pp = b->next;
  lru_unlink(p, b);
  if (b->parent) b->parent->n_children--;
  p->usage.blocks--;
  p->usage.bytes -= p->block_bytes;
  p->usage.evictions++;
  block_free(b);
}

uint64_t eco_prefix_evict(eco_prefix *p, uint64_t max_bytes) {
  eco_prefix_block *b = p->oldest;
  while (p->usage.bytes > max_bytes && b) {
    if (b->pins || b->n_children) {
      b = b->newer;
      continue;
    }
    eco_prefix_block *parent = b->parent, *newer = b->newer;
    remove_block(p, b);
    /* a parent that just became a leaf is older than where we are: rescan */
    b = parent && !parent->n_children && !parent->pins ? p->oldest : newer;
  }
  return p->usage.bytes;
}

uint32_t eco_prefix_match(eco_prefix *p, const int32_t *tokens, uint32_t n, uint32_t max_blocks,
                          eco_prefix_block **out) {
  const uint32_t B = p->block_tokens;
  uint64_t key = ROOT_KEY;
  eco_prefix_block *parent = NULL;
  uint32_t i = 0;
  for (; i < max_blocks && (uint64_t)(i + 1) * B <= n; i++) {
    key = block_key(key, tokens + (size_t)i * B, B);
    eco_prefix_block *b = lookup(p, key, parent, tokens + (size_t)i * B);
    if (!b) break;
    b->pins++;
    touch(p, b);
    out[i] = parent = b;
  }
  return i;
}

void eco_prefix_unpin(eco_prefix *p, eco_prefix_block *const *blocks, uint32_t n) {
  (void)p;
  for (uint32_t i = 0; i < n; i++)
    if (blocks[i]->pins) blocks[i]->pins--;
}

/* A new block after parent, filled by fill(); NULL when it cannot be had. */
static eco_prefix_block *add_block(eco_prefix *p, uint64_t key, eco_prefix_block *parent,
                                   const int32_t *tokens, uint32_t pos, uint64_t max_bytes,
                                   eco_prefix_fill_fn fill, void *ctx) {
  if (max_bytes < p->block_bytes ||
      eco_prefix_evict(p, max_bytes - p->block_bytes) > max_bytes - p->block_bytes)
    return NULL;
  const size_t tb = p->block_tokens * sizeof *tokens;
  eco_prefix_block *b = calloc(1, sizeof *b + tb);
  if (!b) return NULL;
  b->data = malloc((size_t)p->block_bytes);
  if (!b->data || fill(ctx, pos, p->block_tokens, b->data)) {
    block_free(b);
    return NULL;
  }
  memcpy(b->tokens, tokens, tb);
  b->key = key;
  b->parent = parent;
  if (parent) parent->n_children++;
  b->next = p->buckets[key & (p->n_buckets - 1)];
  p->buckets[key & (p->n_buckets - 1)] = b;
  lru_push(p, b);
  p->usage.blocks++;
  p->usage.bytes += p->block_bytes;
  p->usage.inserted++;
  maybe_grow(p);
  return b;
}

uint32_t eco_prefix_insert(eco_prefix *p, const int32_t *tokens, uint32_t n_blocks,
                           uint64_t max_bytes, eco_prefix_fill_fn fill, void *ctx) {
  const uint32_t B = p->block_tokens;
  uint64_t key = ROOT_KEY;
  eco_prefix_block *parent = NULL;
  uint32_t i = 0;
  for (; i < n_blocks; i++) {
    const int32_t *t = tokens + (size_t)i * B;
    key = block_key(key, t, B);
    eco_prefix_block *b = lookup(p, key, parent, t);
    if (b)
      touch(p, b);
    else if (!(b = add_block(p, key, parent, t, i * B, max_bytes, fill, ctx)))
      break;
    b->pins++; /* the path stays while the rest is added */
    parent = b;
  }
  for (eco_prefix_block *b = parent; b; b = b->parent)
    b->pins--;
  return i;
}

void eco_prefix_usage_get(const eco_prefix *p, eco_prefix_usage *u) { *u = p->usage; }
