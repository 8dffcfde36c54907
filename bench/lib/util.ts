import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';

/** The repository root: this file is compiled to dist/bench/lib/util.js. */
export const ROOT = join(__dirname, '..', '..', '..');

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got ${raw}`);
  return value;
}

export function envNumber(name: string, fallback: number): number {
  return envInt(name, fallback);
}

/** Nearest-rank percentile of an unsorted sample (sorts a copy). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(values: readonly number[]): {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
} {
  return {
    n: values.length,
    p50: round(percentile(values, 50), 3),
    p90: round(percentile(values, 90), 3),
    p99: round(percentile(values, 99), 3),
    max: round(
      values.reduce((a, b) => Math.max(a, b), 0),
      3,
    ),
  };
}

export function round(value: number, digits = 0): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function fmtInt(value: number): string {
  return Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : String(value);
}

export function mib(bytes: number): number {
  return round(bytes / (1024 * 1024), 1);
}

/** Resident set size of a process in bytes, from /proc (0 when it is gone). */
export function rssBytes(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /VmRSS:\s+(\d+)\s+kB/.exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Nice value of a process's threads from /proc: "10", or "0-10" when they differ ("" when it is gone). */
export function threadNiceLabel(pid: number): string {
  try {
    const nices = readdirSync(`/proc/${pid}/task`).map(
      // Field 19 of stat; the command name (field 2) may hold spaces, so count after its ')'.
      (tid) => Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]),
    );
    const [lowest, highest] = [Math.min(...nices), Math.max(...nices)];
    return lowest === highest ? String(lowest) : `${lowest}-${highest}`;
  } catch {
    return '';
  }
}

/** Sums a Prometheus text-format sample over all label sets of `name`. */
export function promValue(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

const CLOCK_TICKS = 100;

/**
 * Node flags that make an app write a CPU profile into bench/results/profiles when it stops
 * (BENCH_PROFILE=1); the preload lets it exit normally on Nest's re-raised SIGTERM.
 */
export function profileNodeArgs(): string[] {
  const dir = join(ROOT, 'bench', 'results', 'profiles');
  mkdirSync(dir, { recursive: true });
  return [
    '--require',
    join(ROOT, 'dist', 'bench', 'profile-preload.js'),
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ];
}

/** User plus system CPU of a process so far, in milliseconds (Linux clock ticks of 10 ms). */
export function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

export interface CpuSnapshot {
  at: number;
  /** CPU seconds per process id. */
  byPid: Map<number, { comm: string; seconds: number }>;
  /** Whole-machine busy and total jiffies from /proc/stat. */
  busy: number;
  total: number;
}

/** CPU time of every process on the machine, to see where the two cores went during a phase. */
export function cpuSnapshot(): CpuSnapshot {
  const byPid = new Map<number, { comm: string; seconds: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      // fields[0] is state (field 3); utime is field 14, stime field 15.
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      byPid.set(Number(entry), { comm, seconds });
    } catch {
      // the process ended meanwhile
    }
  }
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = cpu[3] + (cpu[4] ?? 0);
  const total = cpu.reduce((a, b) => a + b, 0);
  return { at: Date.now(), byPid, busy: total - idle, total };
}

/**
 * Samples every process's CPU time while running, so processes that start and end within the
 * window (test runners, compilers) are still counted: a before/after pair alone would miss them.
 */
export class CpuTracker {
  private before: CpuSnapshot | null = null;
  private latest = new Map<number, { comm: string; seconds: number }>();
  private timer: NodeJS.Timeout | null = null;

  start(intervalMs = 500): this {
    this.before = cpuSnapshot();
    this.latest = new Map(this.before.byPid);
    this.timer = setInterval(() => this.sample(), intervalMs);
    return this;
  }

  private sample(): CpuSnapshot {
    const now = cpuSnapshot();
    for (const [pid, value] of now.byPid) this.latest.set(pid, value);
    return now;
  }

  /** Snapshots for cpuBreakdown: the first, and the last seen value of every process seen. */
  stop(): [CpuSnapshot, CpuSnapshot] {
    if (this.timer) clearInterval(this.timer);
    const last = this.sample();
    const before = this.before ?? last;
    return [before, { ...last, byPid: new Map(this.latest) }];
  }
}

/**
 * CPU used between two snapshots, in cores (CPU seconds per second), grouped by `label(pid, comm)`.
 */
export function cpuBreakdown(
  before: CpuSnapshot,
  after: CpuSnapshot,
  label: (pid: number, comm: string) => string,
): { cores: Record<string, number>; machineBusyPercent: number } {
  const seconds = (after.at - before.at) / 1000;
  const cores: Record<string, number> = {};
  for (const [pid, now] of after.byPid) {
    const was = before.byPid.get(pid)?.seconds ?? 0;
    const used = now.seconds - was;
    if (used <= 0) continue;
    const key = label(pid, now.comm);
    cores[key] = (cores[key] ?? 0) + used / seconds;
  }
  const machineBusyPercent = round(
    (100 * (after.busy - before.busy)) / Math.max(1, after.total - before.total),
    1,
  );
  const attributed = Object.values(cores).reduce((a, b) => a + b, 0);
  const unattributed = (machineBusyPercent / 100) * cpus().length - attributed;
  if (unattributed > 0.01) cores['unattributed (kernel, exited processes)'] = unattributed;
  for (const key of Object.keys(cores)) cores[key] = round(cores[key], 2);
  return { cores, machineBusyPercent };
}

/**
 * Runs `loops` concurrent copies of `step` until `seconds` have passed, with every process's CPU
 * tracked meanwhile: the measured window of the raw insert and bare loop phases.
 */
export async function timedLoops(
  options: { loops: number; seconds: number },
  step: () => Promise<void>,
  labeler: () => Promise<(pid: number, comm: string) => string>,
): Promise<{ seconds: number; cpu: ReturnType<typeof cpuBreakdown> }> {
  const tracker = new CpuTracker().start();
  const started = Date.now();
  const end = started + options.seconds * 1000;
  await Promise.all(
    Array.from({ length: options.loops }, async () => {
      while (Date.now() < end) await step();
    }),
  );
  const seconds = (Date.now() - started) / 1000;
  return { seconds, cpu: cpuBreakdown(...tracker.stop(), await labeler()) };
}

/** Runs a bench's main and exits with its code (1 on an error), whatever handles are left open. */
export function runBenchMain(main: () => Promise<number | void>): void {
  main().then(
    (code) => process.exit(code ?? 0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
