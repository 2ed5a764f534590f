# MADV_DONTNEED on a private hugetlb mapping restores the reservation of the
# zapped page; unaligned starts fail with EINVAL, short ends round down. After
# fork the parent zaps a page the child still maps: the restored reservation
# comes back only when the child frees the page (in between the kernel's
# resv_huge_pages underflows, so no snapshot is taken there).
set hugetlb.2M 2
map a 4M hugetlb2M private
touch a 0 4M write
snapshot touched
madvise a 1M 2M dontneed
madvise a 2M 1M dontneed
madvise a 0 2M dontneed
snapshot dontneed
touch a 0 4K read
snapshot refault
verify a 0 4K 0
fork c
madvise a 2M 2M dontneed
snapshot shared_dontneed
munmap a 0 4M
exit c
snapshot child_exited
