// The sysfs/sysctl knobs the model obeys (/sys/kernel/mm/transparent_hugepage,
// /sys/kernel/mm/hugepages, /proc/sys/vm) and hugemmu's design variants
// (KERNEL-SPEC §12). Values are small integers in the CTRL block; the names,
// value spellings and defaults below are the only copy the product has.

import { LAYOUT_CTRL, CTRL_KNOBS } from "../layout";

// Knob ids
export const K_THP_ENABLED: u32 = 0; // always | madvise | never
export const K_THP_DEFRAG: u32 = 1; // always | defer | defer+madvise | madvise | never
export const K_THP_USE_ZERO_PAGE: u32 = 2;
export const K_THP_SHRINK_UNDERUSED: u32 = 3;
export const K_SHMEM_ENABLED: u32 = 4; // always | within_size | advise | never | deny | force
export const K_KHUGEPAGED_DEFRAG: u32 = 5;
export const K_KHUGEPAGED_MAX_PTES_NONE: u32 = 6;
export const K_KHUGEPAGED_MAX_PTES_SHARED: u32 = 7;
export const K_KHUGEPAGED_MAX_PTES_SWAP: u32 = 8;
export const K_KHUGEPAGED_PAGES_TO_SCAN: u32 = 9;
export const K_KHUGEPAGED_SCAN_SLEEP: u32 = 10;
export const K_KHUGEPAGED_ALLOC_SLEEP: u32 = 11;
export const K_HUGETLB_2M: u32 = 12; // nr_hugepages
export const K_HUGETLB_1G: u32 = 13;
export const K_OVERCOMMIT_MEMORY: u32 = 14; // /proc/sys/vm/overcommit_memory
export const K_MAX_MAP_COUNT: u32 = 15;
// design variants (KERNEL-SPEC §12)
export const K_V_MTHP_ORDER_SELECTION: u32 = 16; // iterate-enabled-orders | preferred-plus-order0 | calc-order-arch-max
export const K_V_MAX_ANON_FOLIO_ORDER: u32 = 17; // bound for calc-order-arch-max
export const K_V_MTHP_ON_RACE: u32 = 18; // release-and-refault | retry-lower-order | fallback-order0-now
export const K_V_PUD_ANON: u32 = 19; // off | on (seed 000): also implied by the 1G knob
export const K_V_PUD_COW: u32 = 20; // split-to-pte-always | reuse-if-exclusive-else-split | copy-1G
export const K_V_PUD_SPLIT_TARGET: u32 = 21; // pte | pmd-thps | zap
export const K_V_PGTABLE_DEPOSIT: u32 = 22; // predeposit | lazy-at-split
export const K_V_MPROTECT_PUD_WRITE_UPGRADE: u32 = 23; // none | like-pmd
export const K_V_MPROTECT_PUD_PARTIAL: u32 = 24; // split-and-retry | bad-pud-error
export const K_V_COW_REUSE_LARGE: u32 = 25; // mm-exclusive-reuse | never-reuse
export const K_V_SMAPS_PUD_LEAF: u32 = 26; // account-as-pud | walker-splits-pud
export const K_V_PUD_ANON_HUGE_PAGES: u32 = 27; // count-in-AnonHugePages | none
export const K_V_SHMEM_PMD_SPLIT: u32 = 28; // zap-and-refault | remap-team-by-ptes
export const K_V_FORK_FILE_PMD: u32 = 74; // V11 skip-refault-in-child | dup-team-pmd
export const K_V_HGM_ENABLE: u32 = 88; // V16 absent | madv-split (seed 003)
export const K_V_HGM_MAPCOUNT: u32 = 89; // V17 thp-like | per-hpte | per-hierarchy
export const K_V_HGM_GUP_SKIP_MATH: u32 = 90; // V18 fixed | buggy-rfc-v2
export const K_HUGETLB_OVERCOMMIT_2M: u32 = 92; // nr_overcommit_hugepages
export const K_HUGETLB_OVERCOMMIT_1G: u32 = 93; // (gigantic: writes are refused)
export const K_ANON_SIZE_BASE: u32 = 32; // + order (2..9, 18): hugepages-<N>kB/enabled
export const K_SHMEM_SIZE_BASE: u32 = 64; // + order (1..9): hugepages-<N>kB/shmem_enabled
export const NR_KNOBS: u32 = 96;

