#!/usr/bin/env python3
"""Copies a vocab-only GGUF (no tensors) with tokenizer.ggml.pre replaced.

Usage: gguf_set_pre.py SRC.gguf DST.gguf PRE
tests/tokenizer_vectors.sh makes a `gpt-4o` vocabulary (Phi-4-mini's
pre-tokenizer, of which llama.cpp ships no vocabulary file) from
ggml-vocab-llama-bpe.gguf this way. Standard library only.
"""
import struct, sys
src, dst, newpre = sys.argv[1], sys.argv[2], sys.argv[3].encode()
d = open(src, 'rb').read()
magic, ver, nt, nkv = struct.unpack_from('<4sIQQ', d, 0)
assert nt == 0
off = 24
sizes = {0:1,1:1,2:2,3:2,4:4,5:4,6:4,7:1,10:8,11:8,12:8}
def skip_val(t, off):
    if t == 8:
        (l,) = struct.unpack_from('<Q', d, off); return off + 8 + l
    if t == 9:
        et, n = struct.unpack_from('<IQ', d, off); off += 12
        for _ in range(n): off = skip_val(et, off)
        return off
    return off + sizes[t]
out = bytearray(d[:24])
for _ in range(nkv):
    (kl,) = struct.unpack_from('<Q', d, off); key = d[off+8:off+8+kl]; start = off; off += 8 + kl
    (t,) = struct.unpack_from('<I', d, off); off += 4
    vs = off; off = skip_val(t, off)
    if key == b'tokenizer.ggml.pre':
        out += d[start:vs] + struct.pack('<Q', len(newpre)) + newpre
    else:
        out += d[start:off]
align = 32
out += b'\0' * ((-len(out)) % align)
open(dst, 'wb').write(out)
