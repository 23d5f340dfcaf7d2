import fs from 'node:fs';
import net from 'node:net';

export interface ListeningSocket {
  /** As the kernel reports it: `127.0.0.1`, `0.0.0.0`, `::1`, `::`, `::ffff:127.0.0.1`, … */
  address: string;
  port: number;
  /** The socket's inode, by which /proc/<pid>/fd names it (`socket:[inode]`). */
  inode: string;
}

export interface PortHolder {
  pid: number;
  /** Its command line, cut to 200 characters. */
  command: string;
}

/**
 * The TCP sockets listening on this machine, from /proc/net/tcp and /proc/net/tcp6 (Linux; empty
 * elsewhere). Read from the kernel, so a listener is seen whichever program opened it and however.
 */
export function listeningSockets(): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string;
    try {
      table = fs.readFileSync(file, 'utf8');
    } catch {
      continue; // not Linux, or no IPv6
    }
    for (const line of table.split('\n').slice(1)) {
      const [, local, , state, , , , , , inode] = line.trim().split(/\s+/);
      if (state !== '0A' || !local || !inode) continue; // 0A: LISTEN
      const [hexAddress, hexPort] = local.split(':');
      sockets.push({ address: kernelAddress(hexAddress!), port: parseInt(hexPort!, 16), inode });
    }
  }
  return sockets;
}

/**
 * The pids holding each socket inode, for the processes this user may inspect (all of them as root),
 * from their /proc/<pid>/fd links. Limited to `pids` when given.
 */
export function socketOwners(pids?: Iterable<number>): Map<string, number> {
  const owners = new Map<string, number>();
  const candidates = pids ? [...pids] : processIds();
  for (const pid of candidates) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode) owners.set(inode, pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return owners;
}

/** The process listening on TCP `port`, when /proc shows it (Linux, and a process this user may inspect). */
export function portHolder(port: number): PortHolder | undefined {
  const inodes = new Set(listeningSockets().filter((s) => s.port === port).map((s) => s.inode));
  if (!inodes.size) return undefined;
  for (const [inode, pid] of socketOwners()) {
    if (inodes.has(inode)) return { pid, command: commandLine(pid) };
  }
  return undefined;
}

/** Whether TCP `port` on `host` can be bound now (it is free), answered without holding it. */
export function canBind(port: number, host = '127.0.0.1'): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });
}

/** The process's command line (arguments joined by spaces), cut to 200 characters; '' once it is gone. */
export function commandLine(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 200);
  } catch {
    return '';
  }
}

/** The parent of `pid`, from /proc/<pid>/stat; undefined once it is gone. */
export function parentPid(pid: number): number | undefined {
  try {
    // The command name (field 2) is in parentheses and may hold spaces: read after its closing one.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

function processIds(): number[] {
  try {
    return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);
  } catch {
    return [];
  }
}

/** /proc/net/tcp's hex address: IPv4 as one 32-bit word, IPv6 as four, each in host (little-endian) byte order. */
function kernelAddress(hex: string): string {
  const bytes = (hex.match(/.{8}/g) ?? []).flatMap((word) => (word.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  // Node writes it the usual way (`::1`, `::`, `::ffff:127.0.0.1`).
  return new net.SocketAddress({ address: groups.join(':'), family: 'ipv6' }).address;
}
