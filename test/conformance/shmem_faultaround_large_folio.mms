# 6.18 maps a large page-cache folio entirely on a read fault when it lies in the
# VMA and one page table (here the 511 pages left after a COW split), while
# 4K pages get the 16-page (64K) fault-around window.
set shmem.enabled always
map a 2M shmem private
touch a 0 2M read
touch a 4K 4K write
touch a 1M 4K read
snapshot one_read
set shmem.enabled never
set thp.size.64K never
map b 1M shmem shared
touch b 0 1M write
madvise b 0 1M dontneed
touch b 512K 4K read
snapshot small_read
