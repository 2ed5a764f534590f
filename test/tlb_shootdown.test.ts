import { describe, it, expect } from 'vitest';
import { Machine, Process, Thread, SignalError, MiB } from '../src/index.js';

const TLB_EVENTS = ['nr_tlb_remote_flush', 'nr_tlb_remote_flush_received', 'nr_tlb_local_flush_all', 'nr_tlb_local_flush_one'];

/** vmstat nr_tlb_* and per-CPU TLB counter deltas of fn. */
function measure(m: Machine, fn: () => void) {
  const v0 = m.vmstat(), s0 = m.tlbStats();
  fn();
  const v1 = m.vmstat(), s1 = m.tlbStats();
  const vm = Object.fromEntries(TLB_EVENTS.map((k) => [k, v1[k] - v0[k]]));
  const cpu = s1.cpus.map((c, i) => Object.fromEntries(Object.keys(c).map((k) => [k, c[k] - s0.cpus[i][k]])));
  return { vm, cpu };
}

/** main on CPU 0 and one thread on each other CPU, all having touched [a, a + len) */
async function setup(cpus: number, len: number, tlb = 'skylake') {
  const m = await Machine.create({ ram: '1G', tlb, cpus, tlbCheck: true });
  const p = m.spawn();
  const threads: Thread[] = [];
  for (let c = 1; c < cpus; c++) threads.push(p.thread({ cpu: c }));
  const a = p.mmap(len, { align: 2 * MiB });
  p.touch(a, len, { write: true });
  for (const t of threads) t.touch(a, len);
  return { m, p, threads, a };
}

const cpumask = (m: Machine, p: Process) => (m.core.e.mm_cpumask as (pid: number) => number)(p.pid);

