/** hugemmu's version as the scenario output names it (`"oracle": "hugemmu/<version>"`); a test keeps it equal to package.json. */
export const VERSION = '0.1.0';
