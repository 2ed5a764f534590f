# Shrinking the pool below the pages in use turns them into surplus pages;
# they leave the pool when they are freed.
set hugetlb.2M 3
map a 4M hugetlb2M shared
touch a 0 2M write
set hugetlb.2M 0
snapshot shrunk
munmap a 0 4M
snapshot unmapped
set hugetlb.2M 1
snapshot regrown
