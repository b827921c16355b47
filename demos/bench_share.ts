// The benchmark page's result as the visitor copies or shares it: a compact JSON object (no
// per-run timings), and a link that carries it in the URL fragment, so opening the link shows the
// same result without running anything (and the fragment never reaches a server).

export interface SharedWorkload {
  id: string;
  /** 'GFLOP/s', 'samples/s', 'iterations/s', or 's' for time to an accuracy. */
  unit: string;
  /** Ours and TF.js in `unit`; null when a side did not reach an accuracy target in its time. */
  ours: number | null;
  tfjs: number | null;
  /** How many times faster ours is (above 1: faster than TF.js). */
  ratio: number | null;
  batch?: number;
  /** Time-to-accuracy rows: the target and the test accuracy each side reached. */
  target?: number;
  oursAccuracy?: number;
  tfjsAccuracy?: number;
}

export interface SharedResult {
  adapter: { vendor: string; architecture: string; description: string; software: boolean; sameAdapter: boolean; userAgent: string; tfjsVersion: string };
  mode: 'quick' | 'full';
  /** ISO date and time of the run. */
  date: string;
  workloads: SharedWorkload[];
}

/** Four significant digits: what the page shows, and short enough for a link. */
export function rounded(v: number): number {
  return Number(v.toPrecision(4));
}

const FRAGMENT = 'result=';

function toBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text: string): Uint8Array {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

/** The link to `page` (this page's address) that shows `result`. */
export function shareLink(result: SharedResult, page: string): string {
  const url = new URL(page);
  url.hash = FRAGMENT + toBase64Url(new TextEncoder().encode(JSON.stringify(result)));
  return url.href;
}

const isNumberOrNull = (v: unknown) => v === null || (typeof v === 'number' && Number.isFinite(v));

/**
 * The result a link's fragment carries, or undefined when the fragment carries none. A fragment
 * that is not a result (cut short, edited) throws, naming what is wrong.
 */
export function resultFromFragment(hash: string): SharedResult | undefined {
  const fragment = hash.replace(/^#/, '');
  if (!fragment.startsWith(FRAGMENT)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromBase64Url(fragment.slice(FRAGMENT.length))));
  } catch (e) {
    throw new Error(`the link's result cannot be read (was it cut short?): ${(e as Error).message}`);
  }
  const r = parsed as Partial<SharedResult>;
  if (typeof r !== 'object' || r === null || typeof r.adapter !== 'object' || !Array.isArray(r.workloads)) {
    throw new Error("the link's result has no 'adapter' object or no 'workloads' list");
  }
  for (const w of r.workloads) {
    if (typeof w?.id !== 'string' || typeof w.unit !== 'string' || !isNumberOrNull(w.ours) || !isNumberOrNull(w.tfjs) || !isNumberOrNull(w.ratio)) {
      throw new Error(`the link's result has a malformed workload: ${JSON.stringify(w)}`);
    }
  }
  return r as SharedResult;
}
