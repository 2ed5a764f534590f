// x86-64 page-table entry bits (arch/x86/include/asm/pgtable_types.h) and the
// helpers of arch/x86/include/asm/pgtable.h that the mm code relies on.

export const _PAGE_PRESENT: u64 = 1 << 0;
export const _PAGE_RW: u64 = 1 << 1;
export const _PAGE_USER: u64 = 1 << 2;
export const _PAGE_PWT: u64 = 1 << 3;
export const _PAGE_PCD: u64 = 1 << 4;
export const _PAGE_ACCESSED: u64 = 1 << 5;
export const _PAGE_DIRTY: u64 = 1 << 6;
export const _PAGE_PSE: u64 = 1 << 7; // leaf at PMD/PUD level (PAT at PTE level)
export const _PAGE_GLOBAL: u64 = 1 << 8;
export const _PAGE_PROTNONE: u64 = _PAGE_GLOBAL; // only when !PRESENT
export const _PAGE_SPECIAL: u64 = 1 << 9; // SOFTW1: no struct page (zero page, huge zero PMD)
export const _PAGE_UFFD_WP: u64 = 1 << 10; // SOFTW2
export const _PAGE_SOFT_DIRTY: u64 = 1 << 11; // SOFTW3
export const _PAGE_PAT_LARGE: u64 = 1 << 12;
export const _PAGE_DEVMAP: u64 = <u64>1 << 57; // SOFTW4, <= 6.15 only (DAX-2024 variant)
export const _PAGE_SAVED_DIRTY: u64 = <u64>1 << 58; // SOFTW5
export const _PAGE_NX: u64 = <u64>1 << 63;
// arm64 PTE_CONT (bit 52, spec §1.4), kept in an x86 software-available bit by the contpte
// presets (arch/contpte.ts); never set on x86 presets
export const _PAGE_CONT: u64 = <u64>1 << 52;
export const PTE_PFN_MASK: u64 = 0x000ffffffffff000;

// _PAGE_CHG_MASK: bits pte_modify() keeps from the old entry
export const _PAGE_CHG_MASK: u64 = PTE_PFN_MASK | _PAGE_PCD | _PAGE_PWT | _PAGE_SPECIAL | _PAGE_ACCESSED |
  _PAGE_DIRTY | _PAGE_SAVED_DIRTY | _PAGE_SOFT_DIRTY | _PAGE_UFFD_WP | _PAGE_PSE /* PAT at PTE */ | _PAGE_CONT;
export const _HPAGE_CHG_MASK: u64 = _PAGE_CHG_MASK | _PAGE_PSE | _PAGE_PAT_LARGE;

// table (non-leaf) entries: _PAGE_TABLE
export const _PAGE_TABLE: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

// protection_map[] values (arch/x86/mm/pgprot.c)
export const PAGE_NONE: u64 = _PAGE_ACCESSED | _PAGE_GLOBAL;
export const PAGE_SHARED: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_SHARED_EXEC: u64 = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_COPY: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_COPY_EXEC: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;
export const PAGE_READONLY: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX;
export const PAGE_READONLY_EXEC: u64 = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED;

@inline export function pte_pfn(e: u64): u32 { return <u32>((e & PTE_PFN_MASK) >> 12); }
@inline export function pfn_pte(pfn: u32, prot: u64): u64 { return (<u64>pfn << 12) | prot; }
@inline export function pte_none(e: u64): bool { return e == 0; }
// pte_present(): PRESENT or PROTNONE (a PROT_NONE mapping is still "present" to the kernel)
@inline export function pte_present(e: u64): bool { return (e & (_PAGE_PRESENT | _PAGE_PROTNONE)) != 0; }
@inline export function pte_protnone(e: u64): bool { return (e & (_PAGE_PRESENT | _PAGE_PROTNONE)) == _PAGE_PROTNONE; }
@inline export function pte_write(e: u64): bool { return (e & _PAGE_RW) != 0; }
@inline export function pte_dirty(e: u64): bool { return (e & (_PAGE_DIRTY | _PAGE_SAVED_DIRTY)) != 0; }
@inline export function pte_young(e: u64): bool { return (e & _PAGE_ACCESSED) != 0; }
@inline export function pte_special(e: u64): bool { return (e & _PAGE_SPECIAL) != 0; }
@inline export function pte_soft_dirty(e: u64): bool { return (e & _PAGE_SOFT_DIRTY) != 0; }
@inline export function pte_uffd_wp(e: u64): bool { return (e & _PAGE_UFFD_WP) != 0; }

