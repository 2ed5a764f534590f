# Seed 000 partial ranges (issue: "Partial munmap, mprotect and madvise split
# the PUD first"). munmap of 4 KiB inside the PUD THP: the VMA split calls the
# PUD variant of vma_adjust_trans_huge, which splits the PUD to PTEs with the
# deposited tables (thp_split_pud 1, VmPTE unchanged), then the zap frees one
# page: RssAnon 1 GiB - 4 kB. The folio is now partially mapped: it goes on
# the deferred split queue (thp_deferred_split_page, split_deferred,
# nr_anon_partially_mapped) and no longer counts in AnonHugePages (only PUD
# and PMD mappings do).
machine data=off
set thp.size.1G always
map x 1G anon align=1G
touch x 0 4K write
munmap x 4K 4K
snapshot split
