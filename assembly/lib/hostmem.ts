// Host memory of the core: the wasm linear memory above __heap_base.
//
// Three tiers, none managed by AssemblyScript's runtime (--runtime stub):
//  - chunks: 2 MiB, 2 MiB aligned (data backing and page-table storage of a pageblock),
//    free ones marked in a bitmap so that runs of adjacent chunks can be handed out
//    (the data of a folio spanning several pageblocks, cleared by one memory.fill)
//  - blocks: power-of-two sizes 4 KiB .. 1 MiB carved from chunks (frame arrays,
//    VMA arrays, growable tables)
//  - slabs:  fixed-size records (mm, vma, folio, buddy records ...) carved from 4 KiB blocks
// Allocation failure returns 0 and raises `hostmem_exhausted`, which the
// calling kernel path turns into an allocation failure (ENOMEM / VM_FAULT_OOM)
// while the batch reports ERR_HOST_MEMORY: the state stays consistent.

import { LAYOUT_CTRL, CTRL_HOST_BYTES, CTRL_HEAP_USED, CTRL_HOST_LIMIT_PAGES } from "../layout";

export const CHUNK_SHIFT: u32 = 21;
export const CHUNK_SIZE: u32 = 1 << CHUNK_SHIFT;
const WASM_PAGE_SHIFT: u32 = 16;
const NR_CLASSES: u32 = 9; // 4K << 0 .. 4K << 8 (1 MiB); chunks are class 9

let heap_start: u64 = 0;
let heap_brk: u64 = 0; // first byte never handed out
// free chunks below heap_brk: one bit per 2 MiB of the 4 GiB address space
const MAX_CHUNKS: u32 = 2048;
const chunk_map = memory.data(MAX_CHUNKS / 8);
let chunks_free: u32 = 0;
// Whether the last alloc_chunk()/alloc_chunk_run() returned memory never handed out
// before: wasm memory is zero when grown, so it needs no clearing (and clearing it
// would take a host page fault per 4 KiB).
export let chunk_fresh: bool = false;
let heap_used: u64 = 0;
export let hostmem_exhausted: bool = false;

// per-class free lists of blocks (class c = 4096 << c bytes)
const class_free = memory.data(4 * NR_CLASSES);

// slab descriptors: free list head, object size, current carve block, bytes left
export const SLAB_MM: u32 = 0;
export const SLAB_VMA: u32 = 1;
export const SLAB_FOLIO: u32 = 2;
export const SLAB_BUDDY: u32 = 3;
export const SLAB_TASK: u32 = 4;
export const SLAB_ANON_VMA: u32 = 5;
export const SLAB_SMALL: u32 = 6; // 32-byte misc records
export const SLAB_FILE: u32 = 7;
export const SLAB_FRAMES: u32 = 8; // 512 x u32 frame entries of one pageblock
const NR_SLABS: u32 = 9;
const slabs = memory.data(16 * NR_SLABS);

export function hostmem_init(): void {
  heap_start = (<u64>__heap_base + CHUNK_SIZE - 1) & ~(<u64>CHUNK_SIZE - 1);
  heap_brk = heap_start;
  memory.fill(chunk_map, 0, MAX_CHUNKS / 8);
  chunks_free = 0;
  heap_used = 0;
  hostmem_exhausted = false;
  memory.fill(class_free, 0, 4 * NR_CLASSES);
  memory.fill(slabs, 0, 16 * NR_SLABS);
  slab_setup(SLAB_MM, 256);
  slab_setup(SLAB_VMA, 128);
  slab_setup(SLAB_FOLIO, 96);
  slab_setup(SLAB_BUDDY, 256);
  slab_setup(SLAB_TASK, 64);
  slab_setup(SLAB_ANON_VMA, 32);
  slab_setup(SLAB_SMALL, 32);
  slab_setup(SLAB_FILE, 128);
  slab_setup(SLAB_FRAMES, 2048);
  publish();
}

function publish(): void {
  store<f64>(LAYOUT_CTRL + CTRL_HOST_BYTES, <f64>(<u64>memory.size() << WASM_PAGE_SHIFT));
  store<f64>(LAYOUT_CTRL + CTRL_HEAP_USED, <f64>heap_used);
}

