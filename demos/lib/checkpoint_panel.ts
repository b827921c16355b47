import { MAX_CHECKPOINT_FILE_BYTES } from '../../src/index.js';
import { el, field, messageOf } from './shell.js';
import { download, loadBytes, saveBytes } from './storage.js';

/** The weights of the run of the moment, which lives in the training worker. */
export interface CheckpointTarget {
  steps: number;
  checkpoint(metadata: Record<string, string>): Promise<Uint8Array>;
  /** Rejects, naming the mismatched tensors, if the checkpoint does not fit the model. */
  load(bytes: Uint8Array): Promise<void>;
}

/** What the panel needs from its page: the run of the moment and how to name its weights. */
export interface CheckpointSource {
  /** The current run and its step count, or undefined while none is built. */
  current(): CheckpointTarget | undefined;
  /** Identifies the architecture: IndexedDB key and checkpoint metadata (e.g. "mlp:256,128"). */
  key(): string;
  /** Download file name without extension, for weights after `steps` steps. */
  fileName(steps: number): string;
  /** Runs after weights were loaded (e.g. re-evaluates). */
  afterLoad(): Promise<void>;
}

/**
 * The "Weights" card: download and upload safetensors, or keep them in this browser's IndexedDB.
 * A checkpoint that does not fit the model is refused with the worker trainer's message listing the
 * mismatched tensors; `#checkpoint-status[data-loaded]` counts successful loads (for the tests).
 */
export function checkpointPanel(source: CheckpointSource, onFailure: (e: unknown) => void): HTMLElement {
  const saveBtn = el('button', { id: 'save-file', type: 'button' }, 'Download weights (.safetensors)');
  const loadInput = el('input', { id: 'load-file', type: 'file', accept: '.safetensors,application/octet-stream' });
  const saveIdb = el('button', { id: 'save-idb', type: 'button' }, 'Save in this browser');
  const loadIdb = el('button', { id: 'load-idb', type: 'button' }, 'Load from this browser');
  const note = el('p', { id: 'checkpoint-status', class: 'note' });

  saveBtn.addEventListener('click', async () => {
    const now = source.current();
    if (!now) return;
    download(await now.checkpoint({ model: source.key(), steps: String(now.steps) }), `${source.fileName(now.steps)}.safetensors`);
    note.textContent = `Downloaded the weights after ${now.steps} steps.`;
  });
  const restore = async (bytes: Uint8Array, from: string) => {
    const now = source.current();
    if (!now) return;
    try {
      await now.load(bytes);
    } catch (e) {
      note.textContent = `Could not load ${from}: ${messageOf(e)}`;
      return;
    }
    note.textContent = `Loaded the weights from ${from}.`;
    await source.afterLoad();
    note.dataset.loaded = String(Number(note.dataset.loaded ?? 0) + 1);
  };
  loadInput.addEventListener('change', async () => {
    const file = loadInput.files?.[0];
    // The size is known before reading: an oversized file is refused without loading it into memory.
    if (file && file.size > MAX_CHECKPOINT_FILE_BYTES) {
      note.textContent = `Could not load ${file.name}: ${file.size} bytes is over the ${MAX_CHECKPOINT_FILE_BYTES}-byte checkpoint limit (MAX_CHECKPOINT_FILE_BYTES).`;
    } else if (file) await restore(new Uint8Array(await file.arrayBuffer()), file.name).catch(onFailure);
    loadInput.value = '';
  });
  saveIdb.addEventListener('click', async () => {
    const now = source.current();
    if (!now) return;
    await saveBytes(source.key(), await now.checkpoint({ model: source.key() }));
    note.textContent = `Saved in this browser as ${source.key()}.`;
  });
  loadIdb.addEventListener('click', async () => {
    const bytes = await loadBytes(source.key());
    if (!bytes) note.textContent = `Nothing saved in this browser for ${source.key()}.`;
    else await restore(bytes, 'this browser').catch(onFailure);
  });

  return el('section', { class: 'card' }, el('h2', {}, 'Weights'), el('div', { class: 'buttons' }, saveBtn, field('Load .safetensors', loadInput), saveIdb, loadIdb), note);
}
