# KERNEL-SPEC §13 scenario 36, seed 000 do_huge_pud_wp_page().
# After fork both processes map the 1 GiB folio with a write-protected PUD;
# the child got its own 1 PMD + 512 PTE tables (copy_huge_pud here: a COW
# split in the child must not need memory either), so its VmPTE is 2056 kB.
# The parent's write splits its PUD unconditionally (V6 split-to-pte-always):
# thp_split_pud 1, PUD -> the deposited PMD table -> 512 deposited PTE tables
# (no new page tables: VmPTE unchanged), then the retried fault copies one
# 4 KiB page (AnonPages +4 kB; the parent's RssAnon is unchanged: one page
# of the folio replaced by its copy). The child still maps the PUD
# (AnonHugePages 1 GiB) and reads the old bytes. Pss: page 0 is mapped once
# in each process now, the other 262143 pages twice: 4 + 1048572/2 = 524290 kB.
# PageTables +4112 kB at fork: the child's PUD table and 513 deposited tables
# in both processes (the child's PGD is not in PageTables, as the kernel's
# thp_fork_child_write shows).
set thp.size.1G always
map x 1G anon align=1G
touch x 0 1G write stride=2M
fork c
snapshot forked
touch x 0 4K write gen=3
expect x 0 0x30
in c expect x 0 0x10
in c verify x 0 1G 1 stride=2M
verify x 2M 1G-2M 1 stride=2M
snapshot parent_wrote
