# Seed 003, V18 buggy-rfc-v2: follow_hugetlb_page() of RFC v2 advanced its
# fast skip by `vaddr += pages_per_hpte` (a page count added to an address;
# fixed in v1 as pages_per_hpte * PAGE_SIZE). Same setup as
# hugetlb_hgm_split_collapse: four 4K pieces of the first hugepage (Shared by
# the thp-like mapcount 4). MADV_POPULATE_READ of the second hugepage faults
# its first 4K piece (pgfault/minflt 5, a PTE table: VmPTE 16 kB, the second
# page leaves the pool), then skips 1 byte per "page": after 512 iterations
# vaddr has moved 512 bytes, the remainder is 0 and GUP reports all 512
# pages populated. Only that one piece is mapped: Private_Hugetlb 4 kB (its
# page's mapcount is 1). The populate did not map the rest: reading the next
# piece faults (minflt 6).
set hugetlb.2M 2
set hugemmu.hgm.enable madv-split
set hugemmu.hgm.gupSkipMath buggy-rfc-v2
map a 4M hugetlb2M shared
madvise a 0 4M split
touch a 0 16K write
madvise a 2M 2M populate_read
snapshot populated
touch a 2M+4K 4K read
snapshot touched
