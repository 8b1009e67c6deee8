// `npm run bench -- profile-small-files` (never part of a plain `npm run bench`): target (a) at
// small size (2,000 files of 4-64 KB, PROFILE_FILES=N for another count) backed up into the
// embedded vault under `node --cpu-prof`, then the top self-time functions of each profiled
// thread, and the same summed per source file: "the profile of what is left". The
// .cpuprofile files are kept (path printed) for Chrome DevTools or speedscope.
// Beside them (Linux): the CPU seconds of every program the run started (node, exiftool's
// perl, ...) from /proc, and when the files were found, verified and the run ended (from
// the client's database): where the wall time went, not only the main thread's.
//
// Self time: a .cpuprofile holds a call tree (nodes) and a list of samples (the node that was
// on top of the stack) with the time since the previous sample; a function's self time is the
// sum of the deltas of the samples that landed in it.
import { readFileSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import type { BenchCase } from '../harness.js';
import { describeKeepsake, ensureCompiled, keepsakeBackup } from '../baselines.js';
import { generateSmallFiles } from '../trees.js';
import { repoRoot } from '../../support/paths.js';

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  ms: number;
}

function shortUrl(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  if (path === '') return '';
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + 1);
  const rel = relative(repoRoot, path);
  return rel.startsWith('..') ? path : rel;
}

/** Self time per function (name + file:line) and per file, in ms, biggest first. */
export function selfTimes(profile: CpuProfile): {
  totalMs: number;
  byFunction: SelfTime[];
  byFile: SelfTime[];
} {
  const byNode = new Map<number, number>();
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    byNode.set(id, (byNode.get(id) ?? 0) + ms);
  });
  const fns = new Map<string, SelfTime>();
  const files = new Map<string, SelfTime>();
  for (const node of profile.nodes) {
    const ms = byNode.get(node.id);
    if (!ms) continue;
    const f = node.callFrame;
    const file = shortUrl(f.url);
    const where = file ? `${file}:${f.lineNumber + 1}` : '';
    const name = f.functionName || '(anonymous)';
    const key = `${name} ${where}`;
    const fn = fns.get(key) ?? { name, where, ms: 0 };
    fn.ms += ms;
    fns.set(key, fn);
    const fileKey = file || name; // (garbage collector), (program), (idle) stand for themselves
    const fe = files.get(fileKey) ?? { name: fileKey, where: '', ms: 0 };
    fe.ms += ms;
    files.set(fileKey, fe);
  }
  const sorted = (m: Map<string, SelfTime>) => [...m.values()].sort((a, b) => b.ms - a.ms);
  return { totalMs, byFunction: sorted(fns), byFile: sorted(files) };
}

/**
 * CPU seconds (user + sys) per program name of every process descending from this one,
 * sampled from /proc every `intervalMs` until stop() (a process's last < intervalMs after
 * its final sample is not seen). Empty where /proc is missing (not Linux).
 */
function sampleTreeCpu(intervalMs = 100): { stop(): Map<string, number> } {
  const ticks = 100; // USER_HZ on Linux
  const seen = new Map<number, { comm: string; cpu: number }>();
  const sample = () => {
    let pids: number[];
    try {
      pids = readdirSync('/proc')
        .filter((n) => /^\d+$/.test(n))
        .map(Number);
    } catch {
      return;
    }
    const stats = new Map<number, { ppid: number; comm: string; cpu: number }>();
    for (const pid of pids) {
      try {
        const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = text.lastIndexOf(')');
        const comm = text.slice(text.indexOf('(') + 1, close);
        const f = text.slice(close + 2).split(' ');
        // fields after the name: state ppid ... utime (12th) stime (13th)
        stats.set(pid, { ppid: Number(f[1]), comm, cpu: (Number(f[11]) + Number(f[12])) / ticks });
      } catch {
        // gone meanwhile
      }
    }
    const mine = (pid: number): boolean => {
      for (let p = stats.get(pid)?.ppid; p !== undefined && p > 1; p = stats.get(p)?.ppid) {
        if (p === process.pid) return true;
      }
      return false;
    };
    for (const [pid, st] of stats) if (mine(pid)) seen.set(pid, { comm: st.comm, cpu: st.cpu });
  };
  const timer = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      sample();
      const byComm = new Map<string, number>();
      for (const { comm, cpu } of seen.values()) byComm.set(comm, (byComm.get(comm) ?? 0) + cpu);
      return byComm;
    },
  };
}

