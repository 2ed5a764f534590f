# A read-only private hugetlb mapping still reserves all its pages; a read
# fault allocates a zeroed page. MAP_POPULATE of a shared mapping faults in
# every page at mmap time.
set hugetlb.2M 4
map a 4M hugetlb2M private prot=r
snapshot mapped
touch a 0 4K read
snapshot read
map b 4M hugetlb2M shared populate
snapshot populated
verify b 0 4M 0