// Value spellings per knob kind (index = stored value).
export const VALS_THP_ENABLED: string = "always,madvise,never";
export const VALS_DEFRAG: string = "always,defer,defer+madvise,madvise,never";
export const VALS_SHMEM_ENABLED: string = "always,within_size,advise,never,deny,force";
export const VALS_ANON_SIZE: string = "always,inherit,madvise,never";
export const VALS_SHMEM_SIZE: string = "always,inherit,within_size,advise,never";

export const THP_ALWAYS: u32 = 0, THP_MADVISE: u32 = 1, THP_NEVER: u32 = 2;
export const SIZE_ALWAYS: u32 = 0, SIZE_INHERIT: u32 = 1, SIZE_MADVISE: u32 = 2, SIZE_NEVER: u32 = 3;
export const SHMEM_ALWAYS: u32 = 0, SHMEM_WITHIN_SIZE: u32 = 1, SHMEM_ADVISE: u32 = 2, SHMEM_NEVER: u32 = 3,
  SHMEM_DENY: u32 = 4, SHMEM_FORCE: u32 = 5;
export const SSIZE_ALWAYS: u32 = 0, SSIZE_INHERIT: u32 = 1, SSIZE_WITHIN_SIZE: u32 = 2, SSIZE_ADVISE: u32 = 3,
  SSIZE_NEVER: u32 = 4;

// name|kind|default  (kind: enum values list, or "int:min:max")
// One line per knob id that exists; the host builds its name table from this.
export const KNOB_TABLE: string =
  "0|transparent_hugepage/enabled|always,madvise,never|madvise\n" +
  "1|transparent_hugepage/defrag|always,defer,defer+madvise,madvise,never|madvise\n" +
  "2|transparent_hugepage/use_zero_page|int:0:1|1\n" +
  "3|transparent_hugepage/shrink_underused|int:0:1|1\n" +
  "4|transparent_hugepage/shmem_enabled|always,within_size,advise,never,deny,force|never\n" +
  "5|transparent_hugepage/khugepaged/defrag|int:0:1|1\n" +
  "6|transparent_hugepage/khugepaged/max_ptes_none|int:0:511|511\n" +
  "7|transparent_hugepage/khugepaged/max_ptes_shared|int:0:511|256\n" +
  "8|transparent_hugepage/khugepaged/max_ptes_swap|int:0:511|64\n" +
  "9|transparent_hugepage/khugepaged/pages_to_scan|int:1:4294967295|4096\n" +
  "10|transparent_hugepage/khugepaged/scan_sleep_millisecs|int:0:4294967295|10000\n" +
  "11|transparent_hugepage/khugepaged/alloc_sleep_millisecs|int:0:4294967295|60000\n" +
  "12|hugepages/hugepages-2048kB/nr_hugepages|int:0:4294967295|0\n" +
  "13|hugepages/hugepages-1048576kB/nr_hugepages|int:0:4294967295|0\n" +
  "14|vm/overcommit_memory|int:0:2|0\n" +
  "15|vm/max_map_count|int:0:2147483647|65530\n" +
  "16|hugemmu/mthp.orderSelection|iterate-enabled-orders,preferred-plus-order0,calc-order-arch-max|iterate-enabled-orders\n" +
  "17|hugemmu/mthp.maxAnonFolioOrder|int:2:8|4\n" +
  "18|hugemmu/mthp.onRace|release-and-refault,retry-lower-order,fallback-order0-now|release-and-refault\n" +
  "19|hugemmu/thp.pud.anon|off,on|on\n" +
  "20|hugemmu/thp.pud.cow|split-to-pte-always,reuse-if-exclusive-else-split,copy-1G|split-to-pte-always\n" +
  "21|hugemmu/thp.pud.splitTarget|pte,pmd-thps,zap|pte\n" +
  "22|hugemmu/pgtable.deposit|predeposit,lazy-at-split|predeposit\n" +
  "23|hugemmu/mprotect.pud.writeUpgrade|none,like-pmd|none\n" +
  "24|hugemmu/mprotect.pud.partial|split-and-retry,bad-pud-error|split-and-retry\n" +
  "25|hugemmu/cow.reusePteMappedLargeFolio|mm-exclusive-reuse,never-reuse|mm-exclusive-reuse\n" +
  "26|hugemmu/smaps.pudLeaf|account-as-pud,walker-splits-pud|account-as-pud\n" +
  "27|hugemmu/thp.pud.anonHugePagesAccounting|count-in-AnonHugePages,none|count-in-AnonHugePages\n" +
  "28|hugemmu/shmem.pmdSplit|zap-and-refault,remap-team-by-ptes|zap-and-refault\n" +
  "74|hugemmu/fork.filePmd|skip-refault-in-child,dup-team-pmd|skip-refault-in-child\n" +
  "34|transparent_hugepage/hugepages-16kB/enabled|always,inherit,madvise,never|never\n" +
  "35|transparent_hugepage/hugepages-32kB/enabled|always,inherit,madvise,never|never\n" +
  "36|transparent_hugepage/hugepages-64kB/enabled|always,inherit,madvise,never|never\n" +
  "37|transparent_hugepage/hugepages-128kB/enabled|always,inherit,madvise,never|never\n" +
  "38|transparent_hugepage/hugepages-256kB/enabled|always,inherit,madvise,never|never\n" +
  "39|transparent_hugepage/hugepages-512kB/enabled|always,inherit,madvise,never|never\n" +
  "40|transparent_hugepage/hugepages-1024kB/enabled|always,inherit,madvise,never|never\n" +
  "41|transparent_hugepage/hugepages-2048kB/enabled|always,inherit,madvise,never|inherit\n" +
  "50|transparent_hugepage/hugepages-1048576kB/enabled|always,inherit,madvise,never|never\n" +
  "65|transparent_hugepage/hugepages-8kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "66|transparent_hugepage/hugepages-16kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "67|transparent_hugepage/hugepages-32kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "68|transparent_hugepage/hugepages-64kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "69|transparent_hugepage/hugepages-128kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "70|transparent_hugepage/hugepages-256kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "71|transparent_hugepage/hugepages-512kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "72|transparent_hugepage/hugepages-1024kB/shmem_enabled|always,inherit,within_size,advise,never|never\n" +
  "73|transparent_hugepage/hugepages-2048kB/shmem_enabled|always,inherit,within_size,advise,never|inherit\n" +
  "88|hugemmu/hgm.enable|absent,madv-split|absent\n" +
  "89|hugemmu/hgm.mapcount|thp-like,per-hpte,per-hierarchy|thp-like\n" +
  "90|hugemmu/hgm.gupSkipMath|fixed,buggy-rfc-v2|fixed\n" +
  "92|hugepages/hugepages-2048kB/nr_overcommit_hugepages|int:0:4294967295|0\n" +
  "93|hugepages/hugepages-1048576kB/nr_overcommit_hugepages|int:0:4294967295|0";