function host_limit_bytes(): u64 {
  let pages = load<u32>(LAYOUT_CTRL + CTRL_HOST_LIMIT_PAGES);
  if (pages == 0 || pages > 65536) pages = 65536;
  return <u64>pages << WASM_PAGE_SHIFT;
}

// Make [0, end) addressable. memory.size() << 16 would overflow at 4 GiB: compute in u64.
function ensure_memory(end: u64): bool {
  const have = <u64>memory.size() << WASM_PAGE_SHIFT;
  if (end <= have) return true;
  if (end > host_limit_bytes()) { hostmem_exhausted = true; return false; }
  // grow in steps of at least 32 MiB to keep memory.grow calls rare
  let want = (end - have + 0xffff) >> WASM_PAGE_SHIFT;
  if (want < 512) want = 512;
  const limit_pages = host_limit_bytes() >> WASM_PAGE_SHIFT;
  const cur = <u64>memory.size();
  if (cur + want > limit_pages) want = limit_pages - cur;
  if (memory.grow(<i32>want) < 0) {
    const need = (end - have + 0xffff) >> WASM_PAGE_SHIFT;
    if (memory.grow(<i32>need) < 0) { hostmem_exhausted = true; return false; }
  }
  publish();
  return true;
}

// A contiguous reservation made once at machine creation (pageblock table).
export function hostmem_reserve(bytes: u64): u32 {
  const size = (bytes + CHUNK_SIZE - 1) & ~(<u64>CHUNK_SIZE - 1);
  if (!ensure_memory(heap_brk + size)) return 0;
  const p = heap_brk;
  heap_brk += size;
  heap_used += size;
  publish();
  return <u32>p;
}

@inline function chunk_is_free(c: u32): bool { return (load<u8>(chunk_map + (c >> 3)) & (1 << (c & 7))) != 0; }
@inline function chunk_mark(c: u32, free: bool): void {
  const p = chunk_map + (c >> 3);
  const bit = <u8>(<u32>1 << (c & 7));
  store<u8>(p, free ? load<u8>(p) | bit : load<u8>(p) & ~bit);
}

// Next chunk to look at after c: whole 64-chunk words without a free (used) chunk at once.
@inline function skip_used(c: u32): u32 {
  return (c & 63) == 0 && load<u64>(chunk_map + (c >> 3)) == 0 ? c + 64 : c + 1;
}
@inline function skip_free(c: u32): u32 {
  return (c & 63) == 0 && load<u64>(chunk_map + (c >> 3)) == 0xffffffffffffffff ? c + 64 : c + 1;
}

// One chunk: the first of the shortest free run (best fit keeps long runs whole for
// alloc_chunk_run), else fresh memory.
export function alloc_chunk(): u32 {
  let p: u32 = 0;
  if (chunks_free != 0) {
    const top = <u32>(heap_brk >> CHUNK_SHIFT);
    let best: u32 = 0, best_len: u32 = 0xffffffff;
    let c = <u32>(heap_start >> CHUNK_SHIFT);
    while (c < top) {
      if (!chunk_is_free(c)) { c = skip_used(c); continue; }
      const start = c;
      while (c < top && chunk_is_free(c)) c = skip_free(c);
      if (c - start < best_len) {
        best = start;
        best_len = c - start;
        if (best_len == 1) break;
      }
    }
    chunk_mark(best, false);
    chunks_free--;
    p = best << CHUNK_SHIFT;
    chunk_fresh = false;
  } else {
    if (!ensure_memory(heap_brk + CHUNK_SIZE)) return 0;
    p = <u32>heap_brk;
    heap_brk += CHUNK_SIZE;
    chunk_fresh = true;
  }
  heap_used += CHUNK_SIZE;
  publish();
  return p;
}

