# A shared hugetlb mapping covering a whole 1G-aligned PUD range shares its PMD
# table with a forked child (huge_pmd_share): the child's PUD entry points at
# the parent's PMD table.
set hugetlb.2M 512
map a 1G hugetlb2M shared
touch a 0 4K write
fork c
in c touch a 2M 4K write
snapshot shared
in c munmap a 0 1G
snapshot child_unmapped
