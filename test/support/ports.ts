export { freePort } from '../../ops/ports.ts';
