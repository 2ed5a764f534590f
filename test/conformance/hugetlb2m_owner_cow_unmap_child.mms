# Pool of 1: after fork the owner of a private mapping writes; no page is free
# for the copy, so the kernel unmaps the page from the child (unmap_ref_private)
# and the owner reuses it. The child's next access gets SIGBUS.
set hugetlb.2M 1
map a 2M hugetlb2M private
touch a 0 4K write
fork c
touch a 0 4K write gen=5
snapshot owner_cow
expect a 0 0x50
in c touch a 0 4K read
snapshot child_sigbus
