/* access_tlb_hit baseline: a set-associative TLB lookup (tag compare across
 * the ways of one set, PCID in the tag, LRU age update on hit) over a working
 * set that always hits. Default geometry: a 64-entry 4-way L1 DTLB (Skylake /
 * ChampSim default, TLB-PRESETS.md).
 *
 * usage: tlb_lookup [entries=64] [ways=4] [lookups_per_rep=20000000] [reps=11]
 * prints {"ns_per_lookup", "lookups_per_s", ...}
 */
#include "common.h"

typedef struct {
  uint64_t *tag; /* vpn | pcid << 52 | valid << 63 */
  uint64_t *pfn;
  uint8_t *age;
  uint32_t sets, ways;
  uint64_t hits, misses;
} tlb_t;

static inline int tlb_lookup(tlb_t *t, uint64_t vpn, uint32_t pcid, uint64_t *pfn) {
  const uint32_t set = (uint32_t)vpn & (t->sets - 1);
  const uint64_t key = vpn | ((uint64_t)pcid << 52) | (1ull << 63);
  uint64_t *tags = t->tag + (size_t)set * t->ways;
  for (uint32_t w = 0; w < t->ways; w++) {
    if (tags[w] == key) {
      uint8_t *age = t->age + (size_t)set * t->ways;
      const uint8_t a = age[w];
      for (uint32_t k = 0; k < t->ways; k++) if (age[k] < a) age[k]++;
      age[w] = 0;
      *pfn = t->pfn[(size_t)set * t->ways + w];
      t->hits++;
      return 1;
    }
  }
  t->misses++;
  return 0;
}

static void tlb_fill(tlb_t *t, uint64_t vpn, uint32_t pcid, uint64_t pfn) {
  const uint32_t set = (uint32_t)vpn & (t->sets - 1);
  uint8_t *age = t->age + (size_t)set * t->ways;
  uint32_t victim = 0;
  for (uint32_t w = 0; w < t->ways; w++) if (age[w] > age[victim]) victim = w;
  for (uint32_t k = 0; k < t->ways; k++) if (age[k] < t->ways - 1) age[k]++;
  age[victim] = 0;
  t->tag[(size_t)set * t->ways + victim] = vpn | ((uint64_t)pcid << 52) | (1ull << 63);
  t->pfn[(size_t)set * t->ways + victim] = pfn;
}

int main(int argc, char **argv) {
  const uint32_t entries = (uint32_t)arg_long(argc, argv, 1, 64);
  const uint32_t ways = (uint32_t)arg_long(argc, argv, 2, 4);
  const long n = arg_long(argc, argv, 3, 20000000);
  const int reps = (int)arg_long(argc, argv, 4, 11);
  tlb_t t = {0};
  t.ways = ways;
  t.sets = entries / ways;
  t.tag = calloc(entries, sizeof(uint64_t));
  t.pfn = calloc(entries, sizeof(uint64_t));
  t.age = calloc(entries, 1);
  for (uint32_t s = 0; s < t.sets; s++) for (uint32_t w = 0; w < ways; w++) t.age[s * ways + w] = (uint8_t)w;
  const uint64_t vpn0 = 0x7f0000000ull;
  for (uint32_t i = 0; i < entries; i++) tlb_fill(&t, vpn0 + i, 1, 0x100000 + i);
  double *ns = calloc((size_t)reps, sizeof(double));
  uint64_t sum = 0;
  for (int r = -1; r < reps; r++) {
    const double t0 = now_ns();
    for (long i = 0; i < n; i++) {
      uint64_t pfn;
      const uint64_t vpn = vpn0 + ((uint64_t)i & (entries - 1));
      if (!tlb_lookup(&t, vpn, 1, &pfn)) { tlb_fill(&t, vpn, 1, 0); pfn = 0; }
      sum += pfn;
    }
    const double t1 = now_ns();
    if (r >= 0) ns[r] = (t1 - t0) / (double)n;
  }
  const double med = median(ns, reps), best = ns[0];
  printf("{\"program\":\"tlb_lookup\",\"entries\":%u,\"ways\":%u,\"reps\":%d,\"ns_per_lookup\":%.4f,\"lookups_per_s\":%.1f,\"median_ns_per_lookup\":%.4f,\"misses\":%llu,\"checksum\":%llu}\n",
         entries, ways, reps, best, 1e9 / best, med, (unsigned long long)t.misses, (unsigned long long)(sum & 0xffff));
  return 0;
}
