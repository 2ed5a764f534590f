# Seed 003 (KERNEL-SPEC §8.4, V16-V18): high-granularity mapping of a shared
# hugetlb mapping. Two 2M pages in the pool; the 4M shared mapping reserves
# both (HugePages_Rsvd +2). MADV_SPLIT (V16 madv-split) remaps nothing.
# Four writes then fault four 4K pieces of the first hugepage: one page leaves
# the pool with its reservation (Free -1, Rsvd +1 from the reference point),
# HugetlbPages is what the pieces map (16 kB), and page tables are the PUD,
# PMD and one PTE table below the split PMD entry (VmPTE 12 kB). With the
# thp-like mapcount (V17 default) the folio's mapcount is 4, so smaps calls
# the pieces Shared_Hugetlb.
# MADV_POPULATE_READ of the second hugepage goes through follow_hugetlb_page
# with the fixed skip (V18): every 4K piece is absent, faulted and skipped by
# PAGE_SIZE, 512 faults (pgfault/minflt 4 + 512), one more PTE table (16 kB),
# the second page leaves the pool (Free -2, Rsvd 0). All 2048 kB of pieces
# are shared by the same count.
# MADV_COLLAPSE maps both hugepages back with one PMD each: the two PTE
# tables are freed (VmPTE and PageTables 8 kB), HugetlbPages
# is 4096 kB of hstate-level mappings, each page mapped once (Private). The
# data written into pieces is intact, the holes read zero without faulting.
set hugetlb.2M 2
set hugemmu.hgm.enable madv-split
map a 4M hugetlb2M shared
madvise a 0 4M split
touch a 0 16K write
snapshot pieces
madvise a 2M 2M populate_read
snapshot populated
madvise a 0 4M collapse
snapshot collapsed
verify a 0 16K 1
verify a 16K 2M-16K 0
verify a 2M 2M 0
snapshot verified
