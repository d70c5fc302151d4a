// Run-time configuration served by the `web` component at /config.json (from Spin variables).

import { defaultBridgeUrl } from "./bridge";

export interface Config {
  bridgeUrl: string;
}

let cached: Promise<Config> | null = null;

export function config(): Promise<Config> {
  cached ??= (async () => {
    try {
      const resp = await fetch("/config.json", { cache: "no-store" });
      if (resp.ok) {
        const body = (await resp.json()) as { bridgeUrl?: string | null };
        if (body.bridgeUrl) return { bridgeUrl: body.bridgeUrl };
      }
    } catch {
      // fall through to the default
    }
    return { bridgeUrl: defaultBridgeUrl() };
  })();
  return cached;
}
