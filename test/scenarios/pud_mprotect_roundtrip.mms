# KERNEL-SPEC §13 scenario 37, seeds 000 + 004.
# mprotect of the whole GiB goes through change_huge_pud() (the PUD stays a
# leaf: no thp_split_pud). Seed 004 does not upgrade the write bit (V12
# none), so after RO -> RW the PUD is still read-only and the next write is a
# write-protect fault; do_huge_pud_wp_page() splits even an exclusive PUD
# (V6 split-to-pte-always): thp_split_pud 1, pgfault +1, no new folio and
# no new page tables (VmPTE stays at 2056 kB).
machine data=off
set thp.size.1G always
map x 1G anon align=1G
touch x 0 4K write
mprotect x 0 1G r
mprotect x 0 1G rw
snapshot roundtrip
touch x 0 4K write
snapshot wrote
