# 64K mTHP folios partly unmapped (munmap in the middle of a folio) and
# partly dropped (MADV_DONTNEED), then refaulted: the refault cannot use a
# 64K folio where the range is not empty, so it falls back to smaller orders.
set thp.enabled never
set thp.size.16K always
set thp.size.64K always
map a 512K anon
touch a 0 512K write
munmap a 100K 8K
madvise a 192K 20K dontneed
snapshot holes
touch a 192K 64K write
snapshot refault
verify a 0 100K 1
verify a 256K 256K 1