// pte_mkdirty() sets D and SOFT_DIRTY; a write-protected entry keeps D in SAVED_DIRTY
@inline export function pte_mkdirty(e: u64): u64 {
  e |= _PAGE_SOFT_DIRTY;
  if (e & _PAGE_RW) return e | _PAGE_DIRTY;
  return e | _PAGE_SAVED_DIRTY;
}
@inline export function pte_mkclean(e: u64): u64 { return e & ~(_PAGE_DIRTY | _PAGE_SAVED_DIRTY); }
@inline export function pte_mkyoung(e: u64): u64 { return e | _PAGE_ACCESSED; }
@inline export function pte_mkold(e: u64): u64 { return e & ~_PAGE_ACCESSED; }
@inline export function pte_mkspecial(e: u64): u64 { return e | _PAGE_SPECIAL; }
// pte_mkwrite(): RW, and a saved dirty bit becomes the hardware dirty bit again
@inline export function pte_mkwrite(e: u64): u64 {
  if (e & _PAGE_SAVED_DIRTY) e = (e & ~_PAGE_SAVED_DIRTY) | _PAGE_DIRTY;
  return e | _PAGE_RW;
}
// pte_wrprotect(): clear RW and move D to SAVED_DIRTY (shadow-stack safety)
@inline export function pte_wrprotect(e: u64): u64 {
  e &= ~_PAGE_RW;
  if (e & _PAGE_DIRTY) e = (e & ~_PAGE_DIRTY) | _PAGE_SAVED_DIRTY;
  return e;
}
@inline export function pte_modify(e: u64, newprot: u64): u64 {
  let r = (e & _PAGE_CHG_MASK) | (newprot & ~_PAGE_CHG_MASK);
  // a write-protected result keeps D as SAVED_DIRTY (pte_modify -> pte_mksaveddirty)
  if (!(r & _PAGE_RW) && (r & _PAGE_DIRTY)) r = (r & ~_PAGE_DIRTY) | _PAGE_SAVED_DIRTY;
  else if ((r & _PAGE_RW) && (r & _PAGE_SAVED_DIRTY)) r = (r & ~_PAGE_SAVED_DIRTY) | _PAGE_DIRTY;
  return r;
}
@inline export function pmd_modify(e: u64, newprot: u64): u64 {
  let r = (e & _HPAGE_CHG_MASK) | (newprot & ~_HPAGE_CHG_MASK);
  if (!(r & _PAGE_RW) && (r & _PAGE_DIRTY)) r = (r & ~_PAGE_DIRTY) | _PAGE_SAVED_DIRTY;
  else if ((r & _PAGE_RW) && (r & _PAGE_SAVED_DIRTY)) r = (r & ~_PAGE_SAVED_DIRTY) | _PAGE_DIRTY;
  return r;
}

// Huge entries: PSE marks a leaf at PMD/PUD level.
@inline export function pmd_trans_huge(e: u64): bool { return (e & _PAGE_PSE) != 0 && (e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) != 0; }
@inline export function pmd_leaf(e: u64): bool { return (e & _PAGE_PSE) != 0; }
@inline export function pmd_mkhuge(e: u64): u64 { return e | _PAGE_PSE; }
// pmd_present() is true for an invalidated huge PMD too (PSE kept)
@inline export function pmd_present(e: u64): bool { return (e & (_PAGE_PRESENT | _PAGE_PROTNONE | _PAGE_PSE)) != 0; }
@inline export function pmd_mkinvalid(e: u64): u64 { return e & ~(_PAGE_PRESENT | _PAGE_PROTNONE); }

// vm_get_page_prot(): protection_map[vm_flags & (READ|WRITE|EXEC|SHARED)]
export function vm_get_page_prot(vm_flags: u64): u64 {
  const r = (vm_flags & 1) != 0, w = (vm_flags & 2) != 0, x = (vm_flags & 4) != 0, s = (vm_flags & 8) != 0;
  if (!r && !w && !x) return PAGE_NONE;
  if (s) {
    if (w) return x ? PAGE_SHARED_EXEC : PAGE_SHARED;
    return x ? PAGE_READONLY_EXEC : PAGE_READONLY;
  }
  if (w) return x ? PAGE_COPY_EXEC : PAGE_COPY;
  return x ? PAGE_READONLY_EXEC : PAGE_READONLY;
}
