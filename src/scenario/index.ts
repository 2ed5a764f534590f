/** The .mms scenario runner: parse, run, format, compare. */
export { parseScenario, ScenarioError, ARENA, ORACLE_ADVICES, type Scenario, type Op, type Region, type RegionKind, type ParseOptions } from './parse.js';
export { runScenario, scenarioVocabulary, KERNEL_MODEL, type RunOptions } from './run.js';
export { scenarioKnobs, canonicalKnobName, type ScenarioKnob } from './knobs.js';
export { formatResult, type ScenarioResult, type SnapshotReport, type ProcReport, type RegionReport, type ErrorEntry, type MismatchEntry } from './result.js';
export { compareResults } from './compare.js';
export { formatReport } from './report.js';
export { VERSION } from './version.js';
