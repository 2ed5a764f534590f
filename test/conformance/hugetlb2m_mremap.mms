# mremap moves whole hugetlb pages: the PMD entries move, reservations and
# pages stay with the mapping; the old range is gone.
set hugetlb.2M 6
map a 4M hugetlb2M private
touch a 0 2M write
map s 4M hugetlb2M shared
touch s 0 4M write
mremap a b
mremap s t
snapshot moved
verify b 0 2M 1
verify b 2M 2M 0
verify t 0 4M 1
snapshot touched
munmap b 0 4M
munmap t 0 4M
snapshot unmapped
