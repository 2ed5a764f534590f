# MADV_DONTNEED of part of a PMD-mapped shmem folio: the PMD is split (zapped),
# the page cache keeps the data, rereads map it again.
set shmem.enabled always
map a 4M shmem shared
touch a 0 4M write
madvise a 1M 2M dontneed
snapshot dontneed
touch a 0 4M read
snapshot reread
verify a 0 4M 1
