// Writes to the sysfs knobs: range checks (the kernel's -EINVAL) and side effects.

import { knob, knob_set_raw, NR_KNOBS, K_THP_ENABLED, K_THP_DEFRAG, K_SHMEM_ENABLED, K_ANON_SIZE_BASE,
  K_SHMEM_SIZE_BASE, K_KHUGEPAGED_MAX_PTES_NONE, K_KHUGEPAGED_MAX_PTES_SHARED, K_KHUGEPAGED_MAX_PTES_SWAP,
  K_THP_USE_ZERO_PAGE, K_THP_SHRINK_UNDERUSED, K_KHUGEPAGED_DEFRAG, K_HUGETLB_2M, K_HUGETLB_1G, K_OVERCOMMIT_MEMORY,
  K_V_MTHP_ORDER_SELECTION, K_V_MAX_ANON_FOLIO_ORDER, K_V_MTHP_ON_RACE, K_V_PUD_ANON, K_V_PUD_COW,
  K_V_PUD_SPLIT_TARGET, K_V_PGTABLE_DEPOSIT, K_V_MPROTECT_PUD_WRITE_UPGRADE, K_V_MPROTECT_PUD_PARTIAL,
  K_V_COW_REUSE_LARGE, K_V_SMAPS_PUD_LEAF, K_V_PUD_ANON_HUGE_PAGES, K_V_SHMEM_PMD_SPLIT, K_V_FORK_FILE_PMD, SHMEM_FORCE, SSIZE_INHERIT,
  K_V_HGM_ENABLE, K_V_HGM_MAPCOUNT, K_V_HGM_GUP_SKIP_MATH, K_HUGETLB_OVERCOMMIT_1G,
} from "./sysfs";
import { set_pud_counts_in_anon_thps } from "../mm/rmap";
import { thp_recompute_orders } from "../mm/huge_memory";
import { hugetlb_set_nr_hugepages } from "../mm/hugetlb";

const EINVAL: i32 = 22;

function max_value(id: u32): u64 {
  if (id == K_THP_ENABLED) return 2;
  if (id == K_THP_DEFRAG) return 4;
  if (id == K_SHMEM_ENABLED) return 5;
  if (id == K_THP_USE_ZERO_PAGE || id == K_THP_SHRINK_UNDERUSED || id == K_KHUGEPAGED_DEFRAG) return 1;
  if (id == K_KHUGEPAGED_MAX_PTES_NONE || id == K_KHUGEPAGED_MAX_PTES_SHARED || id == K_KHUGEPAGED_MAX_PTES_SWAP) return 511;
  if (id == K_OVERCOMMIT_MEMORY) return 2;
  if (id == K_V_MTHP_ORDER_SELECTION || id == K_V_MTHP_ON_RACE || id == K_V_PUD_COW || id == K_V_PUD_SPLIT_TARGET) return 2;
  if (id == K_V_MAX_ANON_FOLIO_ORDER) return 8;
  if (id == K_V_PUD_ANON || id == K_V_PGTABLE_DEPOSIT || id == K_V_MPROTECT_PUD_WRITE_UPGRADE ||
      id == K_V_MPROTECT_PUD_PARTIAL || id == K_V_COW_REUSE_LARGE || id == K_V_SMAPS_PUD_LEAF ||
      id == K_V_PUD_ANON_HUGE_PAGES || id == K_V_SHMEM_PMD_SPLIT || id == K_V_FORK_FILE_PMD) return 1;
  if (id == K_V_HGM_ENABLE || id == K_V_HGM_GUP_SKIP_MATH) return 1;
  if (id == K_V_HGM_MAPCOUNT) return 2;
  if (id > K_ANON_SIZE_BASE && id < K_SHMEM_SIZE_BASE) return 3;
  if (id > K_SHMEM_SIZE_BASE && id < K_SHMEM_SIZE_BASE + 10) return 4;
  return 0xffffffff;
}

export function sysfs_write(id: u32, v: u64): i32 {
  if (id >= NR_KNOBS) return -EINVAL;
  if (v > max_value(id)) return -EINVAL;
  if (id == K_V_MAX_ANON_FOLIO_ORDER && v < 2) return -EINVAL;
  if (id == K_SHMEM_ENABLED && <u32>v == SHMEM_FORCE) {
    // "force" needs the set of inherit-ing shmem sizes to be exactly the PMD size
    for (let o: u32 = 1; o <= 9; o++) {
      const inherit = knob(K_SHMEM_SIZE_BASE + o) == SSIZE_INHERIT;
      if (inherit != (o == 9)) return -EINVAL;
    }
  }
  if (id == K_HUGETLB_2M || id == K_HUGETLB_1G) return hugetlb_set_nr_hugepages(id == K_HUGETLB_1G ? 18 : 9, v);
  // nr_overcommit_hugepages_store(): gigantic hstates refuse it
  if (id == K_HUGETLB_OVERCOMMIT_1G) return -EINVAL;
  knob_set_raw(id, <u32>v);
  if (id == K_V_PUD_ANON_HUGE_PAGES) set_pud_counts_in_anon_thps(v == 0);
  if (id > K_ANON_SIZE_BASE && id < K_SHMEM_SIZE_BASE) thp_recompute_orders();
  return 0;
}
