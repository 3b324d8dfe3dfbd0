/* ecoinfer: the prefix cache of the batching engine: KV contents of token
 * blocks, keyed by the whole prefix that leads to them, shared by every
 * request of one engine.
 *
 * A prompt is cut into blocks of block_tokens tokens. Block i is keyed by
 * a 64-bit hash of (key of block i-1, tokens of block i), so a key stands
 * for the whole prefix tokens[0 .. (i+1) * block_tokens) and equal keys
 * mean equal prefixes: the entry also keeps its tokens and its parent, and
 * a lookup compares both, so a hash collision can never hand out the KV of
 * another prefix. Each entry owns block_bytes of KV data (what the model
 * adapter's kv_save wrote for those positions); the cache never looks
 * inside it.
 *
 * Reuse copies the blocks into the new sequence's own KV cache (the
 * attention kernels read one contiguous cache per sequence), so a cached
 * prefix costs a memcpy instead of a forward pass over its tokens, and
 * the KV numbers are bit-identical to a recomputation (each token's K and
 * V depend only on the tokens before it, and the kernels compute every
 * activation row the same way whatever the batch).
 *
 * Memory: the engine keeps cache bytes + reserved KV bytes within its KV
 * budget: the cache lives in the part of the budget no request has
 * reserved, and gives it back (eco_prefix_evict) when admission needs it.
 * Eviction is LRU among leaves (blocks no cached block continues), so a
 * prefix is never unreachable while a longer one is cached; pinned blocks
 * (matched and not yet copied) are never evicted.
 *
 * Not thread-safe: the engine thread is its only user. */
#ifndef ECO_ENGINE_PREFIX_H
#define ECO_ENGINE_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct eco_prefix eco_prefix;
typedef struct eco_prefix_block eco_prefix_block;

/* block_tokens > 0 tokens per block, block_bytes > 0 bytes of KV data per
 * block. ECO_EINVAL / ECO_ENOMEM. */
int eco_prefix_new(uint32_t block_tokens, uint64_t block_bytes, eco_prefix **out);
void eco_prefix_free(eco_prefix *p);

uint32_t eco_prefix_block_tokens(const eco_prefix *p);

/* The longest cached prefix of tokens[0..n) in whole blocks, at most
 * max_blocks of them: writes the blocks in order to out[] (they are
 * pinned and marked most recently used) and returns their count. */
uint32_t eco_prefix_match(eco_prefix *p, const int32_t *tokens, uint32_t n, uint32_t max_blocks,
                          eco_prefix_block **out);
/* The KV data of a block (block_bytes). */
const void *eco_prefix_block_data(const eco_prefix_block *b);
/* Releases the pins of blocks returned by eco_prefix_match. */
void eco_prefix_unpin(eco_prefix *p, eco_prefix_block *const *blocks, uint32_t n);

/* Fills dst (block_bytes) with the KV data of positions [pos, pos + n). */
typedef int (*eco_prefix_fill_fn)(void *ctx, uint32_t pos, uint32_t n, void *dst);

/* Caches the first n_blocks whole blocks of tokens (the caller's sequence
 * holds their KV): blocks already cached are marked used; each missing one
 * is filled by fill(ctx, ...), evicting LRU leaves first when the cache
 * would exceed max_bytes. Stops at the first block that cannot be had
 * (no room, allocation or fill failure): what is cached stays valid.
 * Returns the number of blocks cached now (old and new). */
uint32_t eco_prefix_insert(eco_prefix *p, const int32_t *tokens, uint32_t n_blocks,
                           uint64_t max_bytes, eco_prefix_fill_fn fill, void *ctx);

/* Evicts LRU unpinned leaves until the cache holds at most max_bytes (or
 * nothing evictable is left). Returns the bytes still held. */
uint64_t eco_prefix_evict(eco_prefix *p, uint64_t max_bytes);

typedef struct eco_prefix_usage {
  uint64_t blocks;    /* cached blocks */
  uint64_t bytes;     /* KV bytes they hold */
  uint64_t inserted;  /* blocks ever added */
  uint64_t evictions; /* blocks ever evicted */
} eco_prefix_usage;
void eco_prefix_usage_get(const eco_prefix *p, eco_prefix_usage *u);

#endif
