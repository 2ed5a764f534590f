# Repeated split and collapse of the same range: partial MADV_DONTNEED splits
# the PMD (deferred split), MADV_COLLAPSE builds a new THP from the PTEs, a
# partial mprotect splits it again, mprotect back merges the VMAs and a second
# collapse restores the PMD mapping.
set thp.enabled madvise
map a 4M anon
madvise a 0 4M hugepage
touch a 0 4M write
madvise a 1M 64K dontneed
snapshot split1
madvise a 0 4M collapse
snapshot collapse1
mprotect a 2M+8K 4K r
snapshot split2
mprotect a 2M+8K 4K rw
madvise a 0 4M collapse
snapshot collapse2
verify a 0 1M 1
verify a 1M 64K 0
verify a 1M+64K 3M-64K 1