@inline export function knob(id: u32): u32 { return load<u32>(LAYOUT_CTRL + CTRL_KNOBS + (id << 2)); }
@inline export function knob_set_raw(id: u32, v: u32): void { store<u32>(LAYOUT_CTRL + CTRL_KNOBS + (id << 2), v); }

// Defaults (must agree with KNOB_TABLE's last column; a test checks it).
export function sysfs_init_defaults(): void {
  for (let i: u32 = 0; i < NR_KNOBS; i++) knob_set_raw(i, 0);
  knob_set_raw(K_THP_ENABLED, THP_MADVISE);
  knob_set_raw(K_THP_DEFRAG, 3);
  knob_set_raw(K_THP_USE_ZERO_PAGE, 1);
  knob_set_raw(K_THP_SHRINK_UNDERUSED, 1);
  knob_set_raw(K_SHMEM_ENABLED, SHMEM_NEVER);
  knob_set_raw(K_KHUGEPAGED_DEFRAG, 1);
  knob_set_raw(K_KHUGEPAGED_MAX_PTES_NONE, 511);
  knob_set_raw(K_KHUGEPAGED_MAX_PTES_SHARED, 256);
  knob_set_raw(K_KHUGEPAGED_MAX_PTES_SWAP, 64);
  knob_set_raw(K_KHUGEPAGED_PAGES_TO_SCAN, 4096);
  knob_set_raw(K_KHUGEPAGED_SCAN_SLEEP, 10000);
  knob_set_raw(K_KHUGEPAGED_ALLOC_SLEEP, 60000);
  knob_set_raw(K_MAX_MAP_COUNT, 65530);
  knob_set_raw(K_V_MAX_ANON_FOLIO_ORDER, 4);
  knob_set_raw(K_V_PUD_ANON, 1);
  for (let o: u32 = 2; o <= 9; o++) knob_set_raw(K_ANON_SIZE_BASE + o, o == 9 ? SIZE_INHERIT : SIZE_NEVER);
  knob_set_raw(K_ANON_SIZE_BASE + 18, SIZE_NEVER);
  for (let o: u32 = 1; o <= 9; o++) knob_set_raw(K_SHMEM_SIZE_BASE + o, o == 9 ? SSIZE_INHERIT : SSIZE_NEVER);
}
