import { defineConfig } from 'vitest/config';

// The long soak of the property tests: `npm run soak`. Every property test runs with
// HUGEMMU_SOAK_RUNS cases (default 2000) from a random seed, with the invariant checker
// (debug core) after every step; a failure prints the seed and the shrunk sequence.
const runs = process.env.HUGEMMU_SOAK_RUNS ?? '2000';
export default defineConfig({
  test: {
    globalSetup: ['./test/setup/build-core.ts'],
    env: {
      HUGEMMU_CORE: 'debug',
      HUGEMMU_PROPERTY_RUNS: runs,
      HUGETLB_PROPERTY_RUNS: runs,
      HUGEMMU_PROPERTY_SEED: 'random',
      HUGEMMU_PROPERTY_TIMEOUT_MS: String(24 * 3600 * 1000),
    },
    include: ['test/**/*.property.test.ts', 'test/property.test.ts'],
    testTimeout: 24 * 3600 * 1000,
    pool: 'forks',
  },
});
