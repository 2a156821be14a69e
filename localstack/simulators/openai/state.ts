// The OpenAI simulator's state: its config, counters, request log and faults, and what a reset
// puts back.
import { FaultEngine, RequestLog, type SimFault } from "../mod.ts";

export interface OpenAISimConfig {
  imageSide: number;
  retryAfterSec: number;
  latencyMs: number;
  faults: SimFault[];
}

export interface OpenAISimOptions {
  publicUrl: string;
  fetchInput?: typeof fetch;
  config?: Partial<OpenAISimConfig>;
}

export const DEFAULTS = { imageSide: 64, retryAfterSec: 1, latencyMs: 0 };

const newStats = () => ({ edits: 0, succeeded: 0, generations: 0, generationsSucceeded: 0 });

type Settings = typeof DEFAULTS & Partial<OpenAISimConfig>;

export interface OpenAIState {
  /** What a reset puts the config back to. */
  readonly initial: Settings;
  config: Settings;
  readonly faults: FaultEngine;
  readonly log: RequestLog;
  stats: ReturnType<typeof newStats>;
  /** The generations' images as base64, by format, size and seed (kept across resets). */
  readonly imageCache: Map<string, string>;
}

export function createOpenAIState(opts: OpenAISimOptions): OpenAIState {
  const initial = { ...DEFAULTS, ...opts.config };
  return {
    initial,
    config: { ...initial },
    faults: new FaultEngine(),
    log: new RequestLog(),
    stats: newStats(),
    imageCache: new Map(),
  };
}

export function resetOpenAIState(s: OpenAIState): void {
  s.config = { ...s.initial };
  s.faults.set([]);
  s.log.clear();
  s.stats = newStats();
}