describe('shootdowns where the kernel flushes (KERNEL-SPEC §11, arch/x86/mm/tlb.c)', () => {
  it('mprotect of 16 pages mapped on 4 CPUs: one range flush, 3 IPIs, 16 INVLPGs on every CPU', async () => {
    const { m, p, threads, a } = await setup(4, 16 * 4096);
    expect(cpumask(m, p)).toBe(0b1111);
    const { vm, cpu } = measure(m, () => p.mprotect(a, 16 * 4096, 'r'));
    expect(vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 3, nr_tlb_local_flush_all: 0, nr_tlb_local_flush_one: 16 });
    expect(cpu.map((c) => [c.ipi_sent, c.ipi_received, c.shootdowns])).toEqual([[3, 0, 1], [0, 1, 0], [0, 1, 0], [0, 1, 0]]);
    expect(cpu.map((c) => [c.invlpg, c.flush_range, c.flush_full])).toEqual(Array(4).fill([16, 1, 0]));
    // the thread's cached writable translation is gone: its write faults and gets SIGSEGV
    expect(() => threads[0].touch(a, 4096, { write: true })).toThrow(SignalError);
    m.checkInvariants();
  });

  it('a range above tlb_single_page_flush_ceiling (33 pages) is a full flush; freeing tables reaches every CPU of the mask', async () => {
    const { m, p, a } = await setup(4, 128 * 4096);
    let r = measure(m, () => p.mprotect(a, 33 * 4096, 'r'));
    expect(r.vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 3, nr_tlb_local_flush_all: 0, nr_tlb_local_flush_one: 33 });
    r = measure(m, () => p.mprotect(a + 64 * 4096, 34 * 4096, 'r'));
    expect(r.vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 3, nr_tlb_local_flush_all: 1, nr_tlb_local_flush_one: 0 });
    expect(r.cpu.map((c) => c.flush_full)).toEqual([1, 1, 1, 1]);
    // a permission upgrade of pages nobody wrote since: PTEs change RW, so x86 still flushes (pte_needs_flush)
    r = measure(m, () => p.mprotect(a, 33 * 4096, 'rw'));
    expect(r.vm.nr_tlb_local_flush_one).toBe(33);
    r = measure(m, () => p.munmap(a, 128 * 4096));
    expect(r.vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 3, nr_tlb_local_flush_all: 1, nr_tlb_local_flush_one: 0 });
    expect(r.cpu.map((c) => c.ipi_received)).toEqual([0, 1, 1, 1]);
    m.checkInvariants();
  });

  it('a CPU that runs another mm gets no IPI, unless page tables are freed: then it leaves mm_cpumask', async () => {
    const { m, p, threads, a } = await setup(3, 64 * 4096);
    // CPU 2 switches to another process; its PCID slot keeps p's translations
    const q = m.spawn({ cpu: 2 });
    q.touch(q.mmap(4096), 4096, { write: true });
    expect(m.cpuState(2)).toMatchObject({ pid: q.pid, mmLoaded: true });
    let r = measure(m, () => p.mprotect(a, 8 * 4096, 'r'));
    expect(r.vm.nr_tlb_remote_flush_received).toBe(1); // only CPU 1
    expect(r.cpu[2].ipi_received).toBe(0);
    expect(cpumask(m, p)).toBe(0b111);
    // back on CPU 2, the thread's mm is behind: the switch flushes its PCID (tlb_gen)
    r = measure(m, () => threads[1].touch(a, 4096));
    expect(r.cpu[2].flush_on_switch).toBe(1);
    q.touch(q.mmap(4096), 4096, { write: true });
    r = measure(m, () => p.munmap(a, 64 * 4096));
    expect(r.cpu[2].ipi_received).toBe(1); // freed_tables: on_each_cpu_mask() to the whole mask
    expect(cpumask(m, p)).toBe(0b011); // flush_tlb_func() found another mm loaded: bit cleared
    m.checkInvariants();
  });

  it('a CPU in lazy TLB mode (after a kernel thread ran) is skipped and catches up at its next switch', async () => {
    const { m, p, threads, a } = await setup(2, 8 * 4096);
    m.khugepaged(1); // a kernel thread on CPU 0: p's mm stays loaded, lazily
    expect(m.cpuState(0)).toMatchObject({ pid: 0, lazy: true });
    let r = measure(m, () => threads[0].mprotect(a, 4096, 'r'));
    expect(r.vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 0, nr_tlb_local_flush_all: 0, nr_tlb_local_flush_one: 1 });
    r = measure(m, () => p.touch(a, 4096));
    expect(r.cpu[0].flush_on_switch).toBe(1);
    expect(r.cpu[0].context_switches).toBe(1);
    m.checkInvariants();
  });

  it('copy-on-write of a page another CPU caches: one flush_tlb_page with one IPI', async () => {
    const { m, p, threads, a } = await setup(2, 4096);
    const c = p.fork(); // dup_mmap: flush_tlb_mm(oldmm) reaches both CPUs
    const r = measure(m, () => p.touch(a, 4096, { write: true }));
    expect(r.vm).toEqual({ nr_tlb_remote_flush: 1, nr_tlb_remote_flush_received: 1, nr_tlb_local_flush_all: 0, nr_tlb_local_flush_one: 1 });
    expect(r.cpu[0].page_faults).toBe(1);
    c.exit();
    expect(threads[0].cpu).toBe(1);
    m.checkInvariants();
  });

  it('a permission upgrade without a flush costs a spurious fault on the CPU that cached the old entry', async () => {
    const { m, p, threads, a } = await setup(2, 4096);
    const c = p.fork();
    threads[0].touch(a, 4096); // CPU 1 caches the write-protected translation
    c.exit();
    let r = measure(m, () => p.touch(a, 4096, { write: true })); // wp_page_reuse(): writable, no flush
    expect(r.vm.nr_tlb_remote_flush).toBe(0);
    expect(r.cpu[0].spurious_faults).toBe(0);
    const pgfault = m.vmstat().pgfault;
    r = measure(m, () => threads[0].touch(a, 4096, { write: true }));
    expect(r.cpu[1].page_faults).toBe(1);
    expect(r.cpu[1].spurious_faults).toBe(1);
    expect(m.vmstat().pgfault).toBe(pgfault + 1); // handle_mm_fault() found nothing to do
    m.checkInvariants();
  });

  it('fork from a thread, exit of a thread, and moving a process between CPUs', async () => {
    const { m, p, threads, a } = await setup(3, 4 * 4096);
    const c = threads[1].fork();
    expect(c.cpu).toBe(2);
    threads[1].exit();
    expect(p.status().RssAnon).toBe(16);
    p.setCpu(1);
    expect(p.cpu).toBe(1);
    expect(m.cpuState(0)).toMatchObject({ pid: 0, lazy: true });
    p.touch(a, 4 * 4096, { write: true });
    expect(m.cpuState(1)).toMatchObject({ pid: p.pid, mmLoaded: true });
    c.exit();
    p.exit();
    threads[0].exit();
    expect(m.cpuState(1)).toMatchObject({ pid: 0, mmLoaded: false });
    m.checkInvariants();
  });

  it('arm64 (neoverse-n1) flushes with broadcast TLBIs: no IPIs, no x86 vmstat events', async () => {
    const { m, p, a } = await setup(4, 16 * 4096, 'neoverse-n1');
    let r = measure(m, () => p.mprotect(a, 16 * 4096, 'r'));
    expect(Object.values(r.vm)).toEqual([0, 0, 0, 0]);
    expect(r.cpu[0].tlbi_broadcast).toBe(16);
    expect(r.cpu.map((c) => [c.ipi_received, c.invlpg])).toEqual(Array(4).fill([0, 16]));
    // 512 strides or more: flush_tlb_mm() (TLBI ASIDE1IS)
    const b = p.mmap(4 * MiB, { align: 2 * MiB });
    p.touch(b, 4 * MiB, { write: true });
    r = measure(m, () => p.mprotect(b, 2 * MiB, 'r'));
    expect(r.cpu[0].tlbi_broadcast).toBe(1);
    expect(r.cpu.map((c) => c.flush_full)).toEqual([1, 1, 1, 1]);
    m.checkInvariants();
  });
});