// n adjacent chunks (first fit; a free run ending at heap_brk is extended), or 0
// without raising hostmem_exhausted: the caller falls back to single chunks.
export function alloc_chunk_run(n: u32): u32 {
  const first = <u32>(heap_start >> CHUNK_SHIFT);
  const top = <u32>(heap_brk >> CHUNK_SHIFT);
  let start: u32 = first, len: u32 = 0;
  if (chunks_free >= n) {
    let c = first;
    while (c < top && len < n) {
      if (!chunk_is_free(c)) { len = 0; c = skip_used(c); continue; }
      if (len == 0) start = c;
      const next = min<u32>(skip_free(c), c + n - len);
      len += next - c;
      c = next;
    }
    if (start + len > top) len = top - start;
  } else {
    // only the free run at the top can help
    start = top;
    while (start > first && chunk_is_free(start - 1)) { start--; len++; }
  }
  if (len < n) {
    if (start + len != top) { start = top; len = 0; }
    const grow = <u64>(n - len) << CHUNK_SHIFT;
    if (heap_brk + grow > host_limit_bytes()) return 0;
    const was = hostmem_exhausted;
    if (!ensure_memory(heap_brk + grow)) { hostmem_exhausted = was; return 0; }
    heap_brk += grow;
  }
  for (let c = start; c < start + len; c++) chunk_mark(c, false);
  chunks_free -= len;
  chunk_fresh = len == 0;
  heap_used += <u64>n << CHUNK_SHIFT;
  publish();
  return start << CHUNK_SHIFT;
}

// Recycled chunks hold old bytes: callers that need zeroes must clear them.
export function free_chunk(p: u32): void {
  chunk_mark(p >> CHUNK_SHIFT, true);
  chunks_free++;
  heap_used -= CHUNK_SIZE;
}

@inline function size_class(size: u32): u32 {
  if (size <= 4096) return 0;
  return 32 - clz(size - 1) - 12;
}

// Power-of-two block of at least `size` bytes (4 KiB .. 2 MiB), zeroed.
export function alloc_block(size: u32): u32 {
  const c = size_class(size);
  if (c >= NR_CLASSES) {
    const p = alloc_chunk();
    if (p != 0) memory.fill(p, 0, CHUNK_SIZE);
    return p;
  }
  const bsize: u32 = 4096 << c;
  let p = load<u32>(class_free + 4 * c);
  if (p == 0) {
    const ch = alloc_chunk();
    if (ch == 0) return 0;
    heap_used -= CHUNK_SIZE; // accounted per block below
    // carve the chunk: thread all blocks on the free list
    const n = CHUNK_SIZE / bsize;
    for (let i: u32 = n; i > 0; i--) {
      const b = ch + (i - 1) * bsize;
      store<u32>(b, p);
      p = b;
    }
  }
  store<u32>(class_free + 4 * c, load<u32>(p));
  memory.fill(p, 0, bsize);
  heap_used += bsize;
  return p;
}

export function free_block(p: u32, size: u32): void {
  const c = size_class(size);
  if (c >= NR_CLASSES) { free_chunk(p); return; }
  store<u32>(p, load<u32>(class_free + 4 * c));
  store<u32>(class_free + 4 * c, p);
  heap_used -= <u64>(4096 << c);
}

// --- slabs -------------------------------------------------------------------

function slab_setup(id: u32, size: u32): void {
  assert((size & 15) == 0, "slab_setup: size not a multiple of 16");
  const d = slabs + 16 * id;
  store<u32>(d, 0); // free list
  store<u32>(d, size, 4);
  store<u32>(d, 0, 8); // carve pointer
  store<u32>(d, 0, 12); // bytes left in carve block
}

// Zeroed record, or 0 when host memory is exhausted.
export function slab_alloc(id: u32): u32 {
  const d = slabs + 16 * id;
  const size = load<u32>(d, 4);
  let p = load<u32>(d);
  if (p != 0) {
    store<u32>(d, load<u32>(p));
  } else {
    let left = load<u32>(d, 12);
    if (left < size) {
      const b = alloc_block(65536);
      if (b == 0) return 0;
      store<u32>(d, b, 8);
      left = 65536;
    }
    p = load<u32>(d, 8);
    store<u32>(d, p + size, 8);
    store<u32>(d, left - size, 12);
  }
  zero_small(p, size); // every slab size is a multiple of 16
  return p;
}

export function slab_free(id: u32, p: u32): void {
  const d = slabs + 16 * id;
  store<u32>(p, load<u32>(d));
  store<u32>(d, p);
}

// Zero n bytes at p (n a multiple of 16) with v128 stores: for records this is
// cheaper than memory.fill, which V8 compiles to a call into the host's memset.
@inline export function zero_small(p: u32, n: u32): void {
  const z = i64x2.splat(0);
  for (let o: u32 = 0; o < n; o += 16) v128.store(p + o, z);
}

export function hostmem_bytes_in_use(): u64 {
  return heap_used;
}
