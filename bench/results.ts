/** The benchmark's figures: one row per measurement, a compact table, and the JSON file. */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Row {
  /** Phase, e.g. "drain 5,000". */
  phase: string;
  /** What was measured, e.g. "m365-imap-in" or "imapflow script". */
  subject: string;
  value: number | string;
  unit: string;
  /** The figure compared with the target (ratio or absolute), as shown in the table. */
  target?: string;
  met?: boolean;
  note?: string;
}

export class Results {
  readonly rows: Row[] = [];
  readonly details: Record<string, unknown> = {};
  readonly startedAt = new Date();

  add(row: Row): Row {
    this.rows.push(row);
    const value = typeof row.value === 'number' ? round(row.value) : row.value;
    const target = row.target ? `  [${row.met === undefined ? '' : row.met ? 'met: ' : 'NOT met: '}${row.target}]` : '';
    console.log(`bench: ${row.phase} | ${row.subject}: ${value} ${row.unit}${target}${row.note ? ` (${row.note})` : ''}`);
    return row;
  }

  detail(key: string, value: unknown): void {
    this.details[key] = value;
  }

  /** Markdown table of every row. */
  table(): string {
    const lines = ['| phase | subject | value | target |', '|---|---|---|---|'];
    for (const row of this.rows) {
      const value = typeof row.value === 'number' ? round(row.value).toLocaleString('en-US') : row.value;
      const target = row.target ? `${row.met === undefined ? '' : row.met ? '✅ ' : '❌ '}${row.target}` : '';
      lines.push(`| ${row.phase} | ${row.subject} | ${value} ${row.unit}${row.note ? ` — ${row.note}` : ''} | ${target} |`);
    }
    return lines.join('\n');
  }

  /** One line per figure that has a goal: met or not, so a run ends with its verdicts. */
  verdicts(): string {
    return this.rows.filter((row) => row.met !== undefined)
      .map((row) => `${row.met ? '✅' : '❌'} ${row.phase} — ${row.subject}: ${row.target ?? ''}`).join('\n');
  }

  /** Writes bench/results/<timestamp>.json and bench/results/latest.json; returns the first path. */
  write(dir: string, config: unknown): string {
    mkdirSync(dir, { recursive: true });
    const body = JSON.stringify({
      startedAt: this.startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` },
      config,
      rows: this.rows,
      details: this.details,
    }, (_key, value: unknown) => (value instanceof Set ? [...value] : value), 2);
    const file = path.join(dir, `${this.startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, body);
    writeFileSync(path.join(dir, 'latest.json'), body);
    return file;
  }
}

export function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return Number(value.toFixed(digits));
}

/** The q-quantile (0..1) of `values` (nearest rank). */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** The median (the mean of the two middle values of an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A fixed-seed PRNG for choices the benchmark makes (which mailbox gets the next mail, gaps). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
