// Record layouts (include/linux/mm_types.h): mm_struct, vm_area_struct,
// task, anon_vma, folio. Records are slab-allocated and addressed by their
// host pointer; fields are read with load/store at these constant offsets.

// --- mm_struct -------------------------------------------------------------------
export const MM_PGD: u32 = 0; // u32 pfn of the top-level table
export const MM_ID: u32 = 4; // u32 mm_id (folio mm-id tracking)
export const MM_RSS: u32 = 8; // 4 x i64 rss_stat (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES)
export const MM_PGTABLES_BYTES: u32 = 40; // i64
export const MM_VMAS: u32 = 48; // u32 pointer to the sorted VMA array (u32 per VMA)
export const MM_NR_VMAS: u32 = 52; // u32 map_count
export const MM_VMAS_CAP: u32 = 56; // u32 capacity in entries
export const MM_FLAGS: u32 = 60; // u32 MMF_*
export const MM_PMD_HUGE_PTE: u32 = 64; // u32 pfn: head of deposited PTE tables (pmd_huge_pte)
export const MM_NR_DEPOSITED: u32 = 68; // u32
export const MM_PUD_HUGE_PMD: u32 = 72; // u32 pfn: head of deposited PMD tables (seed 000)
export const MM_NR_PUD_DEPOSITED: u32 = 76; // u32
export const MM_HUGETLB_USAGE: u32 = 80; // i64 pages
export const MM_USERS: u32 = 88; // u32 tasks using this mm
export const MM_LEVELS: u32 = 92; // u32 4 or 5
export const MM_MMAP_BASE: u32 = 96; // u64
export const MM_TOTAL_VM: u32 = 104; // u64 pages
export const MM_VMA_CACHE: u32 = 112; // u32 last VMA found
export const MM_NR_PTES: u32 = 116; // u32 (derived counts for the invariant checker)
export const MM_NR_PMDS: u32 = 120;
export const MM_NR_PUDS: u32 = 124;
export const MM_CPUMASK: u32 = 128; // u64 bitmap of CPUs that ran this mm (TLB model)
export const MM_ASID: u32 = 136; // u32 PCID/ASID
export const MM_STACK_VM: u32 = 140;
export const MM_DATA_VM: u32 = 144; // u64 pages
export const MM_LOCKED_VM: u32 = 152; // u64
export const MM_COMMITTED: u32 = 160; // i64 pages charged (VM_ACCOUNT)
// TLB model (arch/cpu.ts), at the end of the 256-byte record
export const MM_HW_ASID: u32 = 244; // u32 arm64 ASID: generation << 8 | asid
export const MM_TLB_GEN: u32 = 248; // u64 context.tlb_gen (inc_mm_tlb_gen)

export const MMF_HUGE_ZERO_FOLIO: u32 = 1 << 0;
export const MMF_DISABLE_THP_COMPLETELY: u32 = 1 << 1;
export const MMF_DISABLE_THP_EXCEPT_ADVISED: u32 = 1 << 2;
export const MMF_VM_HUGEPAGE: u32 = 1 << 3; // registered with khugepaged
export const MMF_HAS_PINNED: u32 = 1 << 4; // FOLL_PIN was used on this mm

// --- vm_area_struct ----------------------------------------------------------------
export const V_START: u32 = 0; // u64
export const V_END: u32 = 8; // u64
export const V_PGOFF: u32 = 16; // u64
export const V_FLAGS: u32 = 24; // u64 vm_flags
export const V_PROT: u32 = 32; // u64 vm_page_prot
export const V_MM: u32 = 40; // u32
export const V_ANON_VMA: u32 = 44; // u32 anon_vma (NULL until the first anon fault: vmf_anon_prepare)
export const V_FILE: u32 = 48; // u32 backing object (shmem inode, hugetlb file)
export const V_KIND: u32 = 52; // u8
export const V_AV_NEXT: u32 = 56; // u32 VMA list of the anon_vma
export const V_AV_PREV: u32 = 60;
export const V_FILE_NEXT: u32 = 64; // u32 i_mmap list
export const V_FILE_PREV: u32 = 68;
export const V_RESV: u32 = 72; // u32 hugetlb private reservation map
export const V_UFFD: u32 = 76; // u32 userfaultfd context (not modelled: 0)

export const VK_ANON: u8 = 0; // private anonymous memory
export const VK_SHMEM: u8 = 1; // shmem / memfd / MAP_SHARED|MAP_ANONYMOUS
export const VK_HUGETLB: u8 = 2;

