import { defineConfig } from 'vitest/config';

// The long property-test soak: `npm run soak` (HUGEMMU_SOAK_RUNS sets the run count).
export default defineConfig({
  test: {
    globalSetup: ['./test/setup/build-core.ts'],
    env: { HUGEMMU_CORE: 'debug', HUGEMMU_SOAK: '1' },
    include: ['test/**/*.soak.test.ts'],
    testTimeout: 3_600_000,
    pool: 'forks',
  },
});
