// Hardware TLB model. The foundation walks the page tables on every access
// (no translation is cached), so flushes have nothing to invalidate yet; the
// TLB issue plugs set-associative TLBs, walk caches and a fast translation
// cache in here, driven by the same calls.

export function tlbm_flush_range(mm: u32, start: u64, end: u64, stride_shift: u32, freed_tables: bool): void {
  // nothing cached
}

export function tlbm_flush_mm(mm: u32): void {
  // nothing cached
}
