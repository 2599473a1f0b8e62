import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { Settings } from '../config/settings.js';

/** The owner of everything when the service runs without API keys. */
export const LOCAL_OWNER = 'local';

export interface Caller {
  owner: string;
  /** Names the key without revealing it (a digest prefix), for rate limiting. */
  keyId: string;
}

interface ConfiguredKey {
  digest: Buffer;
  caller: Caller;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The API keys of `API_KEYS=key:owner,…`. Only SHA-256 digests are kept, and a presented key is
 * compared with every one of them with `timingSafeEqual`: digests have one length whatever the
 * key's, and no comparison stops early, so timing tells nothing about the keys.
 */
@Injectable()
export class ApiKeys implements OnApplicationBootstrap {
  private readonly logger = new Logger(ApiKeys.name);
  private readonly keys: ConfiguredKey[];

  constructor(settings: Settings) {
    this.keys = ApiKeys.parse(settings.API_KEYS);
  }

  /** No keys configured: every request is served, as owner `local`. */
  get open(): boolean {
    return this.keys.length === 0;
  }

  onApplicationBootstrap(): void {
    if (this.open) {
      this.logger.warn(
        `API_KEYS is not set: the service is OPEN to anyone who can reach it and every request acts as owner "${LOCAL_OWNER}". ` +
          'Set API_KEYS=key:owner,… to require keys (NODE_ENV=production refuses to start without them).',
      );
    } else {
      const owners = new Set(this.keys.map((k) => k.caller.owner));
      this.logger.log(`API keys required: ${this.keys.length} key(s) for ${owners.size} owner(s)`);
    }
  }

  /** The caller a `Bearer` Authorization header names, or undefined for a missing or unknown key. */
  authenticate(authorization: string | undefined): Caller | undefined {
    const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '')?.[1];
    if (!presented) return undefined;
    const digest = sha256(presented);
    let found: Caller | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, digest)) found = key.caller;
    }
    return found;
  }

  /** `key:owner,…`, already validated by `loadSettings` (well-formed, no repeated key). */
  private static parse(setting: string | undefined): ConfiguredKey[] {
    if (!setting) return [];
    return setting.split(',').map((pair) => {
      const [key, owner] = pair.split(':');
      const digest = sha256(key);
      return { digest, caller: { owner, keyId: digest.toString('hex').slice(0, 16) } };
    });
  }
}
