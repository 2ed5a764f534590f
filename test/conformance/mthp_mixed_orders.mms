# Several mTHP sizes at once in VMAs of odd sizes and offsets: the fault path
# takes the highest enabled order that is aligned, fits the VMA and whose
# range has no populated PTE (alloc_anon_folio / thp_vma_suitable_orders).
set thp.enabled never
set thp.size.16K always
set thp.size.64K always
set thp.size.256K always
set thp.size.1M always
map a 1M+20K anon skew=12K
touch a 0 1M+20K write
snapshot odd_vma
map b 2M anon skew=64K
touch b 0 4K write
touch b 256K-4K 4K write
touch b 600K 8K write
snapshot sparse
touch b 0 2M-64K read
snapshot read_rest
verify a 0 1M+20K 1
verify b 0 4K 1
