/**
 * A TCP port free on 127.0.0.1 now, below the kernel's ephemeral range: test files run side by side,
 * and a port picked with listen(0) can be taken by any outgoing connection (another file's, another
 * process's) before the server it was picked for binds it, or after that server let it go.
 */
export { freeLowPort as freePort } from '../../ops/ports.ts';
