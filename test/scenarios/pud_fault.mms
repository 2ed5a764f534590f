# KERNEL-SPEC §13 scenario 35, seed 000 do_huge_pud_anonymous_page().
# thp.size.1G always: a 2 GiB region aligned to 1 GiB, one write then one read
# in the other GiB. Each fault allocates an order-18 folio through the
# gigantic allocator (thp_fault_alloc, hugepages-1048576kB anon_fault_alloc)
# and pre-deposits 1 PMD table + 512 PTE tables (alloc_pud_predeposit_ptables),
# charged at once: mm_inc_nr_pmds + 512 x mm_inc_nr_ptes = VmPTE +2052 kB per
# PUD THP; the first fault also allocates the PUD table (+4 kB), so
# PageTables/VmPTE grow 2056 kB then 2052 kB. RssAnon grows 1 GiB per fault
# (MM_ANONPAGES += 262144) and AnonHugePages counts the PUD (V25 default).
# A read fault is not special: there is no huge zero PUD.
machine data=off
set thp.size.1G always
map x 2G anon align=1G
touch x 0 4K write
snapshot write_fault
touch x 1G 4K read
snapshot read_fault
