// The Tripo simulator's state: its config, the tasks, uploads and output files it holds, its
// counters, request log and faults, and what a reset puts back; the checks on config it is given.
import { type ConvertFormat, DEFAULT_MODEL_SIZE } from "../formats/layout.ts";
import { FaultEngine, RequestLog, type SimFault } from "../mod.ts";

export type TripoOutcome =
  | "success"
  | "failed"
  | "banned"
  | "expired"
  | "cancelled"
  | "unknown"
  | "stuck";

export interface TripoSimConfig {
  queueMs: number;
  runMs: number;
  cap: number;
  outputTtlSec: number;
  glbSize: number;
  /** Bytes of convert_model outputs (about; each format has a small minimum). */
  convertSize: number;
  retryAfterSec: number;
  stuck: boolean;
  refineVersionCheck: boolean;
  faults: SimFault[];
  nextOutcomes: TripoOutcome[];
}

export interface TripoSimOptions {
  publicUrl: string;
  fetchInput?: typeof fetch;
  config?: Partial<TripoSimConfig>;
}

export const DEFAULTS: Omit<TripoSimConfig, "faults" | "nextOutcomes"> = {
  queueMs: 400,
  runMs: 1600,
  cap: 10,
  outputTtlSec: 300,
  glbSize: 64 * 1024,
  convertSize: DEFAULT_MODEL_SIZE,
  retryAfterSec: 5,
  stuck: false,
  refineVersionCheck: false,
};

export const MAX_GLB = 200 * 1024 * 1024;
export const OUTCOMES: TripoOutcome[] = [
  "success",
  "failed",
  "banned",
  "expired",
  "cancelled",
  "unknown",
  "stuck",
];

export interface SimTask {
  id: string;
  keyId: string;
  type: string;
  input: Record<string, unknown>;
  createdMs: number;
  queueMs: number;
  runMs: number;
  outcome: TripoOutcome;
  glbSize: number;
  finishedAtMs?: number;
  modelVersion: string;
  /** Texts its markers came from (a convert keeps its original's, for `convert-` markers). */
  markerTexts: string[];
  /** convert_model: the output format and its size. */
  format?: ConvertFormat;
  outSize: number;
}

export interface Upload {
  keyId: string;
  kind: string;
  size: number;
  filename: string;
}

export interface OutFile {
  taskId: string;
  kind: "glb" | "png" | ConvertFormat;
  expiresMs: number;
  size: number;
}

const newStats = () => ({ taskPosts: 0, tasksCreated: 0, uploads: 0, taskGets: 0, downloads: 0 });

export interface TripoState {
  readonly publicUrl: string;
  readonly fetchInput: typeof fetch;
  /** What a reset puts the config back to. */
  readonly initial: Omit<TripoSimConfig, "faults" | "nextOutcomes">;
  config: TripoSimConfig;
  readonly faults: FaultEngine;
  readonly log: RequestLog;
  tasks: Map<string, SimTask>;
  uploads: Map<string, Upload>;
  files: Map<string, OutFile>;
  stats: ReturnType<typeof newStats>;
}

export function createTripoState(opts: TripoSimOptions): TripoState {
  const initial = { ...DEFAULTS, ...opts.config };
  return {
    publicUrl: opts.publicUrl.replace(/\/+$/, ""),
    fetchInput: opts.fetchInput ?? fetch,
    initial,
    config: { ...initial, faults: [], nextOutcomes: [] },
    faults: new FaultEngine(),
    log: new RequestLog(),
    tasks: new Map(),
    uploads: new Map(),
    files: new Map(),
    stats: newStats(),
  };
}

export function resetTripoState(s: TripoState): void {
  s.config = { ...s.initial, faults: [], nextOutcomes: [] };
  s.faults.set([]);
  s.log.clear();
  s.tasks = new Map();
  s.uploads = new Map();
  s.files = new Map();
  s.stats = newStats();
}

export function checkOutcomes(list: unknown[]) {
  for (const o of list) {
    if (!OUTCOMES.includes(o as TripoOutcome)) {
      throw new Error(`outcome must be one of ${OUTCOMES.join("|")}, not ${o}`);
    }
  }
}

export function checkFaults(list: SimFault[]) {
  for (const f of list) {
    if (f?.kind === "outcome" && f.outcome !== undefined) checkOutcomes([f.outcome]);
  }
}
