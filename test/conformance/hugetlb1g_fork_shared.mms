# A shared 1G hugetlb page after fork: the child maps the same page from the
# page cache with its own PUD entry.
set hugetlb.1G 1
map a 1G hugetlb1G shared
touch a 0 4K write
fork c
in c touch a 4K 4K write
snapshot forked
expect a 4K 0x21
