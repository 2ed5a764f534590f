# Private hugetlb mapping after fork: the page is shared read-only, the
# parent's write copies it (hugetlb_wp allocates a new page), the child keeps
# the original; the child's own write then reuses its page (mapcount 1).
set hugetlb.2M 3
map a 2M hugetlb2M private
touch a 0 2M write
fork c
snapshot forked
touch a 0 4K write gen=5
snapshot parent_cow
expect a 0 0x50
in c expect a 0 0x10
in c touch a 4K 4K write
snapshot child_write
in c verify a 8K 2M-8K 1
verify a 4K 2M-4K 1
