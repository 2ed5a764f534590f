# MADV_REMOVE punches a hole in the hugetlbfs file: the pages leave every
# mapping and the page cache, the pool gets them back (and the hole's
# reservations go too); a later touch allocates a zeroed page again.
set hugetlb.2M 4
map a 4M hugetlb2M shared
touch a 0 4M write
fork c
madvise a 0 2M remove
snapshot removed
verify a 0 2M 0
in c verify a 2M 2M 1
snapshot refaulted
