# mprotect of whole huge pages splits the hugetlb VMA; write faults on the
# read-only part get SIGSEGV; making it writable again.
set hugetlb.2M 2
map a 4M hugetlb2M shared
touch a 0 4M write
mprotect a 0 2M r
snapshot ro
touch a 0 4K write
touch a 0 4K read
mprotect a 0 2M rw
snapshot rw_again
touch a 0 4K write
snapshot written
