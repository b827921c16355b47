import type { Browser, Page } from 'playwright';
import type { InlineConfig, ViteDevServer } from 'vite';

export declare const CHROMIUM_PATH: string;
export declare const BASE_ARGS: string[];
export declare const WEBGPU_ARGS: string[];

export declare function launchChromium(options?: { webgpu?: boolean; args?: string[] }): Promise<Browser>;

export interface ViteHandle {
  server: ViteDevServer;
  /** e.g. http://localhost:41234/ */
  url: string;
  port: string;
  close(): Promise<void>;
}

export declare function startVite(config?: InlineConfig): Promise<ViteHandle>;

export declare function watchErrors(page: Page, onError?: (text: string) => void): string[];
