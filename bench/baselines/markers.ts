/** "BENCH <kind> <args…> <ms>" lines on stdout, the same format as the Node-RED function nodes print. */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Wall time in ms with sub-millisecond precision (Date.now() has whole ms). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export function mark(kind: string, ...args: Array<string | number>): void {
  process.stdout.write(`BENCH ${kind}${args.map((a) => ` ${a}`).join('')} ${preciseNow().toFixed(2)}\n`);
}

/** VmRSS (now) or VmHWM (peak) of a process from /proc, in MB; throws once the process is gone. */
export function statusMb(field: 'VmHWM' | 'VmRSS', pid: number | 'self' = 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) / 1024;
}

/** Peak resident set size of this process (VmHWM), in MB. */
export function peakRssMb(): number {
  return statusMb('VmHWM');
}

/** Resident set size of this process now (VmRSS), in MB. */
export function rssMb(): number {
  return statusMb('VmRSS');
}
