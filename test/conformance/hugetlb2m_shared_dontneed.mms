# MADV_DONTNEED on a shared hugetlb mapping only zaps the page tables: the
# pages stay in the hugetlbfs page cache and the data survives a refault.
set hugetlb.2M 2
map a 4M hugetlb2M shared
touch a 0 4M write
madvise a 0 2M dontneed
snapshot after_dontneed
verify a 0 4M 1
snapshot refaulted
