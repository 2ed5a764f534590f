# A private hugetlb mapping split by munmap and mprotect: the unmapped part
# gives its unused reservations back at once; after mprotect read-only and back
# the page stays write-protected (PAGE_COPY) and the next write faults to reuse it.
set hugetlb.2M 4
map a 8M hugetlb2M private
touch a 0 2M write
snapshot touched
munmap a 4M 4M
snapshot unmapped
mprotect a 0 2M r
mprotect a 0 2M rw
snapshot reprotected
touch a 0 4K write
snapshot written
touch a 2M 4K write
snapshot second