/** Seconds after `startMs` when the files were found, verified, and last changed. */
function phases(dbPath: string, startMs: number): Record<string, number | null> {
  const db = new Database(dbPath, { readonly: true });
  try {
    const r = db
      .prepare(
        `SELECT min(created_at) AS foundFirst, max(created_at) AS foundLast,
                min(uploaded_at) AS verifiedFirst, max(uploaded_at) AS verifiedLast,
                max(updated_at) AS lastChange,
                sum(metadata_state = 'sent') AS metadataSent FROM files`,
      )
      .get() as Record<string, number | null>;
    const at = (ms: number | null) => (ms === null ? null : (ms - startMs) / 1000);
    return {
      foundFirst: at(r.foundFirst ?? null),
      foundLast: at(r.foundLast ?? null),
      verifiedFirst: at(r.verifiedFirst ?? null),
      verifiedLast: at(r.verifiedLast ?? null),
      lastChange: at(r.lastChange ?? null),
      metadataSent: r.metadataSent ?? null,
    };
  } finally {
    db.close();
  }
}

export const benchCase: BenchCase = {
  name: 'profile-small-files',
  description:
    'target (a) at small size into the embedded vault under node --cpu-prof: top self-time functions',
  manual: true,
  async run(ctx) {
    const count = Number(process.env.PROFILE_FILES) || 2_000;
    const top = Number(process.env.PROFILE_TOP) || 25;
    const root = join(ctx.workDir, 'tree');
    const tree = await generateSmallFiles(root, count);
    ctx.log(`tree: ${tree.files} files, ${(tree.bytes / 1e6).toFixed(0)} MB`);
    const profDir = join(ctx.workDir, 'profiles');
    await ensureCompiled(); // outside the timing and the CPU tally
    const startMs = Date.now();
    const cpu = sampleTreeCpu();
    let cpuByProgram: [string, number][] = [];
    let run: Awaited<ReturnType<typeof keepsakeBackup>>;
    try {
      run = await keepsakeBackup(root, join(ctx.workDir, 'data'), [], {}, [
        '--cpu-prof',
        `--cpu-prof-dir=${profDir}`,
      ]);
    } finally {
      cpuByProgram = [...cpu.stop()].sort((a, b) => b[1] - a[1]);
    }
    ctx.log(`keepsake backup under --cpu-prof: ${describeKeepsake(run)}`);
    const cpuTotal = cpuByProgram.reduce((n, [, s]) => n + s, 0);
    if (cpuTotal > 0) {
      ctx.log(
        `CPU by program (user+sys, s): ${cpuByProgram
          .map(([comm, s]) => `${comm} ${s.toFixed(2)} (${((100 * s) / cpuTotal).toFixed(0)} %)`)
          .join(', ')}; ${(cpuTotal / run.seconds).toFixed(2)} cores busy on average`,
      );
    }
    const when = phases(join(ctx.workDir, 'data', 'keepsake.db'), startMs);
    const s = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(2) : '?');
    ctx.log(
      `wall (s from spawn): files found ${s(when.foundFirst)}-${s(when.foundLast)}, verified ${s(when.verifiedFirst)}-${s(when.verifiedLast)}, last change ${s(when.lastChange)}, exit ${run.seconds.toFixed(2)} (${String(when.metadataSent)} files' metadata sent)`,
    );

    const names = (await readdir(profDir)).filter((n) => n.endsWith('.cpuprofile'));
    const profiles = [];
    for (const name of names) {
      const p = selfTimes(JSON.parse(await readFile(join(profDir, name), 'utf8')) as CpuProfile);
      profiles.push({ name, ...p });
    }
    profiles.sort((a, b) => b.totalMs - a.totalMs);
    const pct = (ms: number, total: number) => `${((100 * ms) / total).toFixed(1).padStart(5)} %`;
    for (const p of profiles) {
      const idle = p.byFunction.find((f) => f.name === '(idle)')?.ms ?? 0;
      ctx.log('');
      ctx.log(
        `${p.name}: ${(p.totalMs / 1000).toFixed(1)} s profiled, ${pct(p.totalMs - idle, p.totalMs)} busy`,
      );
      if (p.totalMs - idle < 0.05 * p.totalMs && profiles.length > 1) continue;
      ctx.log(`top ${top} functions by self time (% of the thread's profiled time):`);
      for (const f of p.byFunction.slice(0, top)) {
        ctx.log(
          `  ${pct(f.ms, p.totalMs)} ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.name}  ${f.where}`,
        );
      }
      ctx.log('top 15 source files by self time:');
      for (const f of p.byFile.slice(0, 15)) {
        ctx.log(`  ${pct(f.ms, p.totalMs)} ${(f.ms / 1000).toFixed(2).padStart(7)} s  ${f.name}`);
      }
    }
    const kept = await mkdtemp(join(tmpdir(), 'keepsake-profiles-'));
    await cp(profDir, kept, { recursive: true });
    ctx.log('');
    ctx.log(`profiles kept in ${kept} (open in Chrome DevTools > Performance, or speedscope)`);
    return {
      measurements: [],
      extra: {
        files: count,
        seconds: run.seconds,
        cpuByProgram: Object.fromEntries(cpuByProgram),
        phases: when,
        kept,
        profiles: profiles.map((p) => ({
          name: p.name,
          totalMs: p.totalMs,
          top: p.byFunction.slice(0, top),
          files: p.byFile.slice(0, 15),
        })),
      },
    };
  },
};
