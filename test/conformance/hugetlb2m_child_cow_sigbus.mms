# Pool of 1: a forked child writes to a shared private hugetlb page; it has no
# reservation and no page is free, so its COW fault gets SIGBUS.
set hugetlb.2M 1
map a 2M hugetlb2M private
touch a 0 4K write
fork c
in c touch a 0 4K write
snapshot child_failed
expect a 0 0x10
