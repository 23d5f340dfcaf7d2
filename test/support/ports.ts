export { freePort } from '../../src/cluster/ports.ts';
