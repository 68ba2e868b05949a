/** "BENCH <kind> <args…> <ms>" lines on stdout, the same format as the Node-RED function nodes print. */
import { readFileSync } from 'node:fs';

export function mark(kind: string, ...args: Array<string | number>): void {
  process.stdout.write(`BENCH ${kind}${args.map((a) => ` ${a}`).join('')} ${Date.now()}\n`);
}

/** Peak resident set size of this process (VmHWM), in MB. */
export function peakRssMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  return Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024;
}