// vm_flags (include/linux/mm.h)
export const VM_NONE: u64 = 0;
export const VM_READ: u64 = 0x1;
export const VM_WRITE: u64 = 0x2;
export const VM_EXEC: u64 = 0x4;
export const VM_SHARED: u64 = 0x8;
export const VM_MAYREAD: u64 = 0x10;
export const VM_MAYWRITE: u64 = 0x20;
export const VM_MAYEXEC: u64 = 0x40;
export const VM_MAYSHARE: u64 = 0x80;
export const VM_GROWSDOWN: u64 = 0x100;
export const VM_UFFD_MISSING: u64 = 0x200;
export const VM_PFNMAP: u64 = 0x400;
export const VM_UFFD_WP: u64 = 0x1000;
export const VM_LOCKED: u64 = 0x2000;
export const VM_IO: u64 = 0x4000;
export const VM_SEQ_READ: u64 = 0x8000;
export const VM_RAND_READ: u64 = 0x10000;
export const VM_DONTCOPY: u64 = 0x20000;
export const VM_DONTEXPAND: u64 = 0x40000;
export const VM_LOCKONFAULT: u64 = 0x80000;
export const VM_ACCOUNT: u64 = 0x100000;
export const VM_NORESERVE: u64 = 0x200000;
export const VM_HUGETLB: u64 = 0x400000;
export const VM_SYNC: u64 = 0x800000;
export const VM_ARCH_1: u64 = 0x1000000;
export const VM_WIPEONFORK: u64 = 0x2000000;
export const VM_DONTDUMP: u64 = 0x4000000;
export const VM_SOFTDIRTY: u64 = 0x8000000;
export const VM_MIXEDMAP: u64 = 0x10000000;
export const VM_HUGEPAGE: u64 = 0x20000000;
export const VM_NOHUGEPAGE: u64 = 0x40000000;
export const VM_MERGEABLE: u64 = 0x80000000;

// show_smap_vma_flags() mnemonics, one per bit (empty = not printed)
export const VM_FLAG_MNEMONICS: string =
  "rd wr ex sh mr mw me ms gd um pf .. uw lo io sr rr dc de lf ac nr ht sf ar wf dd sd mm hg nh mg";

// --- task ----------------------------------------------------------------------------
export const T_PID: u32 = 0;
export const T_MM: u32 = 4;
export const T_MIN_FLT: u32 = 8; // u64
export const T_MAJ_FLT: u32 = 16; // u64
export const T_ALIVE: u32 = 24; // u32
export const T_CPU: u32 = 28; // u32
export const T_TGID: u32 = 32; // u32

// --- anon_vma (one per fork family: the root) -------------------------------------------
export const AV_HEAD: u32 = 0; // u32 first VMA
export const AV_NR_VMAS: u32 = 4;

// --- folio (large folios only; order-0 folios live in their 4-byte frame entry) ---------
export const F_PFN: u32 = 0; // u32 head pfn
export const F_ORDER: u32 = 4; // u8
export const F_KIND: u32 = 5; // u8
export const F_FLAGS: u32 = 6; // u16
export const F_REFCOUNT: u32 = 8; // i32
export const F_PINCOUNT: u32 = 12; // i32
export const F_ENTIRE_MAPCOUNT: u32 = 16; // i32 PMD/PUD mappings
export const F_LARGE_MAPCOUNT: u32 = 20; // i32 all mappings (a PMD counts 1, each PTE 1)
export const F_NR_PAGES_MAPPED: u32 = 24; // i32 pages mapped by at least one PTE
export const F_HEAD_MAPCOUNT: u32 = 28; // i32 PTE mappings of the head page
export const F_DEFERRED_NEXT: u32 = 32; // u32 deferred split queue
export const F_DEFERRED_PREV: u32 = 36;
export const F_MAPPING: u32 = 40; // u32 anon_vma or inode
export const F_MM_ID0: u32 = 44; // u32 (0 = MM_ID_DUMMY)
export const F_MM_ID1: u32 = 48;
export const F_MM_CNT0: u32 = 52; // i32, -1 based like _mm_id_mapcount
export const F_MM_CNT1: u32 = 56;
export const F_INDEX: u32 = 64; // u64 linear page index
export const F_LIST_NEXT: u32 = 72; // u32 hugetlb free list / misc lists
export const F_LIST_PREV: u32 = 76;
export const F_PRIV: u32 = 80; // u32

export const FK_ANON: u8 = 1;
export const FK_SHMEM: u8 = 2;
export const FK_HUGETLB: u8 = 3;
export const FK_HUGE_ZERO: u8 = 4;

export const FF_HEAD_ANON_EXCLUSIVE: u16 = 1 << 0; // PageAnonExclusive of the head page
export const FF_PARTIALLY_MAPPED: u16 = 1 << 1;
export const FF_DEFERRED: u16 = 1 << 2; // on the deferred split queue
export const FF_DIRTY: u16 = 1 << 3;
export const FF_LAZYFREE: u16 = 1 << 4; // !PG_swapbacked (MADV_FREE)
export const FF_REFERENCED: u16 = 1 << 5;
export const FF_MAYBE_SHARED: u16 = 1 << 6; // FOLIO_MM_IDS_SHARED_BIT
export const FF_HEAD_NONZERO: u16 = 1 << 7; // head page content may be non-zero
export const FF_LARGE_RMAPPABLE: u16 = 1 << 8;
export const FF_RESTORE_RESERVE: u16 = 1 << 9;
export const FF_HUGETLB_FREE: u16 = 1 << 10;
export const FF_PAGES_NONZERO: u16 = 1 << 11; // per-page nonzero bits live in the frame entries
