# MADV_PAGEOUT without swap unmaps shmem pages (try_to_unmap; a PMD is split
# first: thp_split_pmd) but cannot write them out, so they stay in the page
# cache (Shmem, ShmemHugePages unchanged) and refault; MADV_COLD changes nothing visible.
# Two regions: a (4K pages) and b (one PMD-size folio).
set shmem.enabled never
map a 1M shmem shared
touch a 0 1M write
madvise a 0 1M pageout
snapshot small_pageout
set shmem.enabled always
map b 2M shmem shared
touch b 0 2M write
madvise b 0 2M pageout
snapshot pmd_pageout
madvise b 0 2M cold
snapshot pmd_cold
verify a 0 1M 1
verify b 0 2M 1
snapshot verified
