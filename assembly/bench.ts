// Benchmark-only exports (bench/, issue 4). Each runs a hot kernel of the
// core many times inside one call, so that the wasm side does exactly the
// work of its native C twin in bench/native/ and the boundary cost vanishes.
// They touch only scratch memory and never change the machine's state.

import { LAYOUT_IO } from "./layout";
import { fill_pte_table } from "./arch/x86/pgtable";

// pte_table_fill: build a 512-entry PTE table mapping 512 consecutive pfns
// with the core's fill_pte_table() (the PMD/PUD split kernel), n times into
// the same 4 KiB scratch table (the IO buffer), like bench/native/pte_fill.c.
// The entry is passed as two u32 halves (no BigInt at the boundary).
// Returns the last entry written as a checksum.
export function bench_fill_pte_table(n: u32, entry_lo: u32, entry_hi: u32): f64 {
  const table = LAYOUT_IO;
  const entry = (<u64>entry_hi << 32) | <u64>entry_lo;
  for (let i: u32 = 0; i < n; i++) fill_pte_table(table, entry + (<u64>(i & 1023) << 21));
  return <f64>(load<u64>(table + 4088) & 0xffff);
}
