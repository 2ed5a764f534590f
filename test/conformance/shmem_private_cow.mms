# KERNEL-SPEC §13 31: a private mapping of a huge shmem file: read maps the PMD,
# a write splits (zaps) it and copies one page.
set shmem.enabled always
map a 2M shmem private
touch a 0 2M read
snapshot read
touch a 4K 4K write
snapshot wrote
expect a 4K 0x11
expect a 0 0x00
touch a 0 2M read
snapshot reread
